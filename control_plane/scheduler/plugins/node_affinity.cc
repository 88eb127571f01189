// NodeAffinity: nodeSelector and required node affinity filter; preferred terms score by weight.
#include "control_plane/scheduler/plugins/plugins.h"

namespace skiff::control_plane::scheduler {

class NodeAffinityFilter final : public FilterPlugin {
 public:
  std::string name() const override { return "NodeAffinity"; }
  FilterResult filter(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    for (const auto& [k, v] : pod.nodeSelector) {
      if (isDeviceRequirementOnFleetNode(k, node)) continue;
      auto it = node.labels.find(k);
      if (it == node.labels.end() || it->second != v) {
        return {"node(s) didn't match Pod's node affinity/selector"};
      }
    }
    if (!pod.requiredAffinity.is_null() && !nodeMatchesSelectorTerms(pod.requiredAffinity, node)) {
      return {"node(s) didn't match Pod's node affinity/selector"};
    }
    return {};
  }
};

class NodeAffinityScore final : public ScorePlugin {
 public:
  std::string name() const override { return "NodeAffinity"; }
  int weight() const override { return 2; }
  int score(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    if (!pod.preferredAffinity.is_array() || pod.preferredAffinity.empty()) return 0;
    long long total = 0;
    long long matched = 0;
    for (const auto& p : pod.preferredAffinity) {
      long long w = p.value("weight", 0LL);
      total += w;
      if (p.contains("preference") && nodeMatchesSelectorTerm(p["preference"], node)) matched += w;
    }
    return total > 0 ? static_cast<int>(matched * 100 / total) : 0;
  }
};

std::unique_ptr<FilterPlugin> newNodeAffinityFilter() {
  return std::make_unique<NodeAffinityFilter>();
}
std::unique_ptr<ScorePlugin> newNodeAffinityScore() {
  return std::make_unique<NodeAffinityScore>();
}

}  // namespace skiff::control_plane::scheduler
