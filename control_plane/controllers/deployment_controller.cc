// Deployment controller implementation.
#include "control_plane/controllers/deployment_controller.h"

#include <algorithm>
#include <cmath>

#include "common/clock.h"
#include "common/kube/objects.h"
#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::controllers {

namespace {

const apiserver::ResourceInfo& rsResource() {
  return *apiserver::findResource("apps", "v1", "replicasets");
}
const apiserver::ResourceInfo& depResource() {
  return *apiserver::findResource("apps", "v1", "deployments");
}

constexpr const char* kRevision = "deployment.kubernetes.io/revision";

long long intOrPercent(const Json& v, long long total, bool roundUp, long long fallback) {
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    try {
      if (!s.empty() && s.back() == '%') {
        double pct = std::stod(s.substr(0, s.size() - 1));
        double x = pct * static_cast<double>(total) / 100.0;
        return static_cast<long long>(roundUp ? std::ceil(x) : std::floor(x));
      }
      return std::stoll(s);
    } catch (const std::exception&) {
      return fallback;
    }
  }
  return fallback;
}

// Template without the pod-template-hash label, for comparing an RS with the deployment.
Json templateWithoutHash(Json tmpl) {
  if (tmpl.contains("metadata") && tmpl["metadata"].contains("labels") &&
      tmpl["metadata"]["labels"].is_object()) {
    tmpl["metadata"]["labels"].erase("pod-template-hash");
    if (tmpl["metadata"]["labels"].empty()) tmpl["metadata"].erase("labels");
  }
  // kubectl rollout undo sends the template back with "creationTimestamp": null, which
  // Kubernetes' typed comparison treats as absent.
  if (tmpl.contains("metadata") && tmpl["metadata"].is_object() &&
      tmpl["metadata"].contains("creationTimestamp") &&
      tmpl["metadata"]["creationTimestamp"].is_null()) {
    tmpl["metadata"].erase("creationTimestamp");
  }
  return tmpl;
}

long long revisionOf(const Json& rs) {
  try {
    return std::stoll(kube::ObjectView(rs).annotation(kRevision));
  } catch (const std::exception&) {
    return 0;
  }
}

long long replicasOf(const ObjectPtr& rs) { return kube::ReplicaSetView(*rs).replicas(); }
long long availableOf(const ObjectPtr& rs) { return kube::ReplicaSetView(*rs).availableReplicas(); }

Json condition(const std::string& type, const std::string& status, const std::string& reason,
               const std::string& message, const Json* previous) {
  std::string now = common::formatRfc3339(std::chrono::system_clock::now());
  std::string transition = now;
  auto previousField = [&](const char* key) {
    return previous != nullptr ? common::jsonString(*previous, key) : std::string();
  };
  if (previous != nullptr && previousField("status") == status) {
    std::string was = previousField("lastTransitionTime");
    if (!was.empty()) transition = was;
  }
  return {
      {"type", type},
      {"status", status},
      {"reason", reason},
      {"message", message},
      {"lastUpdateTime", (previousField("reason") == reason && previousField("status") == status &&
                          !previousField("lastUpdateTime").empty())
                             ? previousField("lastUpdateTime")
                             : now},
      {"lastTransitionTime", transition}};
}

}  // namespace

std::string podTemplateHash(const Json& podTemplate) {
  std::string text = common::dumpJson(templateWithoutHash(podTemplate));
  std::uint32_t h = 2166136261u;
  for (unsigned char c : text) {
    h ^= c;
    h *= 16777619u;
  }
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string enc;
  std::uint32_t v = h;
  for (int i = 0; i < 10; ++i) {
    enc += kAlphabet[v % 27];
    v /= 27;
    if (v == 0) break;
  }
  return enc;
}

std::pair<long long, long long> resolveSurgeUnavailable(const Json& ru, long long replicas) {
  // Unset (or null) is Kubernetes' default, 25%.
  auto field = [&](const char* key) {
    const Json& v = common::jsonField(ru, key);
    return v.is_null() ? Json("25%") : v;
  };
  long long surge = intOrPercent(field("maxSurge"), replicas, true, 1);
  long long unavailable = intOrPercent(field("maxUnavailable"), replicas, false, 0);
  if (surge == 0 && unavailable == 0) unavailable = 1;  // as Kubernetes: progress must be possible
  return {std::max(0LL, surge), std::max(0LL, unavailable)};
}

DeploymentController::DeploymentController(Client& client, Informer& deployments,
                                           Informer& replicaSets)
    : Controller("deployment", 4),
      client_(client),
      deployments_(deployments),
      replicaSets_(replicaSets) {}

void DeploymentController::registerHandlers() {
  auto enqueue = [this](const ObjectPtr& d) { queue().add(objectKeyOf(*d)); };
  deployments_.addHandlers(
      {enqueue, [enqueue](const ObjectPtr&, const ObjectPtr& n) { enqueue(n); }, nullptr});
  auto owner = [this](const ObjectPtr& rs) {
    auto ref = kube::ObjectView(*rs).controllerRef();
    if (ref && ref->kind == "Deployment") {
      queue().add(kube::ObjectView(*rs).ns() + "/" + ref->name);
    }
  };
  replicaSets_.addHandlers(
      {owner, [owner](const ObjectPtr&, const ObjectPtr& n) { owner(n); }, owner});
}

namespace {

// One reconcile pass over one Deployment: what the caches show, and the writes it makes.
struct Rollout {
  Client& client;
  const Json& dep;
  kube::DeploymentView view;
  std::string ns;
  std::string name;
  long long replicas = 1;
  std::vector<ObjectPtr> owned;  // the ReplicaSets the Deployment controls
  ObjectPtr newRs;               // the one whose template is the Deployment's
  std::vector<ObjectPtr> olds;   // the others, oldest revision first
  long long maxRevision = 0;

  // Sets a ReplicaSet's spec.replicas (and the desired-replicas annotation) when it differs.
  common::Status scale(const ObjectPtr& rs, long long to) {
    if (replicasOf(rs) == to) return common::Status::ok();
    Json patch = {{"spec", {{"replicas", to}}},
                  {"metadata",
                   {{"annotations",
                     {{"deployment.kubernetes.io/desired-replicas", std::to_string(replicas)}}}}}};
    auto r = client.patch(rsResource(), ns, kube::ObjectView(*rs).name(), patch);
    return r.isOk() ? common::Status::ok() : r.status();
  }
};

void findReplicaSets(Rollout& ro, const Informer& replicaSets) {
  const std::string uid = ro.view.uid();
  const Json wanted = templateWithoutHash(ro.view.podTemplate());
  for (const auto& rs : replicaSets.listNamespace(ro.ns)) {
    auto ref = kube::ObjectView(*rs).controllerRef();
    if (ref && ref->uid == uid) ro.owned.push_back(rs);
  }
  for (const auto& rs : ro.owned) {
    ro.maxRevision = std::max(ro.maxRevision, revisionOf(*rs));
    if (templateWithoutHash(kube::ReplicaSetView(*rs).podTemplate()) == wanted) {
      ro.newRs = rs;
    }
  }
  for (const auto& rs : ro.owned) {
    if (rs != ro.newRs) ro.olds.push_back(rs);
  }
  std::sort(ro.olds.begin(), ro.olds.end(),
            [](const ObjectPtr& a, const ObjectPtr& b) { return revisionOf(*a) < revisionOf(*b); });
}

// The new ReplicaSet, named by the template hash, created at 0 replicas with the next revision;
// the next pass scales it within the rollout's bounds.
common::Status createNewReplicaSet(Rollout& ro) {
  const Json& tmpl = ro.view.podTemplate();
  const std::string hash = podTemplateHash(tmpl);
  Json rsTmpl = tmpl;
  rsTmpl["metadata"]["labels"]["pod-template-hash"] = hash;
  Json selector = ro.view.selector();
  selector["matchLabels"]["pod-template-hash"] = hash;
  Json labels = common::jsonField(common::jsonField(tmpl, "metadata"), "labels");
  labels["pod-template-hash"] = hash;
  Json rs = {{"apiVersion", "apps/v1"},
             {"kind", "ReplicaSet"},
             {"metadata",
              {{"name", ro.name + "-" + hash},
               {"namespace", ro.ns},
               {"labels", labels},
               {"annotations",
                {{kRevision, std::to_string(ro.maxRevision + 1)},
                 {"deployment.kubernetes.io/desired-replicas", std::to_string(ro.replicas)},
                 {"deployment.kubernetes.io/max-replicas", std::to_string(ro.replicas)}}},
               {"ownerReferences", Json::array({kube::ObjectView(ro.dep).ownerRefJson()})}}},
             {"spec",
              {{"replicas", 0},
               {"minReadySeconds", ro.view.minReadySeconds()},
               {"selector", selector},
               {"template", rsTmpl}}}};
  auto r = ro.client.create(rsResource(), ro.ns, rs);
  if (!r.isOk() && r.status().code() != common::StatusCode::kAlreadyExists) return r.status();
  return common::Status::ok();  // the RS add event brings us back with it in the cache
}

// Recreate: every old ReplicaSet to 0, the new one up only once no old pod is left.
common::Status scaleRecreate(Rollout& ro) {
  bool oldRunning = false;
  for (const auto& rs : ro.olds) {
    SKIFF_RETURN_IF_ERROR(ro.scale(rs, 0));
    if (kube::ReplicaSetView(*rs).statusReplicas() > 0) oldRunning = true;
  }
  if (!oldRunning) SKIFF_RETURN_IF_ERROR(ro.scale(ro.newRs, ro.replicas));
  return common::Status::ok();
}

// RollingUpdate, kube-controller-manager's rules: the new ReplicaSet grows within replicas +
// maxSurge; old ones shrink, never below replicas - maxUnavailable available pods.
common::Status scaleRolling(Rollout& ro) {
  auto [surge, unavailable] = resolveSurgeUnavailable(ro.view.rollingUpdate(), ro.replicas);
  long long oldCount = 0;
  for (const auto& rs : ro.olds) oldCount += replicasOf(rs);
  long long newReplicas = replicasOf(ro.newRs);
  if (newReplicas > ro.replicas) {
    newReplicas = ro.replicas;
  } else if (newReplicas < ro.replicas) {
    long long room = ro.replicas + surge - (newReplicas + oldCount);
    if (room > 0) newReplicas += std::min(room, ro.replicas - newReplicas);
  }
  SKIFF_RETURN_IF_ERROR(ro.scale(ro.newRs, newReplicas));
  if (oldCount == 0) return common::Status::ok();
  long long minAvailable = ro.replicas - unavailable;
  long long newUnavailable = std::max(0LL, newReplicas - availableOf(ro.newRs));
  long long maxScaledDown = newReplicas + oldCount - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return common::Status::ok();
  std::vector<long long> current;
  for (const auto& rs : ro.olds) current.push_back(replicasOf(rs));
  // First the old pods that are not available: removing them costs no availability.
  long long cleaned = 0;
  for (std::size_t i = 0; i < ro.olds.size() && cleaned < maxScaledDown; ++i) {
    long long unhealthy = current[i] - availableOf(ro.olds[i]);
    if (unhealthy <= 0) continue;
    long long cut = std::min(maxScaledDown - cleaned, unhealthy);
    SKIFF_RETURN_IF_ERROR(ro.scale(ro.olds[i], current[i] - cut));
    current[i] -= cut;
    cleaned += cut;
  }
  // An old ReplicaSet's status may still count pods its lowered spec is deleting: it keeps at
  // most current[i] of them available.
  long long availableAll = availableOf(ro.newRs);
  for (std::size_t i = 0; i < ro.olds.size(); ++i) {
    availableAll += std::min(availableOf(ro.olds[i]), current[i]);
  }
  long long toCut = availableAll - minAvailable;
  for (std::size_t i = 0; i < ro.olds.size() && toCut > 0; ++i) {
    long long cut = std::min(current[i], toCut);
    if (cut <= 0) continue;
    SKIFF_RETURN_IF_ERROR(ro.scale(ro.olds[i], current[i] - cut));
    current[i] -= cut;
    toCut -= cut;
  }
  return common::Status::ok();
}

// History clean-up: drops the oldest fully scaled-down ReplicaSets beyond revisionHistoryLimit.
common::Status cleanUpHistory(Rollout& ro) {
  long long limit = ro.view.revisionHistoryLimit();
  std::vector<ObjectPtr> idle;
  for (const auto& rs : ro.olds) {
    if (replicasOf(rs) == 0 && kube::ReplicaSetView(*rs).statusReplicas() == 0) {
      idle.push_back(rs);
    }
  }
  for (std::size_t i = 0; static_cast<long long>(idle.size() - i) > limit; ++i) {
    auto r = ro.client.remove(rsResource(), ro.ns, kube::ObjectView(*idle[i]).name());
    if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
  }
  return common::Status::ok();
}

// Status counts and the Available/Progressing conditions `kubectl rollout status` reads.
common::Status updateStatus(Rollout& ro) {
  long long statusReplicas = 0;
  long long ready = 0;
  long long available = 0;
  for (const auto& rs : ro.owned) {
    const kube::ReplicaSetView v(*rs);
    statusReplicas += v.statusReplicas();
    ready += v.readyReplicas();
    available += v.availableReplicas();
  }
  long long updated = kube::ReplicaSetView(*ro.newRs).statusReplicas();
  Json status = common::jsonField(ro.dep, "status");
  if (!status.is_object()) status = Json::object();
  Json next = status;
  next["observedGeneration"] = ro.view.generation();
  next["replicas"] = statusReplicas;
  next["updatedReplicas"] = updated;
  next["readyReplicas"] = ready;
  next["availableReplicas"] = available;
  next["unavailableReplicas"] = std::max(0LL, statusReplicas - available);
  long long unavailable = resolveSurgeUnavailable(ro.view.rollingUpdate(), ro.replicas).second;
  const Json* prevAvail = nullptr;
  const Json* prevProg = nullptr;
  const Json& conds = common::jsonField(status, "conditions");
  for (const auto& c : conds) {
    if (common::jsonString(c, "type") == "Available") prevAvail = &c;
    if (common::jsonString(c, "type") == "Progressing") prevProg = &c;
  }
  bool minAvailable = available >= ro.replicas - unavailable;
  bool complete = updated == ro.replicas && statusReplicas == ro.replicas &&
                  available == ro.replicas && replicasOf(ro.newRs) == ro.replicas;
  std::string rsName = kube::ObjectView(*ro.newRs).name();
  next["conditions"] = Json::array(
      {condition("Available", minAvailable ? "True" : "False",
                 minAvailable ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                 minAvailable ? "Deployment has minimum availability."
                              : "Deployment does not have minimum availability.",
                 prevAvail),
       condition("Progressing", "True", complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
                 complete ? "ReplicaSet \"" + rsName + "\" has successfully progressed."
                          : "ReplicaSet \"" + rsName + "\" is progressing.",
                 prevProg)});
  if (next == status) return common::Status::ok();
  Json obj = ro.dep;
  obj["status"] = next;
  auto r = ro.client.update(depResource(), obj, "status");
  if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
  return common::Status::ok();
}

}  // namespace

common::Status DeploymentController::reconcile(const std::string& key) {
  ObjectPtr dep = deployments_.get(key);
  if (!dep || kube::ObjectView(*dep).deleting()) return common::Status::ok();
  auto [ns, name] = splitKey(key);
  Rollout ro{client_, *dep, kube::DeploymentView(*dep), ns, name};
  ro.replicas = ro.view.replicas();
  findReplicaSets(ro, replicaSets_);
  if (ro.view.paused()) return common::Status::ok();

  if (!ro.newRs) return createNewReplicaSet(ro);
  // The new ReplicaSet carries the newest revision (a rollback re-stamps an old template).
  if (revisionOf(*ro.newRs) < ro.maxRevision) {
    Json patch = {
        {"metadata", {{"annotations", {{kRevision, std::to_string(ro.maxRevision + 1)}}}}}};
    auto r = client_.patch(rsResource(), ns, kube::ObjectView(*ro.newRs).name(), patch);
    return r.isOk() ? common::Status::ok() : r.status();
  }
  // The Deployment carries its new ReplicaSet's revision (kubectl rollout history/undo read it).
  std::string newRevision = std::to_string(revisionOf(*ro.newRs));
  if (ro.view.annotation(kRevision) != newRevision) {
    Json patch = {{"metadata", {{"annotations", {{kRevision, newRevision}}}}}};
    auto r = client_.patch(depResource(), ns, name, patch);
    if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
    return common::Status::ok();  // the update event brings us back
  }

  bool recreate = ro.view.strategyType() == "Recreate";
  SKIFF_RETURN_IF_ERROR(recreate ? scaleRecreate(ro) : scaleRolling(ro));
  SKIFF_RETURN_IF_ERROR(cleanUpHistory(ro));
  return updateStatus(ro);
}

}  // namespace skiff::control_plane::controllers
