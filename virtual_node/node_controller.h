// NodeController: keeps the Nodes the provider backs registered and alive, as a kubelet does for
// its node. For every node in NodeProvider::nodes() it
// - registers the Node (labels, the provider's taints, kubelet endpoint) or adopts an existing
//   one, and keeps the labels it manages in sync (removing those it set earlier and no longer
//   wants, never touching others' labels or taints);
// - writes status (capacity, allocatable, conditions, addresses incl. its own InternalIP,
//   daemonEndpoints.kubeletEndpoint.Port, nodeInfo) when it changes, and at least every
//   statusReportInterval as a heartbeat;
// - renews the node's Lease in kube-node-lease (leaseDuration, every leaseRenewInterval);
// and deletes the Nodes (and Leases) it registered that the provider no longer backs (a device
// removed from the hub), after the node-removed hook has dealt with their pods.
// Every node it registers carries the label skiff.io/virtual-node=<owner>, which is how a
// restarted virtual node finds its nodes again. One background thread; woken by the provider's
// node notifications and once a second.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "virtual_node/kube/client.h"
#include "virtual_node/provider.h"

namespace skiff::virtual_node {

inline constexpr std::string_view kOwnerLabel = "skiff.io/virtual-node";
inline constexpr std::string_view kManagedLabelsAnnotation = "skiff.io/managed-labels";

struct NodeControllerOptions {
  std::string owner;  // the virtual node's name (--node-name), value of skiff.io/virtual-node
  std::chrono::milliseconds leaseDuration{40000};
  std::chrono::milliseconds leaseRenewInterval{10000};
  std::chrono::milliseconds statusReportInterval{60000};
  std::string kubeletAddress;  // advertised InternalIP
  int kubeletPort = 0;
  std::string kubeletVersion = "v1.32.0-skiff";
};

class NodeController {
 public:
  NodeController(kube::KubeClient& client, NodeProvider& provider, const common::Clock& clock,
                 NodeControllerOptions options);
  ~NodeController();

  // Called (on the controller's thread, may block) before a Node this virtual node registered
  // is deleted because the provider stopped backing it. Set before start().
  void setNodeRemovedHook(std::function<void(const std::string& node)> hook);
  void start();
  void stop();
  // Wakes the loop now (provider notification).
  void poke();

  // True for nodes the provider currently backs (pods bound to them are this node's).
  bool ownsNode(const std::string& name) const;
  std::set<std::string> nodeNames() const;
  // True once every node of the first provider answer is registered with a Lease.
  bool waitForRegistration(std::chrono::milliseconds timeout) const;

  std::uint64_t leaseRenewals() const { return leaseRenewals_.load(); }
  std::uint64_t statusUpdates() const { return statusUpdates_.load(); }

 private:
  struct NodeState {
    bool registered = false;
    std::string uid;
    std::map<std::string, std::string> labels;  // last labels written
    Json lastStatus;                            // last status written, without heartbeat times
    std::map<std::string, std::string> transitionTimes;  // condition type → lastTransitionTime
    std::map<std::string, std::string> conditionStatus;  // condition type → status
    std::chrono::steady_clock::time_point lastStatusAt{};
    std::chrono::steady_clock::time_point lastLeaseAt{};
    Json lease;  // as last written (saves a GET per renewal); null = read it first
  };

  void run(std::stop_token st);
  void syncOnce();
  common::Status ensureRegistered(const VirtualNodeSpec& spec, NodeState& st);
  common::Status syncStatus(const VirtualNodeSpec& spec, NodeState& st, bool force);
  common::Status renewLease(const VirtualNodeSpec& spec, NodeState& st);
  common::Status removeNode(const std::string& name);
  common::Status loadOwnedNodes();
  Json statusFor(const VirtualNodeSpec& spec, NodeState& st) const;

  kube::KubeClient& client_;
  NodeProvider& provider_;
  const common::Clock& clock_;
  NodeControllerOptions opts_;
  std::function<void(const std::string&)> removedHook_;

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  bool poked_ = false;
  std::set<std::string> current_;  // names from the provider's last answer
  bool registeredOnce_ = false;
  mutable std::condition_variable registeredCv_;

  // Loop thread only.
  std::map<std::string, NodeState> states_;
  std::set<std::string> owned_;  // nodes carrying our owner label on the API
  bool ownedLoaded_ = false;
  std::chrono::steady_clock::time_point ownedLoadedAt_{};

  std::atomic<std::uint64_t> leaseRenewals_{0};
  std::atomic<std::uint64_t> statusUpdates_{0};
  std::jthread thread_;
};

}  // namespace skiff::virtual_node
