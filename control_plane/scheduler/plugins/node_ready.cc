// NodeReady: nodes whose Ready condition is not True take no new pods (Kubernetes expresses this
// with the not-ready taint; Skiff also checks the condition so a node without taints is covered).
#include "control_plane/scheduler/plugins/plugins.h"

namespace skiff::control_plane::scheduler {

class NodeReadyPlugin final : public FilterPlugin {
 public:
  std::string name() const override { return "NodeReady"; }
  FilterResult filter(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    if (node.ready) return {};
    Taint t{"node.kubernetes.io/not-ready", "", "NoSchedule"};
    for (const auto& tol : pod.tolerations) {
      if (tol.tolerates(t)) return {};
    }
    return {"node(s) were not ready"};
  }
};

std::unique_ptr<FilterPlugin> newNodeReadyPlugin() { return std::make_unique<NodeReadyPlugin>(); }

}  // namespace skiff::control_plane::scheduler
