// Garbage collector implementation. Keys are "<resource>|<namespace>/<name>".
#include "control_plane/controllers/garbage_collector.h"
#include "common/kube/objects.h"

#include <algorithm>

namespace skiff::control_plane::controllers {

namespace {
std::vector<std::string> finalizersOf(const Json& obj) {
  std::vector<std::string> out;
  const Json& finalizers = common::jsonField(common::jsonField(obj, "metadata"), "finalizers");
  if (finalizers.is_array()) {
    for (const auto& f : finalizers) {
      if (f.is_string()) out.push_back(f.get<std::string>());
    }
  }
  return out;
}
bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}
}  // namespace

GarbageCollector::GarbageCollector(Client& client, std::map<std::string, Informer*> owners,
                                   std::vector<Informer*> dependents)
    : Controller("garbage-collector", 2),
      client_(client),
      owners_(std::move(owners)),
      dependents_(std::move(dependents)) {}

void GarbageCollector::registerHandlers() {
  for (Informer* inf : dependents_) {
    auto enqueue = [this, inf](const ObjectPtr& o) {
      if (!kube::ObjectView(*o).ownerRefs().empty())
        queue().add(inf->resource().resource + "|" + objectKeyOf(*o));
    };
    inf->addHandlers(
        {enqueue, [enqueue](const ObjectPtr&, const ObjectPtr& n) { enqueue(n); }, nullptr});
  }
  for (auto& [kind, inf] : owners_) {
    Informer* owner = inf;
    auto changed = [this, owner](const ObjectPtr& o) {
      if (kube::ObjectView(*o).deleting()) {
        queue().add(owner->resource().resource + "|" + objectKeyOf(*o));
      }
    };
    auto deleted = [this](const ObjectPtr& o) {
      for (auto& [inf, dep] : dependentsOf(*o)) {
        queue().add(inf->resource().resource + "|" + objectKeyOf(*dep));
      }
    };
    owner->addHandlers(
        {changed, [changed](const ObjectPtr&, const ObjectPtr& n) { changed(n); }, deleted});
  }
}

std::vector<std::pair<Informer*, ObjectPtr>> GarbageCollector::dependentsOf(const Json& owner) {
  std::vector<std::pair<Informer*, ObjectPtr>> out;
  std::string uid = kube::ObjectView(owner).uid();
  std::string ns = kube::ObjectView(owner).ns();
  for (Informer* inf : dependents_) {
    for (const auto& o : ns.empty() ? inf->list() : inf->listNamespace(ns)) {
      for (const auto& r : kube::ObjectView(*o).ownerRefs()) {
        if (r.uid == uid) {
          out.emplace_back(inf, o);
          break;
        }
      }
    }
  }
  return out;
}

common::Status GarbageCollector::reconcile(const std::string& key) {
  auto bar = key.find('|');
  std::string resource = key.substr(0, bar);
  std::string objKey = key.substr(bar + 1);
  for (auto& [kind, inf] : owners_) {
    if (inf->resource().resource == resource && inf->get(objKey) &&
        kube::ObjectView(*inf->get(objKey)).deleting()) {
      SKIFF_RETURN_IF_ERROR(reconcileOwner(*inf, objKey));
    }
  }
  for (Informer* inf : dependents_) {
    if (inf->resource().resource == resource) return reconcileDependent(*inf, objKey);
  }
  return common::Status::ok();
}

common::Status GarbageCollector::reconcileDependent(Informer& inf, const std::string& objKey) {
  ObjectPtr obj = inf.get(objKey);
  if (!obj || kube::ObjectView(*obj).deleting()) {
    return common::Status::ok();
  }
  auto refs = kube::ObjectView(*obj).ownerRefs();
  if (refs.empty()) return common::Status::ok();
  std::string ns = kube::ObjectView(*obj).ns();
  bool anyAlive = false;
  bool foreground = false;
  for (const auto& r : refs) {
    auto it = owners_.find(r.kind);
    if (it == owners_.end()) {
      anyAlive = true;  // an owner kind we do not track: never collect on its behalf
      continue;
    }
    ObjectPtr owner = it->second->get(ns.empty() ? r.name : ns + "/" + r.name);
    if (!owner || kube::ObjectView(*owner).uid() != r.uid) {
      // The informer may lag behind a just-created owner: confirm with a live read.
      auto live = client_.get(it->second->resource(), ns, r.name);
      if (!live.isOk() || kube::ObjectView(*live).uid() != r.uid) continue;
      anyAlive = true;
      continue;
    }
    if (kube::ObjectView(*owner).deleting() && has(finalizersOf(*owner), "foregroundDeletion")) {
      foreground = true;
      continue;
    }
    anyAlive = true;
  }
  if (anyAlive) return common::Status::ok();
  auto [depNs, name] = splitKey(objKey);
  Json opts = {{"propagationPolicy", foreground ? "Foreground" : "Background"},
               {"preconditions", {{"uid", kube::ObjectView(*obj).uid()}}}};
  auto r = client_.remove(inf.resource(), depNs, name, opts);
  if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound &&
      r.status().code() != common::StatusCode::kConflict) {
    return r.status();
  }
  return common::Status::ok();
}

common::Status GarbageCollector::reconcileOwner(Informer& inf, const std::string& objKey) {
  ObjectPtr owner = inf.get(objKey);
  if (!owner) return common::Status::ok();
  auto fins = finalizersOf(*owner);
  std::string uid = kube::ObjectView(*owner).uid();
  auto deps = dependentsOf(*owner);
  auto [ns, name] = splitKey(objKey);
  auto dropFinalizer = [&](const std::string& f) -> common::Status {
    Json current = *owner;
    std::vector<std::string> kept;
    for (const auto& x : fins) {
      if (x != f) kept.push_back(x);
    }
    Json patch = {
        {"metadata",
         {{"finalizers", kept}, {"resourceVersion", kube::ObjectView(*owner).resourceVersion()}}}};
    auto r = client_.patch(inf.resource(), ns, name, patch);
    if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
    return common::Status::ok();
  };
  if (has(fins, "orphan")) {
    for (auto& [depInf, dep] : deps) {
      Json refs = Json::array();
      for (const auto& r :
           common::jsonField(common::jsonField(*dep, "metadata"), "ownerReferences")) {
        if (common::jsonString(r, "uid") != uid) refs.push_back(r);
      }
      Json patch = {{"metadata", {{"ownerReferences", refs}}}};
      auto r = client_.patch(depInf->resource(), kube::ObjectView(*dep).ns(),
                             kube::ObjectView(*dep).name(), patch);
      if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
    }
    return dropFinalizer("orphan");
  }
  if (has(fins, "foregroundDeletion")) {
    bool blocking = false;
    for (auto& [depInf, dep] : deps) {
      blocking = true;
      if (!kube::ObjectView(*dep).deleting()) {
        queue().add(depInf->resource().resource + "|" + objectKeyOf(*dep));
      }
    }
    if (blocking) return common::Status::ok();  // dependents' deletion events bring us back
    return dropFinalizer("foregroundDeletion");
  }
  return common::Status::ok();
}

}  // namespace skiff::control_plane::controllers
