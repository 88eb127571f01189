// Plugin registry: name → factory, and the default profile (kube-scheduler's order).
#include <functional>
#include <map>

#include "control_plane/scheduler/plugins/plugins.h"

namespace skiff::control_plane::scheduler {

namespace {
const std::map<std::string, std::function<std::unique_ptr<FilterPlugin>()>>& filters() {
  static const std::map<std::string, std::function<std::unique_ptr<FilterPlugin>()>> kFilters = {
      {"NodeName", newNodeNamePlugin},
      {"NodeUnschedulable", newNodeUnschedulablePlugin},
      {"NodeReady", newNodeReadyPlugin},
      {"NodeAffinity", newNodeAffinityFilter},
      {"TaintToleration", newTaintTolerationFilter},
      {"NodeResourcesFit", newNodeResourcesFitFilter},
      {"PodTopologySpread", newPodTopologySpreadFilter},
  };
  return kFilters;
}
const std::map<std::string, std::function<std::unique_ptr<ScorePlugin>()>>& scores() {
  static const std::map<std::string, std::function<std::unique_ptr<ScorePlugin>()>> kScores = {
      {"NodeAffinity", newNodeAffinityScore},
      {"TaintToleration", newTaintTolerationScore},
      {"NodeResourcesLeastAllocated", newLeastAllocatedScore},
      {"NodeResourcesBalancedAllocation", newBalancedAllocationScore},
      {"PodTopologySpread", newPodTopologySpreadScore},
  };
  return kScores;
}
}  // namespace

std::unique_ptr<FilterPlugin> makeFilterPlugin(const std::string& name) {
  auto it = filters().find(name);
  return it == filters().end() ? nullptr : it->second();
}

std::unique_ptr<ScorePlugin> makeScorePlugin(const std::string& name) {
  auto it = scores().find(name);
  return it == scores().end() ? nullptr : it->second();
}

const std::vector<std::string>& defaultFilterPlugins() {
  static const std::vector<std::string> kDefault = {
      "NodeUnschedulable", "NodeName",          "TaintToleration", "NodeAffinity",
      "NodeResourcesFit",  "PodTopologySpread", "NodeReady"};
  return kDefault;
}

const std::vector<std::string>& defaultScorePlugins() {
  static const std::vector<std::string> kDefault = {
      "NodeAffinity", "TaintToleration", "NodeResourcesLeastAllocated",
      "NodeResourcesBalancedAllocation", "PodTopologySpread"};
  return kDefault;
}

}  // namespace skiff::control_plane::scheduler
