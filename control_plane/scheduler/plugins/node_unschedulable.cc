// NodeUnschedulable: cordoned nodes take no new pods unless the pod tolerates
// node.kubernetes.io/unschedulable:NoSchedule.
#include "control_plane/scheduler/plugins/plugins.h"

namespace skiff::control_plane::scheduler {

class NodeUnschedulablePlugin final : public FilterPlugin {
 public:
  std::string name() const override { return "NodeUnschedulable"; }
  FilterResult filter(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    if (!node.unschedulable) return {};
    Taint t{"node.kubernetes.io/unschedulable", "", "NoSchedule"};
    for (const auto& tol : pod.tolerations) {
      if (tol.tolerates(t)) return {};
    }
    return {"node(s) were unschedulable"};
  }
};

std::unique_ptr<FilterPlugin> newNodeUnschedulablePlugin() {
  return std::make_unique<NodeUnschedulablePlugin>();
}

}  // namespace skiff::control_plane::scheduler
