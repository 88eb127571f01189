// PodTopologySpread: DoNotSchedule constraints filter nodes whose domain would exceed maxSkew;
// constraints score emptier domains higher. Pods without constraints get kube-scheduler's
// default spreading over hostnames among the pods of the same workload (PodInfo::group).
#include <algorithm>
#include <limits>

#include "control_plane/scheduler/plugins/plugins.h"

namespace skiff::control_plane::scheduler {

class PodTopologySpreadFilter final : public FilterPlugin {
 public:
  std::string name() const override { return "PodTopologySpread"; }
  FilterResult filter(const CycleState& st, const PodInfo& pod,
                      const NodeInfo& node) const override {
    for (std::size_t i = 0; i < pod.spread.size(); ++i) {
      const auto& c = pod.spread[i];
      if (!c.doNotSchedule) continue;
      auto it = node.labels.find(c.topologyKey);
      if (it == node.labels.end()) {
        return {"node(s) didn't match pod topology spread constraints (missing required label)"};
      }
      const auto& counts = st.spreadCounts[i];
      int minCount = counts.empty() ? 0 : std::numeric_limits<int>::max();
      for (const auto& [d, n] : counts) minCount = std::min(minCount, n);
      auto mine = counts.find(it->second);
      int here = mine == counts.end() ? 0 : mine->second;
      int self = c.selector.matches(pod.labels) ? 1 : 0;
      if (here + self - minCount > c.maxSkew) {
        return {"node(s) didn't match pod topology spread constraints"};
      }
    }
    return {};
  }
};

class PodTopologySpreadScore final : public ScorePlugin {
 public:
  std::string name() const override { return "PodTopologySpread"; }
  int weight() const override { return 2; }
  // Raw score: minus the matching pods in this node's domains (normalized afterwards).
  int score(const CycleState& st, const PodInfo& pod, const NodeInfo& node) const override {
    if (pod.spread.empty()) {
      auto g = node.groupCounts.find(pod.group);
      return g == node.groupCounts.end() ? 0 : -g->second;
    }
    int total = 0;
    for (std::size_t i = 0; i < pod.spread.size(); ++i) {
      auto it = node.labels.find(pod.spread[i].topologyKey);
      if (it == node.labels.end()) continue;
      auto c = st.spreadCounts[i].find(it->second);
      if (c != st.spreadCounts[i].end()) total -= c->second;
    }
    return total;
  }
  void normalize(std::vector<int>& scores) const override {
    if (scores.empty()) return;
    auto [lo, hi] = std::minmax_element(scores.begin(), scores.end());
    int min = *lo;
    int max = *hi;
    for (int& s : scores) s = max == min ? 100 : (s - min) * 100 / (max - min);
  }
};

std::unique_ptr<FilterPlugin> newPodTopologySpreadFilter() {
  return std::make_unique<PodTopologySpreadFilter>();
}
std::unique_ptr<ScorePlugin> newPodTopologySpreadScore() {
  return std::make_unique<PodTopologySpreadScore>();
}

}  // namespace skiff::control_plane::scheduler
