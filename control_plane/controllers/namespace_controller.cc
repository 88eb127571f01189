// Namespace controller implementation.
#include "control_plane/controllers/namespace_controller.h"

#include "common/kube/objects.h"
#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::controllers {

NamespaceController::NamespaceController(Client& client, Informer& namespaces, std::string caPem)
    : Controller("namespace", 2),
      client_(client),
      namespaces_(namespaces),
      caPem_(std::move(caPem)) {}

void NamespaceController::registerHandlers() {
  auto enqueue = [this](const ObjectPtr& ns) { queue().add(objectKeyOf(*ns)); };
  namespaces_.addHandlers(
      {enqueue, [enqueue](const ObjectPtr&, const ObjectPtr& n) { enqueue(n); }, nullptr});
}

common::Status NamespaceController::reconcile(const std::string& key) {
  ObjectPtr ns = namespaces_.get(key);
  if (!ns) return common::Status::ok();
  if (!kube::ObjectView(*ns).deleting()) {
    SKIFF_RETURN_IF_ERROR(ensureDefaultAccount(key));
    return ensureRootCa(key);
  }
  std::size_t remaining = 0;
  for (const auto& r : apiserver::allResources()) {
    if (!r.namespaced) continue;
    auto list = client_.list(r, key);
    if (!list.isOk()) continue;  // (counted again on the next pass)
    const Json& items = common::jsonField(*list, "items");
    if (!items.is_array() || items.empty()) continue;
    remaining += items.size();
    // Failures show as objects still there on the next pass.
    (void)client_.removeCollection(r, key, {{"propagationPolicy", "Background"}});
  }
  if (remaining > 0) {
    queue().addAfter(key, std::chrono::seconds(1));
    return common::Status::ok();
  }
  Json body = {{"apiVersion", "v1"},
               {"kind", "Namespace"},
               {"metadata", {{"name", key}}},
               {"spec", {{"finalizers", Json::array()}}}};
  auto done = client_.update(*apiserver::findResource("", "v1", "namespaces"), body, "finalize");
  if (!done.isOk() && done.status().code() != common::StatusCode::kNotFound) {
    return done.status().withContext("finalizing namespace " + key);
  }
  return common::Status::ok();
}

common::Status NamespaceController::ensureObject(const apiserver::ResourceInfo& r,
                                                 const std::string& ns, const Json& desired,
                                                 const char* ownedField) {
  const std::string name = kube::ObjectView(desired).name();
  auto got = client_.get(r, ns, name);
  common::Result<Json> written = Json();
  if (got.isOk()) {
    if (ownedField == nullptr ||
        got->value(ownedField, Json()) == desired.value(ownedField, Json())) {
      return common::Status::ok();
    }
    Json next = *got;
    next[ownedField] = desired[ownedField];
    written = client_.update(r, next);
  } else if (got.status().code() == common::StatusCode::kNotFound) {
    written = client_.create(r, ns, desired);
  } else {
    return got.status();
  }
  // AlreadyExists: a concurrent writer won. PermissionDenied: the namespace is being deleted and
  // refuses new objects; its deletion is seen next.
  if (written.isOk() || written.status().code() == common::StatusCode::kAlreadyExists ||
      written.status().code() == common::StatusCode::kPermissionDenied) {
    return common::Status::ok();
  }
  return written.status().withContext("writing " + r.resource + " " + ns + "/" + name);
}

// Every namespace has a "default" ServiceAccount (kube-controller-manager's serviceaccount
// controller); Skiff issues no tokens for it, it is there for manifests and tools that name it.
common::Status NamespaceController::ensureDefaultAccount(const std::string& ns) {
  return ensureObject(*apiserver::findResource("", "v1", "serviceaccounts"), ns,
                      {{"apiVersion", "v1"},
                       {"kind", "ServiceAccount"},
                       {"metadata", {{"name", "default"}, {"namespace", ns}}}},
                      nullptr);
}

common::Status NamespaceController::ensureRootCa(const std::string& ns) {
  if (caPem_.empty()) return common::Status::ok();
  return ensureObject(
      *apiserver::findResource("", "v1", "configmaps"), ns,
      {{"apiVersion", "v1"},
       {"kind", "ConfigMap"},
       {"metadata",
        {{"name", "kube-root-ca.crt"},
         {"namespace", ns},
         {"annotations",
          {{"kubernetes.io/description",
            "Contains a CA bundle that can be used to verify the kube-apiserver when using "
            "internal endpoints such as the internal service IP or kubernetes.default.svc. No "
            "other usage is guaranteed across distributions of Kubernetes clusters."}}}}},
       {"data", {{"ca.crt", caPem_}}}},
      "data");
}

}  // namespace skiff::control_plane::controllers
