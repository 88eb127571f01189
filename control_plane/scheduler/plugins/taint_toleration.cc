// TaintToleration: NoSchedule/NoExecute taints must be tolerated; PreferNoSchedule taints that
// are not tolerated lower the score.
#include "control_plane/scheduler/plugins/plugins.h"

namespace skiff::control_plane::scheduler {

namespace {
bool tolerated(const PodInfo& pod, const Taint& t) {
  for (const auto& tol : pod.tolerations) {
    if (tol.tolerates(t)) return true;
  }
  return false;
}
}  // namespace

class TaintTolerationFilter final : public FilterPlugin {
 public:
  std::string name() const override { return "TaintToleration"; }
  FilterResult filter(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    for (const auto& t : node.taints) {
      if (t.effect != "NoSchedule" && t.effect != "NoExecute") continue;
      if (!tolerated(pod, t))
        return {"node(s) had untolerated taint {" + t.key + ": " + t.value + "}"};
    }
    return {};
  }
};

class TaintTolerationScore final : public ScorePlugin {
 public:
  std::string name() const override { return "TaintToleration"; }
  int weight() const override { return 3; }
  int score(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    int bad = 0;
    for (const auto& t : node.taints) {
      if (t.effect == "PreferNoSchedule" && !tolerated(pod, t)) ++bad;
    }
    return std::max(0, 100 - bad * 50);
  }
};

std::unique_ptr<FilterPlugin> newTaintTolerationFilter() {
  return std::make_unique<TaintTolerationFilter>();
}
std::unique_ptr<ScorePlugin> newTaintTolerationScore() {
  return std::make_unique<TaintTolerationScore>();
}

}  // namespace skiff::control_plane::scheduler
