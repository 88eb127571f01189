// Constructors of the built-in plugins (one file each); the registry maps names to them.
#pragma once

#include <memory>

#include "control_plane/scheduler/framework.h"

namespace skiff::control_plane::scheduler {

std::unique_ptr<FilterPlugin> newNodeNamePlugin();
std::unique_ptr<FilterPlugin> newNodeUnschedulablePlugin();
std::unique_ptr<FilterPlugin> newNodeReadyPlugin();
std::unique_ptr<FilterPlugin> newNodeAffinityFilter();
std::unique_ptr<FilterPlugin> newTaintTolerationFilter();
std::unique_ptr<FilterPlugin> newNodeResourcesFitFilter();
std::unique_ptr<FilterPlugin> newPodTopologySpreadFilter();
std::unique_ptr<ScorePlugin> newNodeAffinityScore();
std::unique_ptr<ScorePlugin> newTaintTolerationScore();
std::unique_ptr<ScorePlugin> newLeastAllocatedScore();
std::unique_ptr<ScorePlugin> newBalancedAllocationScore();
std::unique_ptr<ScorePlugin> newPodTopologySpreadScore();

}  // namespace skiff::control_plane::scheduler
