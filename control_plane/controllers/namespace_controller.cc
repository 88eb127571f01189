// Namespace controller implementation.
#include "control_plane/controllers/namespace_controller.h"

#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::controllers {

NamespaceController::NamespaceController(ApiClient& client, Informer& namespaces)
    : Controller("namespace", 2), client_(client), namespaces_(namespaces) {}

void NamespaceController::registerHandlers() {
  auto enqueue = [this](const ObjectPtr& ns) {
    if (!apiserver::metaString(*ns, "deletionTimestamp").empty()) {
      queue().add(objectKeyOf(*ns));
    }
  };
  namespaces_.addHandlers(
      {enqueue, [enqueue](const ObjectPtr&, const ObjectPtr& n) { enqueue(n); }, nullptr});
}

common::Status NamespaceController::reconcile(const std::string& key) {
  ObjectPtr ns = namespaces_.get(key);
  if (!ns || apiserver::metaString(*ns, "deletionTimestamp").empty()) return common::Status::ok();
  std::size_t remaining = 0;
  for (const auto& r : apiserver::allResources()) {
    if (!r.namespaced) continue;
    std::string path = resourcePath(r, key);
    auto [code, list] = client_.call("GET", path, "", "");
    if (code != 200 || !list.contains("items") || list["items"].empty()) continue;
    remaining += list["items"].size();
    client_.call("DELETE", path, R"({"propagationPolicy":"Background"})", "application/json");
  }
  if (remaining > 0) {
    queue().addAfter(key, std::chrono::seconds(1));
    return common::Status::ok();
  }
  Json body = {{"apiVersion", "v1"},
               {"kind", "Namespace"},
               {"metadata", {{"name", key}}},
               {"spec", {{"finalizers", Json::array()}}}};
  auto [code, resp] = client_.call("PUT", "/api/v1/namespaces/" + key + "/finalize",
                                   common::dumpJson(body), "application/json");
  if (code != 200 && code != 404) {
    return common::internalError("finalizing namespace " + key + ": HTTP " + std::to_string(code));
  }
  return common::Status::ok();
}

}  // namespace skiff::control_plane::controllers
