// VirtualNode wiring.
#include "virtual_node/virtual_node.h"

#include "common/log.h"

namespace skiff::virtual_node {

common::Result<std::unique_ptr<VirtualNode>> VirtualNode::start(kube::KubeClient& client,
                                                                ProviderSet providers,
                                                                VirtualNodeConfig config,
                                                                const common::Clock& clock) {
  if (!providers.pods || !providers.notifier || !providers.nodes || !providers.logs) {
    return common::invalidArgument("VirtualNode: every provider interface is required");
  }
  std::unique_ptr<VirtualNode> vn(new VirtualNode());
  if (!config.kubelet.metrics) config.kubelet.metrics = std::make_shared<prometheus::Registry>();
  vn->metrics_ = std::make_unique<VirtualNodeMetrics>(config.kubelet.metrics);

  // The pod controller exists before the endpoint so log requests can look pods up; it starts
  // only once the nodes are known.
  auto* self = vn.get();
  if (config.pod.fieldSelector.empty()) {
    config.pod.fieldSelector =
        config.singleNode ? "spec.nodeName=" + config.name : std::string("spec.nodeName!=");
  }
  vn->podController_ = std::make_unique<PodController>(
      client, *providers.pods, *providers.notifier,
      [self](const std::string& node) { return self->nodeController_->ownsNode(node); }, config.pod,
      vn->metrics_.get());

  auto* pods = vn->podController_.get();
  SKIFF_ASSIGN_OR_RETURN(vn->kubelet_,
                         KubeletServer::start(config.kubelet, *providers.logs,
                                              [pods](const std::string& ns, const std::string& n) {
                                                return pods->boundPod(ns, n);
                                              }));
  config.node.owner = config.name;
  config.node.kubeletAddress = config.kubeletAdvertiseAddress;
  config.node.kubeletPort = vn->kubelet_->port();
  vn->nodeController_ =
      std::make_unique<NodeController>(client, *providers.nodes, clock, config.node);
  vn->nodeController_->setNodeRemovedHook(
      [pods](const std::string& node) { pods->onNodeRemoved(node); });
  auto* nodes = vn->nodeController_.get();
  providers.nodes->notifyNodes([nodes] { nodes->poke(); });
  vn->nodeController_->start();
  vn->starter_ = std::jthread([self](std::stop_token st) {
    while (!st.stop_requested()) {
      if (self->nodeController_->waitForRegistration(std::chrono::milliseconds(200))) {
        self->podController_->start();
        self->podsStarted_ = true;
        common::log::info("nodes registered, pod sync started",
                          {{"nodes", self->nodeController_->nodeNames().size()}});
        return;
      }
    }
  });
  common::log::info("kubelet endpoint listening",
                    {{"address", config.kubeletAdvertiseAddress}, {"port", vn->kubelet_->port()}});
  return vn;
}

VirtualNode::~VirtualNode() { stop(); }

bool VirtualNode::waitReady(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!podsStarted_) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return podController_->waitForSync(std::max(left, std::chrono::milliseconds(0)));
}

void VirtualNode::stop() {
  if (starter_.joinable()) {
    starter_.request_stop();
    starter_.join();
  }
  if (podController_) podController_->stop();
  if (nodeController_) nodeController_->stop();
  if (kubelet_) kubelet_->stop();
}

}  // namespace skiff::virtual_node
