// Scheduling framework (kube-scheduler's shape): a pod is filtered against every candidate
// node by FilterPlugins, the feasible nodes are scored 0–100 by ScorePlugins (weighted sum),
// and the best node wins. Plugins are stateless and thread-safe; one file per plugin, created
// by name from the registry.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/label_selector.h"
#include "common/status.h"

namespace skiff::control_plane::scheduler {

using common::Json;

struct Resources {
  std::int64_t milliCpu = 0;
  std::int64_t memory = 0;
  std::int64_t pods = 0;
};

struct Taint {
  std::string key, value, effect;
  static Taint fromJson(const Json& t);  // missing or mistyped fields read as ""
};

struct Toleration {
  std::string key, op, value, effect;
  bool tolerates(const Taint& t) const;
  static Toleration fromJson(const Json& t);  // operator defaults to "Equal"
};

struct TopologySpreadConstraint {
  int maxSkew = 1;
  std::string topologyKey;
  bool doNotSchedule = true;  // whenUnsatisfiable
  common::LabelSelector selector;
};

// Everything the plugins need from a pod, computed once per scheduling attempt.
struct PodInfo {
  std::string ns, name, uid;
  common::Labels labels;
  std::string nodeName;       // spec.nodeName requested by the user (NodeName plugin)
  Resources requests;         // sum of containers (max with init containers)
  Resources nonZeroRequests;  // with scoring defaults (100m, 200Mi) for empty requests
  std::map<std::string, std::string> nodeSelector;
  Json requiredAffinity;   // nodeSelectorTerms array or null
  Json preferredAffinity;  // preferredDuringSchedulingIgnoredDuringExecution array or null
  std::vector<Toleration> tolerations;
  std::vector<TopologySpreadConstraint> spread;
  std::int64_t priority = 0;
  // "namespace|labels-without-pod-template-hash": pods of one workload share it; used by the
  // default hostname spreading without per-node label matching.
  std::string group;
  // InvalidArgument for unparseable requests or selectors (reported, not retried).
  static common::Result<PodInfo> fromPod(const Json& pod);
};

struct NodeInfo {
  std::string name;
  common::Labels labels;
  std::vector<Taint> taints;
  bool unschedulable = false;
  bool ready = false;
  Resources allocatable;
  Resources requested;
  Resources nonZeroRequested;
  // Labels of the pods on the node, by namespace (topology spread counts matching pods).
  std::vector<std::pair<std::string, common::Labels>> podLabels;
  std::map<std::string, int> groupCounts;  // PodInfo::group → pods on this node
  static common::Result<NodeInfo> fromNode(const Json& node);
  void addPod(const PodInfo& p);
  void removePod(const PodInfo& p);
};

// A plugin's verdict on one node: empty reason = feasible.
struct FilterResult {
  std::string reason;  // kube-scheduler's wording, e.g. "node(s) were unschedulable"
  bool ok() const { return reason.empty(); }
};

// Per-cycle data some plugins precompute over all nodes (e.g. topology domain counts).
struct CycleState {
  const std::vector<const NodeInfo*>* allNodes = nullptr;
  // For each of the pod's topology spread constraints: matching pods per domain (all nodes).
  std::vector<std::map<std::string, int>> spreadCounts;
};

// Precomputes what plugins share across nodes for one pod (topology domain counts).
void prepareCycle(CycleState& state, const PodInfo& pod);

class FilterPlugin {
 public:
  virtual ~FilterPlugin() = default;
  virtual std::string name() const = 0;
  virtual FilterResult filter(const CycleState& state, const PodInfo& pod,
                              const NodeInfo& node) const = 0;
};

class ScorePlugin {
 public:
  virtual ~ScorePlugin() = default;
  virtual std::string name() const = 0;
  virtual int weight() const { return 1; }
  // Raw score, higher is better; 0–100 unless normalize() rescales it.
  virtual int score(const CycleState& state, const PodInfo& pod, const NodeInfo& node) const = 0;
  // Rescales the raw scores of all scored nodes to 0–100 (default: unchanged).
  virtual void normalize(std::vector<int>& scores) const { (void)scores; }
};

// name → factory registry of the built-in plugins.
std::unique_ptr<FilterPlugin> makeFilterPlugin(const std::string& name);
std::unique_ptr<ScorePlugin> makeScorePlugin(const std::string& name);
const std::vector<std::string>& defaultFilterPlugins();
const std::vector<std::string>& defaultScorePlugins();

// Helpers shared by plugins.
bool nodeMatchesSelectorTerms(const Json& terms, const NodeInfo& node);
bool nodeMatchesSelectorTerm(const Json& term, const NodeInfo& node);

// A Skiff fleet node (label skiff.io/fleet=true, registered by skiff-virtual-node in fleet mode)
// stands for many devices: requirements on keys under device.skiff.io/ select devices, which its
// provider applies per device (docs/pod-mapping.md), so node matching treats them as satisfied.
inline constexpr std::string_view kFleetNodeLabel = "skiff.io/fleet";
inline constexpr std::string_view kDeviceLabelPrefix = "device.skiff.io/";
bool isDeviceRequirementOnFleetNode(std::string_view key, const NodeInfo& node);

}  // namespace skiff::control_plane::scheduler
