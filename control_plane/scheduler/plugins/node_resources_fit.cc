// NodeResourcesFit: cpu, memory and pod count against allocatable minus what bound pods request;
// LeastAllocated scoring prefers emptier nodes (with kube-scheduler's non-zero request defaults,
// so pods without requests still spread).
#include "control_plane/scheduler/plugins/plugins.h"

namespace skiff::control_plane::scheduler {

class NodeResourcesFitFilter final : public FilterPlugin {
 public:
  std::string name() const override { return "NodeResourcesFit"; }
  FilterResult filter(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    const Resources& a = node.allocatable;
    if (a.pods >= 0 && node.requested.pods + 1 > a.pods) return {"Too many pods"};
    if (a.milliCpu >= 0 && pod.requests.milliCpu > 0 &&
        node.requested.milliCpu + pod.requests.milliCpu > a.milliCpu) {
      return {"Insufficient cpu"};
    }
    if (a.memory >= 0 && pod.requests.memory > 0 &&
        node.requested.memory + pod.requests.memory > a.memory) {
      return {"Insufficient memory"};
    }
    return {};
  }
};

namespace {
// Free fraction after placing the pod, 0–100 (unknown capacity counts as empty).
int freeScore(std::int64_t requested, std::int64_t add, std::int64_t capacity) {
  if (capacity <= 0) return 100;
  std::int64_t used = requested + add;
  if (used >= capacity) return 0;
  return static_cast<int>((capacity - used) * 100 / capacity);
}
}  // namespace

class LeastAllocatedScore final : public ScorePlugin {
 public:
  std::string name() const override { return "NodeResourcesLeastAllocated"; }
  int score(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    int cpu = freeScore(node.nonZeroRequested.milliCpu, pod.nonZeroRequests.milliCpu,
                        node.allocatable.milliCpu);
    int mem = freeScore(node.nonZeroRequested.memory, pod.nonZeroRequests.memory,
                        node.allocatable.memory);
    return (cpu + mem) / 2;
  }
};

class BalancedAllocationScore final : public ScorePlugin {
 public:
  std::string name() const override { return "NodeResourcesBalancedAllocation"; }
  int score(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    if (node.allocatable.milliCpu <= 0 || node.allocatable.memory <= 0) return 100;
    double cpu =
        static_cast<double>(node.nonZeroRequested.milliCpu + pod.nonZeroRequests.milliCpu) /
        static_cast<double>(node.allocatable.milliCpu);
    double mem = static_cast<double>(node.nonZeroRequested.memory + pod.nonZeroRequests.memory) /
                 static_cast<double>(node.allocatable.memory);
    double diff = cpu > mem ? cpu - mem : mem - cpu;
    return static_cast<int>(std::max(0.0, 1.0 - diff) * 100);
  }
};

std::unique_ptr<FilterPlugin> newNodeResourcesFitFilter() {
  return std::make_unique<NodeResourcesFitFilter>();
}
std::unique_ptr<ScorePlugin> newLeastAllocatedScore() {
  return std::make_unique<LeastAllocatedScore>();
}
std::unique_ptr<ScorePlugin> newBalancedAllocationScore() {
  return std::make_unique<BalancedAllocationScore>();
}

}  // namespace skiff::control_plane::scheduler
