// Pod/Node info extraction and the selector-term matcher shared by affinity plugins.
#include "control_plane/scheduler/framework.h"

#include <algorithm>
#include <charconv>

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

common::Labels labelsOf(const Json& obj) {
  common::Labels l;
  if (obj.contains("metadata") && obj["metadata"].contains("labels") &&
      obj["metadata"]["labels"].is_object()) {
    for (const auto& [k, v] : obj["metadata"]["labels"].items()) {
      if (v.is_string()) l.emplace(k, v.get<std::string>());
    }
  }
  return l;
}

}  // namespace

bool Toleration::tolerates(const Taint& t) const {
  if (!effect.empty() && effect != t.effect) return false;
  if (op == "Exists") return key.empty() || key == t.key;
  return key == t.key && value == t.value;
}

common::Result<PodInfo> PodInfo::fromPod(const Json& pod) {
  PodInfo p;
  const Json& meta = pod["metadata"];
  p.ns = meta.value("namespace", "");
  p.name = meta.value("name", "");
  p.uid = meta.value("uid", "");
  p.labels = labelsOf(pod);
  const Json spec = pod.value("spec", Json::object());
  p.nodeName = spec.value("nodeName", "");
  if (spec.contains("containers") && spec["containers"].is_array()) {
    for (const auto& c : spec["containers"]) {
      SKIFF_ASSIGN_OR_RETURN(Resources r, containerRequests(c));
      p.requests.milliCpu += r.milliCpu;
      p.requests.memory += r.memory;
      p.nonZeroRequests.milliCpu += r.milliCpu ? r.milliCpu : kDefaultMilliCpu;
      p.nonZeroRequests.memory += r.memory ? r.memory : kDefaultMemory;
    }
  }
  if (spec.contains("initContainers") && spec["initContainers"].is_array()) {
    for (const auto& c : spec["initContainers"]) {
      SKIFF_ASSIGN_OR_RETURN(Resources r, containerRequests(c));
      p.requests.milliCpu = std::max(p.requests.milliCpu, r.milliCpu);
      p.requests.memory = std::max(p.requests.memory, r.memory);
    }
  }
  p.requests.pods = 1;
  p.nonZeroRequests.pods = 1;
  if (spec.contains("nodeSelector") && spec["nodeSelector"].is_object()) {
    for (const auto& [k, v] : spec["nodeSelector"].items()) {
      if (v.is_string()) p.nodeSelector[k] = v.get<std::string>();
    }
  }
  if (spec.contains("affinity") && spec["affinity"].contains("nodeAffinity")) {
    const Json& na = spec["affinity"]["nodeAffinity"];
    if (na.contains("requiredDuringSchedulingIgnoredDuringExecution")) {
      p.requiredAffinity =
          na["requiredDuringSchedulingIgnoredDuringExecution"].value("nodeSelectorTerms", Json());
    }
    if (na.contains("preferredDuringSchedulingIgnoredDuringExecution")) {
      p.preferredAffinity = na["preferredDuringSchedulingIgnoredDuringExecution"];
    }
  }
  if (spec.contains("tolerations") && spec["tolerations"].is_array()) {
    for (const auto& t : spec["tolerations"]) {
      if (!t.is_object()) continue;
      p.tolerations.push_back({t.value("key", ""), t.value("operator", "Equal"),
                               t.value("value", ""), t.value("effect", "")});
    }
  }
  if (spec.contains("topologySpreadConstraints") && spec["topologySpreadConstraints"].is_array()) {
    for (const auto& c : spec["topologySpreadConstraints"]) {
      TopologySpreadConstraint tsc;
      tsc.maxSkew = c.value("maxSkew", 1);
      tsc.topologyKey = c.value("topologyKey", "");
      tsc.doNotSchedule = c.value("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule";
      auto sel = common::LabelSelector::fromJson(c.value("labelSelector", Json()));
      if (!sel.isOk()) return sel.status().withContext("topologySpreadConstraints");
      tsc.selector = *sel;
      p.spread.push_back(std::move(tsc));
    }
  }
  p.priority = spec.value("priority", 0LL);
  p.group = p.ns + "|";
  for (const auto& [k, v] : p.labels) {
    if (k != "pod-template-hash") p.group += k + "=" + v + ",";
  }
  return p;
}

common::Result<NodeInfo> NodeInfo::fromNode(const Json& node) {
  NodeInfo n;
  n.name = node["metadata"].value("name", "");
  n.labels = labelsOf(node);
  const Json spec = node.value("spec", Json::object());
  n.unschedulable = spec.value("unschedulable", false);
  if (spec.contains("taints") && spec["taints"].is_array()) {
    for (const auto& t : spec["taints"]) {
      n.taints.push_back({t.value("key", ""), t.value("value", ""), t.value("effect", "")});
    }
  }
  const Json status = node.value("status", Json::object());
  if (status.contains("conditions") && status["conditions"].is_array()) {
    for (const auto& c : status["conditions"]) {
      if (c.value("type", "") == "Ready") n.ready = c.value("status", "") == "True";
    }
  }
  const Json alloc = status.contains("allocatable") ? status["allocatable"]
                                                    : status.value("capacity", Json::object());
  auto q = [&](const char* k, bool milli) -> common::Result<std::int64_t> {
    if (!alloc.contains(k)) return std::int64_t{-1};  // unknown: unlimited
    const Json& v = alloc[k];
    std::string s = v.is_string() ? v.get<std::string>() : v.dump();
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
      std::string key = e.value("key", "");
      if (isDeviceRequirementOnFleetNode(key, node)) continue;
      std::string op = e.value("operator", "");
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
      if (e.value("key", "") != "metadata.name") return false;
      std::string op = e.value("operator", "");
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
