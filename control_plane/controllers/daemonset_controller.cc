// DaemonSet controller implementation.
#include "control_plane/controllers/daemonset_controller.h"

#include <map>

#include "common/kube/objects.h"
#include "control_plane/apiserver/resources.h"
#include "control_plane/controllers/deployment_controller.h"
#include "control_plane/scheduler/framework.h"
#include "control_plane/scheduler/plugins/plugins.h"

namespace skiff::control_plane::controllers {

namespace {

const apiserver::ResourceInfo& podsResource() { return *apiserver::findResource("", "v1", "pods"); }
const apiserver::ResourceInfo& dsResource() {
  return *apiserver::findResource("apps", "v1", "daemonsets");
}

// The node a daemon pod is pinned to: spec.nodeName, or its metadata.name affinity term.
std::string targetNode(const Json& pod) {
  std::string node = kube::PodView(pod).nodeName();
  if (!node.empty()) return node;
  const Json& required =
      common::jsonField(common::jsonField(kube::PodView(pod).affinity(), "nodeAffinity"),
                        "requiredDuringSchedulingIgnoredDuringExecution");
  for (const auto& t : common::jsonField(required, "nodeSelectorTerms")) {
    for (const auto& f : common::jsonField(t, "matchFields")) {
      const Json& values = common::jsonField(f, "values");
      if (common::jsonString(f, "key") == "metadata.name" && values.is_array() && !values.empty() &&
          values[0].is_string()) {
        return values[0].get<std::string>();
      }
    }
  }
  return "";
}

// Deletes a pod; an already deleted one is fine.
common::Status removePod(Client& client, const std::string& ns, const Json& pod) {
  auto r = client.remove(podsResource(), ns, kube::ObjectView(pod).name());
  if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
  return common::Status::ok();
}

Json daemonTolerations(Json tols) {
  if (!tols.is_array()) tols = Json::array();
  auto add = [&](const char* key, const char* effect) {
    for (const auto& t : tols) {
      if (common::jsonString(t, "key") == key && common::jsonString(t, "effect") == effect) return;
    }
    tols.push_back({{"key", key}, {"operator", "Exists"}, {"effect", effect}});
  };
  add("node.kubernetes.io/not-ready", "NoExecute");
  add("node.kubernetes.io/unreachable", "NoExecute");
  add("node.kubernetes.io/unschedulable", "NoSchedule");
  return tols;
}

}  // namespace

DaemonSetController::DaemonSetController(Client& client, Informer& daemonSets, Informer& nodes,
                                         Informer& pods)
    : Controller("daemonset", 2),
      client_(client),
      daemonSets_(daemonSets),
      nodes_(nodes),
      pods_(pods) {}

void DaemonSetController::registerHandlers() {
  auto enqueue = [this](const ObjectPtr& ds) { queue().add(objectKeyOf(*ds)); };
  daemonSets_.addHandlers(
      {enqueue, [enqueue](const ObjectPtr&, const ObjectPtr& n) { enqueue(n); }, nullptr});
  auto all = [this](const ObjectPtr&) {
    for (const auto& ds : daemonSets_.list()) queue().add(objectKeyOf(*ds));
  };
  nodes_.addHandlers({all, [all](const ObjectPtr&, const ObjectPtr& n) { all(n); }, all});
  auto owner = [this](const ObjectPtr& pod) {
    auto ref = kube::ObjectView(*pod).controllerRef();
    if (ref && ref->kind == "DaemonSet") {
      queue().add(kube::ObjectView(*pod).ns() + "/" + ref->name);
    }
  };
  pods_.addHandlers({owner, [owner](const ObjectPtr&, const ObjectPtr& n) { owner(n); }, owner});
}

namespace {

// What one pass counts, as DaemonSet status reports it.
struct DaemonCounts {
  long long desired = 0;
  long long current = 0;
  long long ready = 0;
  long long updated = 0;
  long long misscheduled = 0;
  long long unavailable = 0;
};

// The daemon pod for one node: the template, pinned to the node by a metadata.name node
// affinity term (as Kubernetes' DaemonSet controller does), labelled with the template hash.
Json daemonPodFor(const Json& ds, const Json& tmplPod, const std::string& hash,
                  const std::string& ns, const std::string& node) {
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", tmplPod["metadata"]},
              {"spec", tmplPod["spec"]}};
  pod["metadata"]["generateName"] = kube::ObjectView(ds).name() + "-";
  pod["metadata"]["namespace"] = ns;
  pod["metadata"].erase("name");
  pod["metadata"]["labels"]["controller-revision-hash"] = hash;
  pod["metadata"]["ownerReferences"] = Json::array({kube::ObjectView(ds).ownerRefJson()});
  pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = {
      {"nodeSelectorTerms", Json::array({{{"matchFields", Json::array({{{"key", "metadata.name"},
                                                                        {"operator", "In"},
                                                                        {"values", {node}}}})}}})}};
  return pod;
}

// Rolling update: replaces outdated pods while fewer than maxUnavailable are unavailable.
common::Status rollOutdated(Client& client, const kube::DaemonSetView& ds, const std::string& ns,
                            const std::vector<ObjectPtr>& outdated, DaemonCounts& counts) {
  if (ds.updateStrategyType() != "RollingUpdate") return common::Status::ok();
  const Json& max = ds.maxUnavailable();
  long long maxUnavailable =
      resolveSurgeUnavailable({{"maxSurge", 0}, {"maxUnavailable", max.is_null() ? Json(1) : max}},
                              counts.desired)
          .second;
  for (const auto& p : outdated) {
    if (counts.unavailable >= maxUnavailable) break;
    SKIFF_RETURN_IF_ERROR(removePod(client, ns, *p));
    ++counts.unavailable;
  }
  return common::Status::ok();
}

}  // namespace

common::Status DaemonSetController::reconcile(const std::string& key) {
  ObjectPtr ds = daemonSets_.get(key);
  if (!ds || kube::ObjectView(*ds).deleting()) {
    return common::Status::ok();
  }
  auto [ns, name] = splitKey(key);
  const kube::DaemonSetView view(*ds);
  const std::string uid = view.uid();
  const Json& tmpl = view.podTemplate();
  std::string hash = podTemplateHash(tmpl);
  const Json& tmplMeta = common::jsonField(tmpl, "metadata");
  const Json& tmplSpec = common::jsonField(tmpl, "spec");
  Json tmplPod = {{"metadata", tmplMeta.is_object() ? tmplMeta : Json::object()},
                  {"spec", tmplSpec.is_object() ? tmplSpec : Json::object()}};
  tmplPod["spec"]["tolerations"] =
      daemonTolerations(common::jsonField(tmplPod["spec"], "tolerations"));
  auto podInfo = scheduler::PodInfo::fromPod(tmplPod);
  if (!podInfo.isOk()) return common::Status::ok();  // rejected templates never reach here
  auto affinity = scheduler::newNodeAffinityFilter();
  auto taints = scheduler::newTaintTolerationFilter();

  std::map<std::string, std::vector<ObjectPtr>> byNode;
  for (const auto& p : pods_.listNamespace(ns)) {
    auto ref = kube::ObjectView(*p).controllerRef();
    if (ref && ref->uid == uid && kube::PodView(*p).active()) byNode[targetNode(*p)].push_back(p);
  }
  DaemonCounts counts;
  std::vector<ObjectPtr> outdated;
  scheduler::CycleState state;
  for (const auto& node : nodes_.list()) {
    auto info = scheduler::NodeInfo::fromNode(*node);
    if (!info.isOk()) continue;
    bool fits = affinity->filter(state, *podInfo, *info).ok();
    bool shouldRun = fits && taints->filter(state, *podInfo, *info).ok();
    // As Kubernetes: a daemon pod already on a node keeps running unless the node got a NoExecute
    // taint it does not tolerate; NoSchedule taints (e.g. not-ready) only keep new pods away.
    scheduler::NodeInfo noExecute = *info;
    std::erase_if(noExecute.taints,
                  [](const scheduler::Taint& t) { return t.effect != "NoExecute"; });
    bool shouldContinue = fits && taints->filter(state, *podInfo, noExecute).ok();
    auto& pods = byNode[info->name];
    if (!shouldRun) {
      if (pods.empty() || shouldContinue) continue;
      ++counts.misscheduled;
      for (const auto& p : pods) SKIFF_RETURN_IF_ERROR(removePod(client_, ns, *p));
      continue;
    }
    ++counts.desired;
    if (pods.empty()) {
      auto r = client_.create(podsResource(), ns, daemonPodFor(*ds, tmplPod, hash, ns, info->name));
      if (!r.isOk()) return r.status().withContext("creating daemon pod for " + info->name);
      ++counts.unavailable;
      continue;
    }
    ++counts.current;
    const ObjectPtr& keep = pods.front();
    ++(kube::PodView(*keep).ready() ? counts.ready : counts.unavailable);
    std::string podHash =
        common::jsonString(kube::PodView(*keep).labels(), "controller-revision-hash");
    if (podHash == hash) {
      ++counts.updated;
    } else {
      outdated.push_back(keep);
    }
    for (std::size_t i = 1; i < pods.size(); ++i) {  // duplicates on one node
      SKIFF_RETURN_IF_ERROR(removePod(client_, ns, *pods[i]));
    }
  }
  // Pods pinned to nodes that no longer exist.
  for (const auto& [node, pods] : byNode) {
    if (node.empty() || nodes_.get(node)) continue;
    for (const auto& p : pods) SKIFF_RETURN_IF_ERROR(removePod(client_, ns, *p));
  }
  SKIFF_RETURN_IF_ERROR(rollOutdated(client_, view, ns, outdated, counts));

  Json status = common::jsonField(*ds, "status");
  if (!status.is_object()) status = Json::object();
  Json next = status;
  next["desiredNumberScheduled"] = counts.desired;
  next["currentNumberScheduled"] = counts.current;
  next["numberReady"] = counts.ready;
  next["numberAvailable"] = counts.ready;
  next["numberUnavailable"] = std::max(0LL, counts.desired - counts.ready);
  next["updatedNumberScheduled"] = counts.updated;
  next["numberMisscheduled"] = counts.misscheduled;
  next["observedGeneration"] = view.generation();
  if (next == status) return common::Status::ok();
  Json obj = *ds;
  obj["status"] = next;
  auto r = client_.update(dsResource(), obj, "status");
  if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
  return common::Status::ok();
}

}  // namespace skiff::control_plane::controllers
