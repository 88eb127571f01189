// Deployment controller implementation.
#include "control_plane/controllers/deployment_controller.h"

#include <algorithm>
#include <cmath>

#include "common/clock.h"
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
  auto a = rs["metadata"].value("annotations", Json::object());
  try {
    return std::stoll(a.value(kRevision, "0"));
  } catch (const std::exception&) {
    return 0;
  }
}

long long replicasOf(const Json& rs) {
  return rs.value("spec", Json::object()).value("replicas", 0LL);
}
long long statusOf(const Json& rs, const char* f) {
  return rs.value("status", Json::object()).value(f, 0LL);
}

Json condition(const std::string& type, const std::string& status, const std::string& reason,
               const std::string& message, const Json* previous) {
  std::string now = common::formatRfc3339(std::chrono::system_clock::now());
  std::string transition = now;
  if (previous != nullptr && previous->value("status", "") == status) {
    transition = previous->value("lastTransitionTime", now);
  }
  return {{"type", type},
          {"status", status},
          {"reason", reason},
          {"message", message},
          {"lastUpdateTime", (previous && previous->value("reason", "") == reason &&
                              previous->value("status", "") == status)
                                 ? previous->value("lastUpdateTime", now)
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
  long long surge = intOrPercent(ru.is_object() ? ru.value("maxSurge", Json("25%")) : Json("25%"),
                                 replicas, true, 1);
  long long unavailable = intOrPercent(
      ru.is_object() ? ru.value("maxUnavailable", Json("25%")) : Json("25%"), replicas, false, 0);
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
    auto ref = controllerRef(*rs);
    if (ref && ref->kind == "Deployment") {
      queue().add(apiserver::metaString(*rs, "namespace") + "/" + ref->name);
    }
  };
  replicaSets_.addHandlers(
      {owner, [owner](const ObjectPtr&, const ObjectPtr& n) { owner(n); }, owner});
}

common::Status DeploymentController::reconcile(const std::string& key) {
  ObjectPtr dep = deployments_.get(key);
  if (!dep || !apiserver::metaString(*dep, "deletionTimestamp").empty()) {
    return common::Status::ok();
  }
  auto [ns, name] = splitKey(key);
  std::string uid = apiserver::metaString(*dep, "uid");
  const Json spec = dep->value("spec", Json::object());
  const Json tmpl = spec.value("template", Json::object());
  long long replicas = spec.value("replicas", 1LL);
  bool paused = spec.value("paused", false);
  std::string hash = podTemplateHash(tmpl);
  Json wanted = templateWithoutHash(tmpl);

  std::vector<ObjectPtr> owned;
  for (const auto& rs : replicaSets_.listNamespace(ns)) {
    auto ref = controllerRef(*rs);
    if (ref && ref->uid == uid) owned.push_back(rs);
  }
  ObjectPtr newRs;
  long long maxRevision = 0;
  for (const auto& rs : owned) {
    maxRevision = std::max(maxRevision, revisionOf(*rs));
    if (templateWithoutHash(rs->value("spec", Json::object()).value("template", Json::object())) ==
        wanted) {
      newRs = rs;
    }
  }
  std::vector<ObjectPtr> olds;
  for (const auto& rs : owned) {
    if (rs != newRs) olds.push_back(rs);
  }
  std::sort(olds.begin(), olds.end(),
            [](const ObjectPtr& a, const ObjectPtr& b) { return revisionOf(*a) < revisionOf(*b); });

  if (paused) return common::Status::ok();

  // The new ReplicaSet: created, or re-stamped with the newest revision (rollback/undo).
  if (!newRs) {
    std::string rsHash = hash;
    Json rsTmpl = tmpl;
    rsTmpl["metadata"]["labels"]["pod-template-hash"] = rsHash;
    Json selector = spec.value("selector", Json::object());
    selector["matchLabels"]["pod-template-hash"] = rsHash;
    // Created at 0 replicas; the next pass scales it within the rollout's bounds.
    long long initial = 0;
    Json labels = tmpl.value("metadata", Json::object()).value("labels", Json::object());
    labels["pod-template-hash"] = rsHash;
    Json rs = {{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"metadata",
                {{"name", name + "-" + rsHash},
                 {"namespace", ns},
                 {"labels", labels},
                 {"annotations",
                  {{kRevision, std::to_string(maxRevision + 1)},
                   {"deployment.kubernetes.io/desired-replicas", std::to_string(replicas)},
                   {"deployment.kubernetes.io/max-replicas", std::to_string(replicas)}}},
                 {"ownerReferences", Json::array({ownerRefJson(*dep)})}}},
               {"spec",
                {{"replicas", initial},
                 {"minReadySeconds", spec.value("minReadySeconds", 0)},
                 {"selector", selector},
                 {"template", rsTmpl}}}};
    auto r = client_.create(rsResource(), ns, rs);
    if (!r.isOk() && r.status().code() != common::StatusCode::kAlreadyExists) return r.status();
    return common::Status::ok();  // the RS add event brings us back with it in the cache
  }
  if (revisionOf(*newRs) < maxRevision) {
    Json patch = {{"metadata", {{"annotations", {{kRevision, std::to_string(maxRevision + 1)}}}}}};
    auto r = client_.patch(rsResource(), ns, apiserver::metaString(*newRs, "name"), patch);
    if (!r.isOk()) return r.status();
    return common::Status::ok();
  }

  // The Deployment carries its new ReplicaSet's revision (kubectl rollout history/undo read it).
  std::string newRevision = std::to_string(revisionOf(*newRs));
  if (dep->value("metadata", Json::object())
          .value("annotations", Json::object())
          .value(kRevision, "") != newRevision) {
    Json patch = {{"metadata", {{"annotations", {{kRevision, newRevision}}}}}};
    auto r = client_.patch(depResource(), ns, name, patch);
    if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
    return common::Status::ok();  // the update event brings us back
  }

  auto scale = [&](const ObjectPtr& rs, long long to) -> common::Status {
    if (replicasOf(*rs) == to) return common::Status::ok();
    Json patch = {{"spec", {{"replicas", to}}},
                  {"metadata",
                   {{"annotations",
                     {{"deployment.kubernetes.io/desired-replicas", std::to_string(replicas)}}}}}};
    auto r = client_.patch(rsResource(), ns, apiserver::metaString(*rs, "name"), patch);
    return r.isOk() ? common::Status::ok() : r.status();
  };

  std::string strategy = spec.value("strategy", Json::object()).value("type", "RollingUpdate");
  if (strategy == "Recreate") {
    bool oldRunning = false;
    for (const auto& rs : olds) {
      SKIFF_RETURN_IF_ERROR(scale(rs, 0));
      if (statusOf(*rs, "replicas") > 0) oldRunning = true;
    }
    if (!oldRunning) SKIFF_RETURN_IF_ERROR(scale(newRs, replicas));
  } else {
    auto [surge, unavailable] = resolveSurgeUnavailable(
        spec.value("strategy", Json::object()).value("rollingUpdate", Json::object()), replicas);
    // Scale up the new ReplicaSet within replicas + maxSurge (kube-controller-manager's rules).
    long long oldCount = 0;
    for (const auto& rs : olds) oldCount += replicasOf(*rs);
    long long newReplicas = replicasOf(*newRs);
    if (newReplicas > replicas) {
      newReplicas = replicas;
    } else if (newReplicas < replicas) {
      long long room = replicas + surge - (newReplicas + oldCount);
      if (room > 0) newReplicas += std::min(room, replicas - newReplicas);
    }
    SKIFF_RETURN_IF_ERROR(scale(newRs, newReplicas));
    // Scale down old ReplicaSets, never below replicas - maxUnavailable available pods.
    if (oldCount > 0) {
      long long minAvailable = replicas - unavailable;
      long long newUnavailable = std::max(0LL, newReplicas - statusOf(*newRs, "availableReplicas"));
      long long maxScaledDown = newReplicas + oldCount - minAvailable - newUnavailable;
      if (maxScaledDown > 0) {
        std::vector<long long> current;
        for (const auto& rs : olds) current.push_back(replicasOf(*rs));
        // First the old pods that are not available: removing them costs no availability.
        long long cleaned = 0;
        for (std::size_t i = 0; i < olds.size() && cleaned < maxScaledDown; ++i) {
          long long unhealthy = current[i] - statusOf(*olds[i], "availableReplicas");
          if (unhealthy <= 0) continue;
          long long cut = std::min(maxScaledDown - cleaned, unhealthy);
          SKIFF_RETURN_IF_ERROR(scale(olds[i], current[i] - cut));
          current[i] -= cut;
          cleaned += cut;
        }
        // An old ReplicaSet's status may still count pods its lowered spec is deleting: it
        // keeps at most current[i] of them available.
        long long availableAll = statusOf(*newRs, "availableReplicas");
        for (std::size_t i = 0; i < olds.size(); ++i) {
          availableAll += std::min(statusOf(*olds[i], "availableReplicas"), current[i]);
        }
        long long toCut = availableAll - minAvailable;
        for (std::size_t i = 0; i < olds.size() && toCut > 0; ++i) {
          long long cut = std::min(current[i], toCut);
          if (cut <= 0) continue;
          SKIFF_RETURN_IF_ERROR(scale(olds[i], current[i] - cut));
          current[i] -= cut;
          toCut -= cut;
        }
      }
    }
  }

  // History clean-up: drop the oldest fully scaled-down ReplicaSets beyond the limit.
  long long limit = spec.value("revisionHistoryLimit", 10LL);
  std::vector<ObjectPtr> idle;
  for (const auto& rs : olds) {
    if (replicasOf(*rs) == 0 && statusOf(*rs, "replicas") == 0) idle.push_back(rs);
  }
  for (std::size_t i = 0; static_cast<long long>(idle.size() - i) > limit; ++i) {
    auto r = client_.remove(rsResource(), ns, apiserver::metaString(*idle[i], "name"));
    if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
  }

  // Status.
  long long statusReplicas = 0;
  long long ready = 0;
  long long available = 0;
  for (const auto& rs : owned) {
    statusReplicas += statusOf(*rs, "replicas");
    ready += statusOf(*rs, "readyReplicas");
    available += statusOf(*rs, "availableReplicas");
  }
  long long updated = statusOf(*newRs, "replicas");
  Json status = dep->value("status", Json::object());
  Json next = status;
  next["observedGeneration"] = dep->value("metadata", Json::object()).value("generation", 1LL);
  next["replicas"] = statusReplicas;
  next["updatedReplicas"] = updated;
  next["readyReplicas"] = ready;
  next["availableReplicas"] = available;
  next["unavailableReplicas"] = std::max(0LL, statusReplicas - available);
  auto [surge, unavailable] = resolveSurgeUnavailable(
      spec.value("strategy", Json::object()).value("rollingUpdate", Json::object()), replicas);
  (void)surge;
  const Json* prevAvail = nullptr;
  const Json* prevProg = nullptr;
  Json conds = status.value("conditions", Json::array());
  for (const auto& c : conds) {
    if (c.value("type", "") == "Available") prevAvail = &c;
    if (c.value("type", "") == "Progressing") prevProg = &c;
  }
  bool minAvailable = available >= replicas - unavailable;
  bool complete = updated == replicas && statusReplicas == replicas && available == replicas &&
                  replicasOf(*newRs) == replicas;
  std::string rsName = apiserver::metaString(*newRs, "name");
  Json newConds = Json::array(
      {condition("Available", minAvailable ? "True" : "False",
                 minAvailable ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                 minAvailable ? "Deployment has minimum availability."
                              : "Deployment does not have minimum availability.",
                 prevAvail),
       condition("Progressing", "True", complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
                 complete ? "ReplicaSet \"" + rsName + "\" has successfully progressed."
                          : "ReplicaSet \"" + rsName + "\" is progressing.",
                 prevProg)});
  next["conditions"] = newConds;
  if (next != status) {
    Json obj = *dep;
    obj["status"] = next;
    auto r = client_.update(depResource(), obj, "status");
    if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
  }
  return common::Status::ok();
}

}  // namespace skiff::control_plane::controllers
