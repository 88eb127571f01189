// Node lifecycle controller implementation.
#include "control_plane/controllers/node_lifecycle_controller.h"

#include <algorithm>
#include <optional>

#include "common/daemon.h"
#include "common/kube/objects.h"
#include "common/log.h"
#include "control_plane/apiserver/object_store.h"
#include "control_plane/apiserver/resources.h"
#include "control_plane/scheduler/framework.h"

namespace skiff::control_plane::controllers {

namespace {

constexpr const char* kNotReady = "node.kubernetes.io/not-ready";
constexpr const char* kUnreachable = "node.kubernetes.io/unreachable";

const apiserver::ResourceInfo& nodesResource() {
  return *apiserver::findResource("", "v1", "nodes");
}
const apiserver::ResourceInfo& podsResource() { return *apiserver::findResource("", "v1", "pods"); }

std::string readyStatus(const Json& node) { return kube::NodeView(node).conditionStatus("Ready"); }

std::string heartbeatOf(const Json& node, const ObjectPtr& lease) {
  std::string hb;
  if (lease) hb = common::jsonString(common::jsonField(*lease, "spec"), "renewTime");
  for (const auto& c : kube::NodeView(node).conditions()) {
    if (c.is_object() && common::jsonString(c, "type") == "Ready") {
      hb += "|" + common::jsonString(c, "lastHeartbeatTime");
    }
  }
  return hb;
}

std::string podNode(const Json& pod) { return kube::PodView(pod).nodeName(); }

struct PodToleration {
  scheduler::Toleration toleration;
  std::optional<long long> seconds;
};

std::vector<PodToleration> tolerationsOf(const Json& pod) {
  std::vector<PodToleration> out;
  const Json& tolerations = kube::PodView(pod).tolerations();
  if (!tolerations.is_array()) return out;
  for (const auto& t : tolerations) {
    if (!t.is_object()) continue;
    PodToleration pt;
    pt.toleration = scheduler::Toleration::fromJson(t);
    if (t.contains("tolerationSeconds") && t["tolerationSeconds"].is_number_integer()) {
      pt.seconds = t["tolerationSeconds"].get<long long>();
    }
    out.push_back(std::move(pt));
  }
  return out;
}

}  // namespace

NodeLifecycleController::NodeLifecycleController(Client& client, Informer& nodes, Informer& leases,
                                                 Informer& pods, EventRecorder& events,
                                                 const common::Clock& clock,
                                                 NodeLifecycleOptions opts)
    : Controller("node-lifecycle", 2),
      client_(client),
      nodes_(nodes),
      leases_(leases),
      pods_(pods),
      events_(events),
      clock_(clock),
      opts_(opts) {}

NodeLifecycleController::~NodeLifecycleController() {
  stop();  // workers first: they use the members below
  if (monitor_.joinable()) {
    monitor_.request_stop();
    monitor_.join();
  }
}

void NodeLifecycleController::registerHandlers() {
  auto enqueue = [this](const ObjectPtr& n) { queue().add(kube::ObjectView(*n).name()); };
  nodes_.addHandlers({enqueue, [enqueue](const ObjectPtr&, const ObjectPtr& n) { enqueue(n); },
                      [this](const ObjectPtr& n) {
                        std::string name = kube::ObjectView(*n).name();
                        std::lock_guard lock(mu_);
                        probes_.erase(name);
                      }});
  auto track = [this](const ObjectPtr& pod, bool deleted) {
    std::string key = objectKeyOf(*pod);
    std::string node = deleted ? "" : podNode(*pod);
    {
      std::lock_guard lock(mu_);
      auto it = nodeOfPod_.find(key);
      if (it != nodeOfPod_.end() && it->second != node) {
        auto n = podsByNode_.find(it->second);
        if (n != podsByNode_.end()) {
          n->second.erase(key);
          if (n->second.empty()) podsByNode_.erase(n);
        }
        nodeOfPod_.erase(it);
      }
      if (!node.empty()) {
        nodeOfPod_[key] = node;
        podsByNode_[node].insert(key);
      }
    }
    // A pod bound to a node with NoExecute taints is evaluated at once.
    if (!node.empty()) queue().add(node);
  };
  pods_.addHandlers({[track](const ObjectPtr& p) { track(p, false); },
                     [track](const ObjectPtr&, const ObjectPtr& p) { track(p, false); },
                     [track](const ObjectPtr& p) { track(p, true); }});
  monitor_ = std::jthread([this](std::stop_token st) {
    while (common::sleepFor(st, opts_.monitorPeriod)) {
      for (const auto& n : nodes_.list()) queue().add(kube::ObjectView(*n).name());
    }
  });
}

std::vector<ObjectPtr> NodeLifecycleController::podsOn(const std::string& node) {
  std::vector<std::string> keys;
  {
    std::lock_guard lock(mu_);
    auto it = podsByNode_.find(node);
    if (it != podsByNode_.end()) keys.assign(it->second.begin(), it->second.end());
  }
  std::vector<ObjectPtr> out;
  for (const auto& k : keys) {
    if (auto p = pods_.get(k); p && podNode(*p) == node) out.push_back(p);
  }
  return out;
}

common::Status NodeLifecycleController::reconcile(const std::string& name) {
  ObjectPtr node = nodes_.get(name);
  if (!node) return common::Status::ok();
  SKIFF_ASSIGN_OR_RETURN(bool wrote, updateHealth(*node));
  if (wrote) return common::Status::ok();  // the informer brings the new status back
  SKIFF_RETURN_IF_ERROR(syncTaints(*node));
  return evictPods(*node);
}

common::Result<bool> NodeLifecycleController::updateHealth(const Json& node) {
  const std::string name = kube::ObjectView(node).name();
  const auto now = clock_.steadyNow();
  bool stale = false;
  {
    std::lock_guard lock(mu_);
    std::string hb = heartbeatOf(node, leases_.get("kube-node-lease/" + name));
    auto it = probes_.find(name);
    if (it == probes_.end() || it->second.heartbeat != hb) {
      probes_[name] = Probe{hb, now};  // first sight counts as a heartbeat (startup grace)
    } else {
      stale = now - it->second.observedAt > opts_.gracePeriod;
    }
  }
  if (!stale) return false;
  Json updated = node;
  Json& status = updated["status"];
  if (!status.is_object()) status = Json::object();
  Json& conds = status["conditions"];
  if (!conds.is_array()) conds = Json::array();
  const std::string nowWall = common::formatRfc3339(clock_.now());
  bool changed = false;
  bool hasReady = false;
  for (auto& c : conds) {
    if (!c.is_object()) continue;
    if (common::jsonString(c, "type") == "Ready") hasReady = true;
    if (common::jsonString(c, "status") == "Unknown") continue;
    c["status"] = "Unknown";
    c["reason"] = "NodeStatusUnknown";
    c["message"] = "Kubelet stopped posting node status.";
    c["lastTransitionTime"] = nowWall;
    changed = true;
  }
  if (!hasReady) {
    std::string created = kube::ObjectView(node).creationTimestamp();
    conds.push_back({{"type", "Ready"},
                     {"status", "Unknown"},
                     {"reason", "NodeStatusNeverUpdated"},
                     {"message", "Kubelet never posted node status."},
                     {"lastHeartbeatTime", created.empty() ? nowWall : created},
                     {"lastTransitionTime", nowWall}});
    changed = true;
  }
  if (!changed) return false;
  SKIFF_RETURN_IF_ERROR(client_.update(nodesResource(), updated, "status").status());
  common::log::warn("node stopped posting status; marked Unknown",
                    {{"node", name}, {"grace", common::formatDuration(opts_.gracePeriod)}});
  events_.record(node, "Normal", "NodeNotReady", "Node " + name + " status is now: NodeNotReady");
  SKIFF_RETURN_IF_ERROR(markPodsNotReady(name));
  return true;
}

common::Status NodeLifecycleController::markPodsNotReady(const std::string& node) {
  const std::string nowWall = common::formatRfc3339(clock_.now());
  for (const auto& p : podsOn(node)) {
    if (!kube::PodView(*p).ready()) continue;
    Json pod = *p;
    for (auto& c : pod["status"]["conditions"]) {
      if (c.is_object() && (common::jsonString(c, "type") == "Ready" ||
                            common::jsonString(c, "type") == "ContainersReady")) {
        c["status"] = "False";
        c["lastTransitionTime"] = nowWall;
      }
    }
    auto r = client_.update(podsResource(), pod, "status");
    if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
  }
  return common::Status::ok();
}

common::Status NodeLifecycleController::syncTaints(const Json& node) {
  const std::string ready = readyStatus(node);
  std::string want;  // taint key this node should carry
  if (ready == "False") want = kNotReady;
  if (ready == "Unknown") want = kUnreachable;
  Json taints = kube::NodeView(node).taints();
  if (!taints.is_array()) taints = Json::array();
  Json next = Json::array();
  bool changed = false;
  bool hasNoSchedule = false;
  bool hasNoExecute = false;
  for (const auto& t : taints) {
    std::string key = common::jsonString(t, "key");
    if ((key == kNotReady || key == kUnreachable) && key != want) {
      changed = true;  // the other condition's taint, or Ready again: drop it
      continue;
    }
    if (!want.empty() && key == want) {
      if (common::jsonString(t, "effect") == "NoSchedule") hasNoSchedule = true;
      if (common::jsonString(t, "effect") == "NoExecute") hasNoExecute = true;
    }
    next.push_back(t);
  }
  if (!want.empty() && !hasNoSchedule) {
    next.push_back({{"key", want}, {"effect", "NoSchedule"}});
    changed = true;
  }
  if (!want.empty() && !hasNoExecute) {
    next.push_back({{"key", want},
                    {"effect", "NoExecute"},
                    {"timeAdded", common::formatRfc3339(clock_.now())}});
    changed = true;
  }
  if (!changed) return common::Status::ok();
  Json updated = node;
  if (next.empty()) {
    updated["spec"].erase("taints");
  } else {
    updated["spec"]["taints"] = next;
  }
  auto r = client_.update(nodesResource(), updated);
  if (!r.isOk()) return r.status();
  common::log::info("node taints updated",
                    {{"node", kube::ObjectView(node).name()}, {"ready", ready}});
  return common::Status::ok();
}

common::Status NodeLifecycleController::evictPods(const Json& node) {
  std::vector<scheduler::Taint> noExecute;
  auto earliest = clock_.now();
  for (const auto& t : kube::NodeView(node).taints()) {
    if (!t.is_object() || common::jsonString(t, "effect") != "NoExecute") continue;
    noExecute.push_back(scheduler::Taint::fromJson(t));
    if (auto added = common::parseRfc3339(common::jsonString(t, "timeAdded"))) {
      earliest = std::min(earliest, *added);
    }
  }
  if (noExecute.empty()) return common::Status::ok();
  const std::string nodeName = kube::ObjectView(node).name();
  const auto now = clock_.now();
  for (const auto& p : podsOn(nodeName)) {
    if (!kube::PodView(*p).active()) continue;
    auto tols = tolerationsOf(*p);
    bool untolerated = false;
    std::optional<long long> minSeconds;  // nullopt: tolerated forever
    for (const auto& taint : noExecute) {
      bool matched = false;
      for (const auto& t : tols) {
        if (!t.toleration.tolerates(taint)) continue;
        matched = true;
        if (t.seconds) minSeconds = std::min(minSeconds.value_or(*t.seconds), *t.seconds);
      }
      if (!matched) untolerated = true;
    }
    if (!untolerated && !minSeconds) continue;
    auto deadline = untolerated ? now : earliest + std::chrono::seconds(std::max(0LL, *minSeconds));
    if (deadline > now) {
      queue().addAfter(nodeName, deadline - now);
      continue;
    }
    std::string ns = kube::ObjectView(*p).ns();
    std::string podName = kube::ObjectView(*p).name();
    auto r = client_.remove(podsResource(), ns, podName);
    if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
    common::log::info("evicting pod from tainted node",
                      {{"pod", ns + "/" + podName}, {"node", nodeName}});
    events_.record(*p, "Normal", "TaintManagerEviction",
                   "Marking for deletion Pod " + ns + "/" + podName);
  }
  return common::Status::ok();
}

}  // namespace skiff::control_plane::controllers
