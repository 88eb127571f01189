// Node lifecycle controller (kube-controller-manager's node lifecycle + taint eviction):
// - Health: a node's heartbeat is its Lease in kube-node-lease (spec.renewTime) or its Ready
//   condition's lastHeartbeatTime. When neither changed for the grace period, as observed on
//   this controller's own monotonic clock (clock skew does not matter), every condition becomes
//   Unknown ("Kubelet stopped posting node status.") and the node's pods lose Ready.
// - Taints: Ready=False → node.kubernetes.io/not-ready, Ready=Unknown → node.kubernetes.io/
//   unreachable, each as NoSchedule and NoExecute (with timeAdded); Ready=True removes them.
// - Eviction: pods on a node with NoExecute taints they do not tolerate are deleted at once;
//   pods tolerating them with tolerationSeconds (300 by default, added by the API server) are
//   deleted that long after the taint's timeAdded; tolerations without seconds keep the pod.
// Every node is re-checked each monitor period.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "control_plane/controllers/client.h"
#include "control_plane/controllers/controller.h"
#include "control_plane/controllers/event_recorder.h"
#include "control_plane/controllers/informer.h"

namespace skiff::control_plane::controllers {

struct NodeLifecycleOptions {
  std::chrono::milliseconds monitorPeriod{5000};
  std::chrono::milliseconds gracePeriod{40000};
};

class NodeLifecycleController final : public Controller {
 public:
  NodeLifecycleController(Client& client, Informer& nodes, Informer& leases, Informer& pods,
                          EventRecorder& events, const common::Clock& clock,
                          NodeLifecycleOptions opts);
  ~NodeLifecycleController() override;
  void registerHandlers() override;

 protected:
  common::Status reconcile(const std::string& key) override;

 private:
  struct Probe {
    std::string heartbeat;
    std::chrono::steady_clock::time_point observedAt;
  };
  // Marks the node's conditions Unknown when its heartbeat is stale; true if it wrote.
  common::Result<bool> updateHealth(const Json& node);
  common::Status syncTaints(const Json& node);
  common::Status markPodsNotReady(const std::string& node);
  common::Status evictPods(const Json& node);
  std::vector<ObjectPtr> podsOn(const std::string& node);

  Client& client_;
  Informer& nodes_;
  Informer& leases_;
  Informer& pods_;
  EventRecorder& events_;
  const common::Clock& clock_;
  NodeLifecycleOptions opts_;
  std::mutex mu_;
  std::map<std::string, Probe> probes_;
  std::map<std::string, std::set<std::string>> podsByNode_;  // node → pod keys
  std::map<std::string, std::string> nodeOfPod_;             // pod key → node
  std::jthread monitor_;
};

}  // namespace skiff::control_plane::controllers
