// VirtualNode: the running virtual-kubelet — kubelet endpoint, node controller (Nodes, status,
// Leases) and pod controller (pod sync, status, graceful deletion) over one KubeClient and one
// provider. start() returns once the endpoint listens; the pod controller begins after the
// provider answered with its nodes and they are registered, so no pod is judged before the
// virtual node knows which nodes are its own.
#pragma once

#include <memory>
#include <stop_token>
#include <thread>

#include "common/clock.h"
#include "virtual_node/kube/client.h"
#include "virtual_node/kubelet_server.h"
#include "virtual_node/metrics.h"
#include "virtual_node/node_controller.h"
#include "virtual_node/pod_controller.h"
#include "virtual_node/provider.h"

namespace skiff::virtual_node {

struct ProviderSet {
  PodLifecycleHandler* pods = nullptr;
  PodNotifier* notifier = nullptr;
  NodeProvider* nodes = nullptr;
  ContainerLogProvider* logs = nullptr;
  // Called by the provider through NodeProvider::notifyNodes; wired by start().
};

struct VirtualNodeConfig {
  std::string name;        // --node-name; the owner label of every node it registers
  bool singleNode = true;  // fleet mode: watch only pods bound to `name`
  NodeControllerOptions node;
  PodControllerOptions pod;
  KubeletServerOptions kubelet;
  std::string kubeletAdvertiseAddress;
};

class VirtualNode {
 public:
  static common::Result<std::unique_ptr<VirtualNode>> start(kube::KubeClient& client,
                                                            ProviderSet providers,
                                                            VirtualNodeConfig config,
                                                            const common::Clock& clock);
  ~VirtualNode();
  // True once the nodes are registered and the pod cache synced.
  bool waitReady(std::chrono::milliseconds timeout) const;
  std::uint16_t kubeletPort() const { return kubelet_ ? kubelet_->port() : 0; }
  NodeController& nodes() { return *nodeController_; }
  PodController& pods() { return *podController_; }
  VirtualNodeMetrics& metrics() { return *metrics_; }
  // Stops the pod controller, node controller and endpoint; idempotent. Nodes stay registered:
  // their Leases simply expire, as with a stopped kubelet.
  void stop();

 private:
  VirtualNode() = default;
  std::unique_ptr<VirtualNodeMetrics> metrics_;
  std::unique_ptr<KubeletServer> kubelet_;
  std::unique_ptr<NodeController> nodeController_;
  std::unique_ptr<PodController> podController_;
  std::jthread starter_;
  std::atomic<bool> podsStarted_{false};
};

}  // namespace skiff::virtual_node
