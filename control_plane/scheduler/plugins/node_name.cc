// NodeName: a pod that names its node fits only there.
#include "control_plane/scheduler/plugins/plugins.h"

namespace skiff::control_plane::scheduler {

class NodeNamePlugin final : public FilterPlugin {
 public:
  std::string name() const override { return "NodeName"; }
  FilterResult filter(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    if (pod.nodeName.empty() || pod.nodeName == node.name) return {};
    return {"node(s) didn't match the requested node name"};
  }
};

std::unique_ptr<FilterPlugin> newNodeNamePlugin() { return std::make_unique<NodeNamePlugin>(); }

}  // namespace skiff::control_plane::scheduler
