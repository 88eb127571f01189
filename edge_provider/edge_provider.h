// EdgeProvider: the virtual node's provider backed by the hub. Implements the provider seam
// (virtual_node/provider.h): pods become hub deployments (pod_mapping.h) applied over HubClient;
// status comes back from the hub's WatchDeployments stream (pod_status.h); nodes come from the
// fleet (fleet mode: one Node, capacity from GetFleetStatus, Ready from hub and broker health) or
// from WatchDevices (device mode: one Node per device, Ready from presence); logs stream through
// the hub's StreamLogs from one device.
//
// State is a cache of the hub (devices, this virtual node's deployments) plus the pods the
// virtual node handed over since it started; after a restart the deterministic deployment ids
// and the pod-spec-hash annotation let it adopt what the hub already runs instead of applying it
// again. Deleting a pod deletes its deployment; the deletion counts as complete once no online
// device reports a module of that deployment any more (offline devices drop the modules when
// they return: their retained desired state no longer has them).
//
// Threads: one per hub watch (reconnecting with backoff), one polling the fleet status.
// Interface methods are thread-safe; createPod/updatePod/deletePod/getContainerLogs block on the
// hub, the rest answer from the cache.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "edge_provider/hub_client.h"
#include "edge_provider/pod_mapping.h"
#include "virtual_node/provider.h"

namespace skiff::edge_provider {

// Pod annotation choosing the device `kubectl logs` reads in fleet mode.
inline constexpr std::string_view kLogsDeviceAnnotation = "skiff.io/logs-device";
inline constexpr std::string_view kProviderTaintKey = "virtual-kubelet.io/provider";

struct EdgeProviderOptions {
  std::string owner;  // the virtual node's name (--node-name)
  bool deviceMode = false;
  std::string deviceNodePrefix;
  int maxPods = 110;
  std::chrono::milliseconds fleetStatusInterval{10000};
  std::chrono::milliseconds watchMinBackoff{200};
  std::chrono::milliseconds watchMaxBackoff{10000};
};

class EdgeProvider final : public virtual_node::PodLifecycleHandler,
                           public virtual_node::PodNotifier,
                           public virtual_node::NodeProvider,
                           public virtual_node::ContainerLogProvider {
 public:
  EdgeProvider(HubClient& hub, virtual_node::ObjectReader& reader,
               virtual_node::EventRecorder& events, const common::Clock& clock,
               EdgeProviderOptions options);
  ~EdgeProvider() override;

  // Starts the hub watches and the fleet status poller. Register callbacks first.
  void start();
  void stop();
  // True once both watches delivered their first snapshot.
  bool waitForSync(std::chrono::milliseconds timeout) const;

  // PodLifecycleHandler
  common::Status createPod(const Json& pod) override;
  common::Status updatePod(const Json& pod) override;
  common::Status deletePod(const Json& pod) override;
  common::Result<Json> getPod(const std::string& ns, const std::string& name) override;
  common::Result<virtual_node::PodStatusReport> getPodStatus(const std::string& ns,
                                                             const std::string& name) override;
  common::Result<std::vector<Json>> getPods() override;
  // PodNotifier
  void notifyPods(std::function<void(const std::string&, const std::string&)> cb) override;
  // NodeProvider
  common::Result<std::vector<virtual_node::VirtualNodeSpec>> nodes() override;
  void notifyNodes(std::function<void()> cb) override;
  // ContainerLogProvider
  common::Status getContainerLogs(const std::string& ns, const std::string& pod,
                                  const std::string& container,
                                  const virtual_node::LogOptions& opts,
                                  const std::function<bool(std::string_view)>& write) override;

 private:
  struct PodEntry {
    Json pod;
    std::string deploymentId;
    std::string mappingHash;
    bool applied = false;           // the hub holds its deployment (applied or adopted)
    std::string mappingError;       // conversion failed: why
    std::string hubError;           // the last apply failed: why
    std::set<std::string> notices;  // device notices already recorded as Events
    std::string warnedHash;         // mapping hash whose unsupported-field warnings were recorded
  };
  struct Removal {
    std::string ns, name, uid;
    bool hubDeleted = false;
  };

  common::Status apply(const Json& pod);
  void watchDevicesLoop(std::stop_token st);
  void watchDeploymentsLoop(std::stop_token st);
  void fleetLoop(std::stop_token st);
  bool backoff(std::stop_token st, int& failures) const;
  // Completed removals (called with mu_ held); returns the pods to notify.
  std::vector<std::pair<std::string, std::string>> completeRemovalsLocked();
  bool deviceStillRunsLocked(const std::string& deploymentId) const;
  void firePods(const std::vector<std::pair<std::string, std::string>>& pods);
  void fireNodes();
  std::string podKeyOfDeployment(const hubpb::Deployment& d) const;
  std::optional<std::string> deviceIdOf(const Json& pod) const;  // device mode, mu_ held

  HubClient& hub_;
  virtual_node::ObjectReader& reader_;
  virtual_node::EventRecorder& events_;
  const common::Clock& clock_;
  EdgeProviderOptions opts_;

  std::function<void(const std::string&, const std::string&)> podCb_;
  std::function<void()> nodesCb_;

  mutable std::mutex mu_;
  mutable std::condition_variable syncedCv_;
  std::map<std::string, hubpb::Device> devices_;
  std::map<std::string, hubpb::Deployment> deployments_;  // this virtual node's, by id
  bool devicesSynced_ = false;
  bool deploymentsSynced_ = false;
  bool devicesStreamUp_ = false;
  bool deploymentsStreamUp_ = false;
  std::optional<hubpb::FleetStatus> fleet_;
  std::string fleetError_;
  std::map<std::string, PodEntry> pods_;     // "ns/name"
  std::map<std::string, Removal> removals_;  // by deployment id
  std::set<std::string> completed_;          // removals already confirmed (bounded)

  std::jthread devicesThread_;
  std::jthread deploymentsThread_;
  std::jthread fleetThread_;
};

}  // namespace skiff::edge_provider
