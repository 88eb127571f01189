// ReplicaSet controller implementation.
#include "control_plane/controllers/replicaset_controller.h"

#include <algorithm>

#include "common/kube/objects.h"
#include "common/label_selector.h"
#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::controllers {

namespace {
const apiserver::ResourceInfo& podsResource() { return *apiserver::findResource("", "v1", "pods"); }
const apiserver::ResourceInfo& rsResource() {
  return *apiserver::findResource("apps", "v1", "replicasets");
}
constexpr auto kExpectationTimeout = std::chrono::minutes(5);
}  // namespace

ReplicaSetController::ReplicaSetController(Client& client, Informer& replicaSets, Informer& pods)
    : Controller("replicaset", 4), client_(client), replicaSets_(replicaSets), pods_(pods) {}

void ReplicaSetController::registerHandlers() {
  auto enqueue = [this](const ObjectPtr& rs) { queue().add(objectKeyOf(*rs)); };
  replicaSets_.addHandlers({enqueue,
                            [enqueue](const ObjectPtr&, const ObjectPtr& n) { enqueue(n); },
                            [this](const ObjectPtr& rs) {
                              std::lock_guard lock(mu_);
                              expectations_.erase(objectKeyOf(*rs));
                            }});
  pods_.addHandlers({[this](const ObjectPtr& p) { podEvent(p, true, false); },
                     [this](const ObjectPtr& o, const ObjectPtr& p) {
                       podEvent(p, false, false);
                       if (kube::PodView(*p).deleting() && !kube::PodView(*o).deleting())
                         podEvent(p, false, true);
                     },
                     [this](const ObjectPtr& p) { podEvent(p, false, true); }});
}

void ReplicaSetController::podEvent(const ObjectPtr& pod, bool added, bool deleted) {
  auto ref = kube::ObjectView(*pod).controllerRef();
  if (!ref || ref->kind != "ReplicaSet") return;
  std::string key = kube::ObjectView(*pod).ns() + "/" + ref->name;
  {
    std::lock_guard lock(mu_);
    auto it = expectations_.find(key);
    if (it != expectations_.end()) {
      if (added && it->second.adds > 0) --it->second.adds;
      if (deleted && it->second.deletes > 0) --it->second.deletes;
    }
  }
  queue().add(key);
}

bool ReplicaSetController::satisfied(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = expectations_.find(key);
  if (it == expectations_.end()) return true;
  if ((it->second.adds <= 0 && it->second.deletes <= 0) ||
      std::chrono::steady_clock::now() - it->second.since > kExpectationTimeout) {
    expectations_.erase(it);
    return true;
  }
  return false;
}

common::Status ReplicaSetController::reconcile(const std::string& key) {
  ObjectPtr rs = replicaSets_.get(key);
  if (!rs) return common::Status::ok();
  auto [ns, name] = splitKey(key);
  const kube::ReplicaSetView view(*rs);
  const std::string uid = view.uid();
  auto selector = common::LabelSelector::fromJson(view.selector().is_object() ? view.selector()
                                                                              : Json::object());
  if (!selector.isOk()) return common::Status::ok();  // invalid objects are rejected on write

  std::vector<ObjectPtr> active;
  int ready = 0;
  int labeled = 0;
  for (const auto& p : pods_.listNamespace(ns)) {
    auto ref = kube::ObjectView(*p).controllerRef();
    const kube::PodView pod(*p);
    if (!ref || ref->uid != uid || !pod.active()) continue;
    active.push_back(p);
    if (pod.ready()) ++ready;
    if (selector->matches(pod.labelMap())) ++labeled;
  }
  const long long want = view.replicas();
  const bool deleting = view.deleting();
  if (satisfied(key) && !deleting) {
    long long diff = static_cast<long long>(active.size()) - want;
    if (diff < 0) {
      int n = static_cast<int>(std::min(-diff, 500LL));
      {
        std::lock_guard lock(mu_);
        expectations_[key] = {n, 0, std::chrono::steady_clock::now()};
      }
      const Json& tmpl = view.podTemplate();
      const Json& tmplMeta = common::jsonField(tmpl, "metadata");
      const Json& tmplSpec = common::jsonField(tmpl, "spec");
      Json pod = {{"apiVersion", "v1"},
                  {"kind", "Pod"},
                  {"metadata", tmplMeta.is_object() ? tmplMeta : Json::object()},
                  {"spec", tmplSpec.is_object() ? tmplSpec : Json::object()}};
      pod["metadata"]["generateName"] = name + "-";
      pod["metadata"]["namespace"] = ns;
      pod["metadata"].erase("name");
      pod["metadata"]["ownerReferences"] = Json::array({view.ownerRefJson()});
      for (int i = 0; i < n; ++i) {
        auto r = client_.create(podsResource(), ns, pod);
        if (!r.isOk()) {
          std::lock_guard lock(mu_);
          expectations_[key].adds -= (n - i);  // the failed ones will never be observed
          return r.status().withContext("creating pod for replicaset " + key);
        }
      }
    } else if (diff > 0) {
      // Least useful first: unscheduled, then pending, then not ready, then newest.
      std::sort(active.begin(), active.end(), [](const ObjectPtr& a, const ObjectPtr& b) {
        auto rank = [](const kube::PodView& p) {
          if (p.nodeName().empty()) return 0;
          if (p.phase() == "Pending") return 1;
          if (!p.ready()) return 2;
          return 3;
        };
        const kube::PodView pa(*a);
        const kube::PodView pb(*b);
        if (rank(pa) != rank(pb)) return rank(pa) < rank(pb);
        return pa.creationTimestamp() > pb.creationTimestamp();
      });
      int n = static_cast<int>(diff);
      {
        std::lock_guard lock(mu_);
        expectations_[key] = {0, n, std::chrono::steady_clock::now()};
      }
      for (int i = 0; i < n; ++i) {
        auto r = client_.remove(podsResource(), ns, kube::PodView(*active[i]).name());
        if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) {
          std::lock_guard lock(mu_);
          expectations_[key].deletes -= (n - i);
          return r.status();
        }
      }
    }
  }
  // Status reflects what the cache shows now; the next event refines it.
  Json status = common::jsonField(*rs, "status");
  if (!status.is_object()) status = Json::object();
  Json next = status;
  next["replicas"] = static_cast<long long>(active.size());
  next["fullyLabeledReplicas"] = labeled;
  next["readyReplicas"] = ready;
  next["availableReplicas"] = ready;
  next["observedGeneration"] = view.generation();
  if (next != status) {
    Json obj = *rs;
    obj["status"] = next;
    auto r = client_.update(rsResource(), obj, "status");
    if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
  }
  return common::Status::ok();
}

}  // namespace skiff::control_plane::controllers
