// FakeKubeClient (see fake_kube_client.h).
#include "tests/support/fake_kube_client.h"

#include "control_plane/apiserver/patch.h"

namespace skiff::test {

using common::Json;
using common::Result;
using common::Status;
namespace apiserver = control_plane::apiserver;

namespace {
std::string meta(const Json& obj, const char* field) {
  const Json& m = common::jsonField(obj, "metadata");
  return common::jsonString(m, field);
}
Status notFound(const apiserver::ResourceInfo& r, const std::string& name) {
  return common::notFound(r.qualifiedResource() + " \"" + name + "\" not found");
}
}  // namespace

FakeKubeClient::Key FakeKubeClient::keyOf(const ResourceInfo& r, const std::string& ns,
                                          const std::string& name) const {
  return {r.resource, r.namespaced ? ns : "", name};
}

Json FakeKubeClient::storeLocked(const Key& key, Json obj) {
  obj["metadata"]["resourceVersion"] = std::to_string(++revision_);
  objects_[key] = obj;
  return obj;
}

std::optional<Status> FakeKubeClient::injectedLocked(const std::string& verb,
                                                     const std::string& res) {
  auto it = failures_.find({verb, res});
  if (it == failures_.end()) return std::nullopt;
  Status s = it->second;
  failures_.erase(it);
  return s;
}

void FakeKubeClient::seed(const ResourceInfo& r, Json obj) {
  std::lock_guard lock(mu_);
  if (meta(obj, "uid").empty()) obj["metadata"]["uid"] = "uid-" + meta(obj, "name");
  Key key = keyOf(r, meta(obj, "namespace"), meta(obj, "name"));  // before obj is moved
  storeLocked(key, std::move(obj));
}

std::optional<Json> FakeKubeClient::object(const ResourceInfo& r, const std::string& ns,
                                           const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = objects_.find(keyOf(r, ns, name));
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

std::vector<KubeAction> FakeKubeClient::writes() const {
  std::lock_guard lock(mu_);
  std::vector<KubeAction> out;
  for (const auto& a : actions_) {
    if (a.verb != "get" && a.verb != "list") out.push_back(a);
  }
  return out;
}

void FakeKubeClient::clearActions() {
  std::lock_guard lock(mu_);
  actions_.clear();
}

void FakeKubeClient::failNext(const std::string& verb, const std::string& resource, Status status) {
  std::lock_guard lock(mu_);
  failures_[{verb, resource}] = std::move(status);
}

Result<Json> FakeKubeClient::get(const ResourceInfo& r, const std::string& ns,
                                 const std::string& name) {
  std::lock_guard lock(mu_);
  actions_.push_back({"get", r.resource, ns, name, "", Json()});
  if (auto s = injectedLocked("get", r.resource)) return *s;
  auto it = objects_.find(keyOf(r, ns, name));
  if (it == objects_.end()) return notFound(r, name);
  return it->second;
}

Result<Json> FakeKubeClient::list(const ResourceInfo& r, const std::string& ns) {
  std::lock_guard lock(mu_);
  actions_.push_back({"list", r.resource, ns, "", "", Json()});
  if (auto s = injectedLocked("list", r.resource)) return *s;
  Json items = Json::array();
  for (const auto& [key, obj] : objects_) {
    if (std::get<0>(key) == r.resource && (ns.empty() || std::get<1>(key) == ns)) {
      items.push_back(obj);
    }
  }
  return Json{{"kind", r.kind + "List"},
              {"metadata", {{"resourceVersion", std::to_string(revision_)}}},
              {"items", std::move(items)}};
}

Result<Json> FakeKubeClient::create(const ResourceInfo& r, const std::string& ns, const Json& obj) {
  std::lock_guard lock(mu_);
  Json stored = obj;
  std::string name = meta(obj, "name");
  if (name.empty() && !meta(obj, "generateName").empty()) {
    name = meta(obj, "generateName") + "fake" + std::to_string(++generated_);
    stored["metadata"]["name"] = name;
  }
  actions_.push_back({"create", r.resource, ns, name, "", obj});
  if (auto s = injectedLocked("create", r.resource)) return *s;
  if (name.empty()) return common::invalidArgument("metadata.name: Required value");
  Key key = keyOf(r, ns, name);
  if (objects_.contains(key)) {
    return common::alreadyExists(r.qualifiedResource() + " \"" + name + "\" already exists");
  }
  if (r.namespaced) stored["metadata"]["namespace"] = ns;
  stored["metadata"]["uid"] = "uid-" + name;
  return storeLocked(key, std::move(stored));
}

Result<Json> FakeKubeClient::update(const ResourceInfo& r, const Json& obj,
                                    const std::string& subresource) {
  std::lock_guard lock(mu_);
  const std::string ns = meta(obj, "namespace");
  const std::string name = meta(obj, "name");
  actions_.push_back({"update", r.resource, ns, name, subresource, obj});
  if (auto s = injectedLocked("update", r.resource)) return *s;
  Key key = keyOf(r, ns, name);
  auto it = objects_.find(key);
  if (it == objects_.end()) return notFound(r, name);
  Json next = it->second;
  if (subresource == "status") {
    next["status"] = common::jsonField(obj, "status");
  } else if (subresource == "finalize") {
    next["spec"]["finalizers"] = common::jsonField(common::jsonField(obj, "spec"), "finalizers");
  } else {
    next = obj;
    if (next.contains("status") || it->second.contains("status")) {
      next["status"] = common::jsonField(it->second, "status");  // status only via its subresource
    }
  }
  return storeLocked(key, std::move(next));
}

Result<Json> FakeKubeClient::patch(const ResourceInfo& r, const std::string& ns,
                                   const std::string& name, const Json& patch,
                                   const std::string& contentType, const std::string& subresource) {
  std::lock_guard lock(mu_);
  actions_.push_back({"patch", r.resource, ns, name, subresource, patch});
  if (auto s = injectedLocked("patch", r.resource)) return *s;
  Key key = keyOf(r, ns, name);
  auto it = objects_.find(key);
  if (it == objects_.end()) return notFound(r, name);
  auto type = apiserver::patchTypeFromContentType(contentType);
  if (!type.isOk()) return type.status();
  auto patched = apiserver::applyPatch(*type, it->second, patch);
  if (!patched.isOk()) return patched.status();
  return storeLocked(key, std::move(*patched));
}

Result<Json> FakeKubeClient::remove(const ResourceInfo& r, const std::string& ns,
                                    const std::string& name, const Json& deleteOptions) {
  std::lock_guard lock(mu_);
  actions_.push_back({"delete", r.resource, ns, name, "", deleteOptions});
  if (auto s = injectedLocked("delete", r.resource)) return *s;
  auto it = objects_.find(keyOf(r, ns, name));
  if (it == objects_.end()) return notFound(r, name);
  Json gone = it->second;
  objects_.erase(it);
  return gone;
}

Result<Json> FakeKubeClient::removeCollection(const ResourceInfo& r, const std::string& ns,
                                              const Json& deleteOptions) {
  std::lock_guard lock(mu_);
  actions_.push_back({"deletecollection", r.resource, ns, "", "", deleteOptions});
  if (auto s = injectedLocked("deletecollection", r.resource)) return *s;
  Json items = Json::array();
  for (auto it = objects_.begin(); it != objects_.end();) {
    if (std::get<0>(it->first) == r.resource && (ns.empty() || std::get<1>(it->first) == ns)) {
      items.push_back(it->second);
      it = objects_.erase(it);
    } else {
      ++it;
    }
  }
  return Json{{"kind", r.kind + "List"}, {"items", std::move(items)}};
}

Status FakeKubeClient::bind(const std::string& ns, const std::string& pod,
                            const std::string& node) {
  std::lock_guard lock(mu_);
  actions_.push_back({"bind", "pods", ns, pod, "binding", Json{{"target", {{"name", node}}}}});
  if (auto s = injectedLocked("bind", "pods")) return *s;
  auto it = objects_.find({"pods", ns, pod});
  if (it == objects_.end()) return common::notFound("pods \"" + pod + "\" not found");
  it->second["spec"]["nodeName"] = node;
  it->second["metadata"]["resourceVersion"] = std::to_string(++revision_);
  return Status::ok();
}

void seedInformer(FakeKubeClient& client, const apiserver::ResourceInfo& r,
                  control_plane::controllers::Informer& inf, const Json& obj) {
  client.seed(r, obj);
  inf.add(*client.object(r, r.namespaced ? meta(obj, "namespace") : "", meta(obj, "name")));
}

}  // namespace skiff::test
