// Pod/Node info extraction and the selector-term matcher shared by affinity plugins.
#include "control_plane/scheduler/framework.h"

#include <algorithm>
#include <charconv>

#include "common/kube/objects.h"
#include "common/quantity.h"

namespace skiff::control_plane::scheduler {

namespace {

constexpr std::int64_t kDefaultMilliCpu = 100;                // as kube-scheduler's scoring
constexpr std::int64_t kDefaultMemory = 200LL * 1024 * 1024;  // 200 MiB

common::Result<Resources> containerRequests(const Json& c) {
  Resources r;
  const Json* req = nullptr;
  if (c.contains("resources") && c["resources"].is_object()) {
    const Json& res = c["resources"];
    if (res.contains("requests") && res["requests"].is_object())
      req = &res["requests"];
    else if (res.contains("limits") && res["limits"].is_object())
      req = &res["limits"];
  }
  if (req != nullptr) {
    if (req->contains("cpu")) {
      const Json& v = (*req)["cpu"];
      std::string s = v.is_string() ? v.get<std::string>() : v.dump();
      SKIFF_ASSIGN_OR_RETURN(r.milliCpu, common::parseQuantityMilli(s));
    }
    if (req->contains("memory")) {
      const Json& v = (*req)["memory"];
      std::string s = v.is_string() ? v.get<std::string>() : v.dump();
      SKIFF_ASSIGN_OR_RETURN(r.memory, common::parseQuantity(s));
    }
  }
  return r;
}

}  // namespace

Taint Taint::fromJson(const Json& t) {
  return {common::jsonString(t, "key"), common::jsonString(t, "value"),
          common::jsonString(t, "effect")};
}

Toleration Toleration::fromJson(const Json& t) {
  std::string op = common::jsonString(t, "operator");
  return {common::jsonString(t, "key"), op.empty() ? "Equal" : op, common::jsonString(t, "value"),
          common::jsonString(t, "effect")};
}

bool Toleration::tolerates(const Taint& t) const {
  if (!effect.empty() && effect != t.effect) return false;
  if (op == "Exists") return key.empty() || key == t.key;
  return key == t.key && value == t.value;
}

common::Result<PodInfo> PodInfo::fromPod(const Json& pod) {
  const kube::PodView v(pod);
  PodInfo p;
  p.ns = v.ns();
  p.name = v.name();
  p.uid = v.uid();
  p.labels = v.labelMap();
  p.nodeName = v.nodeName();
  if (v.containers().is_array()) {
    for (const auto& c : v.containers()) {
      SKIFF_ASSIGN_OR_RETURN(Resources r, containerRequests(c));
      p.requests.milliCpu += r.milliCpu;
      p.requests.memory += r.memory;
      p.nonZeroRequests.milliCpu += r.milliCpu ? r.milliCpu : kDefaultMilliCpu;
      p.nonZeroRequests.memory += r.memory ? r.memory : kDefaultMemory;
    }
  }
  if (v.initContainers().is_array()) {
    for (const auto& c : v.initContainers()) {
      SKIFF_ASSIGN_OR_RETURN(Resources r, containerRequests(c));
      p.requests.milliCpu = std::max(p.requests.milliCpu, r.milliCpu);
      p.requests.memory = std::max(p.requests.memory, r.memory);
    }
  }
  p.requests.pods = 1;
  p.nonZeroRequests.pods = 1;
  if (v.nodeSelector().is_object()) {
    for (const auto& [k, val] : v.nodeSelector().items()) {
      if (val.is_string()) p.nodeSelector[k] = val.get<std::string>();
    }
  }
  const Json& na = common::jsonField(v.affinity(), "nodeAffinity");
  const Json& required = common::jsonField(na, "requiredDuringSchedulingIgnoredDuringExecution");
  if (!required.is_null()) p.requiredAffinity = common::jsonField(required, "nodeSelectorTerms");
  const Json& preferred = common::jsonField(na, "preferredDuringSchedulingIgnoredDuringExecution");
  if (!preferred.is_null()) p.preferredAffinity = preferred;
  if (v.tolerations().is_array()) {
    for (const auto& t : v.tolerations()) {
      if (t.is_object()) p.tolerations.push_back(Toleration::fromJson(t));
    }
  }
  if (v.topologySpreadConstraints().is_array()) {
    for (const auto& c : v.topologySpreadConstraints()) {
      TopologySpreadConstraint tsc;
      const Json& skew = common::jsonField(c, "maxSkew");
      tsc.maxSkew = skew.is_number_integer() ? skew.get<int>() : 1;
      tsc.topologyKey = common::jsonString(c, "topologyKey");
      std::string when = common::jsonString(c, "whenUnsatisfiable");
      tsc.doNotSchedule = when.empty() || when == "DoNotSchedule";
      auto sel = common::LabelSelector::fromJson(common::jsonField(c, "labelSelector"));
      if (!sel.isOk()) return sel.status().withContext("topologySpreadConstraints");
      tsc.selector = *sel;
      p.spread.push_back(std::move(tsc));
    }
  }
  p.priority = v.priority();
  p.group = p.ns + "|";
  for (const auto& [k, val] : p.labels) {
    if (k != "pod-template-hash") p.group += k + "=" + val + ",";
  }
  return p;
}

common::Result<NodeInfo> NodeInfo::fromNode(const Json& node) {
  const kube::NodeView v(node);
  NodeInfo n;
  n.name = v.name();
  n.labels = v.labelMap();
  n.unschedulable = v.unschedulable();
  if (v.taints().is_array()) {
    for (const auto& t : v.taints()) {
      if (t.is_object()) n.taints.push_back(Taint::fromJson(t));
    }
  }
  n.ready = v.conditionStatus("Ready") == "True";
  const Json& alloc = v.allocatable().is_null() ? v.capacity() : v.allocatable();
  auto q = [&](const char* k, bool milli) -> common::Result<std::int64_t> {
    const Json& val = common::jsonField(alloc, k);
    if (val.is_null()) return std::int64_t{-1};  // unknown: unlimited
    std::string s = val.is_string() ? val.get<std::string>() : val.dump();
    return milli ? common::parseQuantityMilli(s) : common::parseQuantity(s);
  };
  SKIFF_ASSIGN_OR_RETURN(n.allocatable.milliCpu, q("cpu", true));
  SKIFF_ASSIGN_OR_RETURN(n.allocatable.memory, q("memory", false));
  SKIFF_ASSIGN_OR_RETURN(n.allocatable.pods, q("pods", false));
  return n;
}

void NodeInfo::addPod(const PodInfo& p) {
  requested.milliCpu += p.requests.milliCpu;
  requested.memory += p.requests.memory;
  requested.pods += 1;
  nonZeroRequested.milliCpu += p.nonZeroRequests.milliCpu;
  nonZeroRequested.memory += p.nonZeroRequests.memory;
  podLabels.emplace_back(p.ns, p.labels);
  ++groupCounts[p.group];
}

void NodeInfo::removePod(const PodInfo& p) {
  requested.milliCpu -= p.requests.milliCpu;
  requested.memory -= p.requests.memory;
  requested.pods -= 1;
  nonZeroRequested.milliCpu -= p.nonZeroRequests.milliCpu;
  nonZeroRequested.memory -= p.nonZeroRequests.memory;
  if (auto g = groupCounts.find(p.group); g != groupCounts.end() && --g->second <= 0) {
    groupCounts.erase(g);
  }
  for (auto it = podLabels.begin(); it != podLabels.end(); ++it) {
    if (it->first == p.ns && it->second == p.labels) {
      podLabels.erase(it);
      break;
    }
  }
}

void prepareCycle(CycleState& state, const PodInfo& pod) {
  state.spreadCounts.assign(pod.spread.size(), {});
  if (state.allNodes == nullptr) return;
  for (std::size_t i = 0; i < pod.spread.size(); ++i) {
    const auto& c = pod.spread[i];
    auto& counts = state.spreadCounts[i];
    for (const NodeInfo* n : *state.allNodes) {
      auto it = n->labels.find(c.topologyKey);
      if (it == n->labels.end()) continue;
      int k = 0;
      for (const auto& [ns, labels] : n->podLabels) {
        if (ns == pod.ns && c.selector.matches(labels)) ++k;
      }
      counts[it->second] += k;
    }
  }
}

bool isDeviceRequirementOnFleetNode(std::string_view key, const NodeInfo& node) {
  if (!key.starts_with(kDeviceLabelPrefix)) return false;
  auto it = node.labels.find(kFleetNodeLabel);
  return it != node.labels.end() && it->second == "true";
}

bool nodeMatchesSelectorTerm(const Json& term, const NodeInfo& node) {
  if (!term.is_object()) return false;
  bool any = false;
  if (term.contains("matchExpressions") && term["matchExpressions"].is_array()) {
    for (const auto& e : term["matchExpressions"]) {
      any = true;
      std::string key = common::jsonString(e, "key");
      if (isDeviceRequirementOnFleetNode(key, node)) continue;
      std::string op = common::jsonString(e, "operator");
      std::vector<std::string> values;
      if (e.contains("values") && e["values"].is_array()) {
        for (const auto& v : e["values"])
          values.push_back(v.is_string() ? v.get<std::string>() : "");
      }
      auto it = node.labels.find(key);
      bool has = it != node.labels.end();
      bool ok = false;
      if (op == "In")
        ok = has && std::find(values.begin(), values.end(), it->second) != values.end();
      else if (op == "NotIn")
        ok = !has || std::find(values.begin(), values.end(), it->second) == values.end();
      else if (op == "Exists")
        ok = has;
      else if (op == "DoesNotExist")
        ok = !has;
      else if ((op == "Gt" || op == "Lt") && has && values.size() == 1) {
        long long a = 0;
        long long b = 0;
        auto r1 = std::from_chars(it->second.data(), it->second.data() + it->second.size(), a);
        auto r2 = std::from_chars(values[0].data(), values[0].data() + values[0].size(), b);
        ok = r1.ec == std::errc() && r2.ec == std::errc() && (op == "Gt" ? a > b : a < b);
      }
      if (!ok) return false;
    }
  }
  if (term.contains("matchFields") && term["matchFields"].is_array()) {
    for (const auto& e : term["matchFields"]) {
      any = true;
      if (common::jsonString(e, "key") != "metadata.name") return false;
      std::string op = common::jsonString(e, "operator");
      bool in = false;
      if (e.contains("values") && e["values"].is_array()) {
        for (const auto& v : e["values"]) in = in || v == node.name;
      }
      if ((op == "In" && !in) || (op == "NotIn" && in)) return false;
    }
  }
  return any;  // an empty term matches nothing, as in Kubernetes
}

bool nodeMatchesSelectorTerms(const Json& terms, const NodeInfo& node) {
  if (!terms.is_array()) return true;
  for (const auto& t : terms) {
    if (nodeMatchesSelectorTerm(t, node)) return true;
  }
  return false;
}

}  // namespace skiff::control_plane::scheduler
