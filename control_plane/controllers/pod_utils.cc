// Pod predicates.
#include "control_plane/controllers/pod_utils.h"

#include "control_plane/apiserver/object_store.h"

namespace skiff::control_plane::controllers {

bool podIsTerminal(const common::Json& pod) {
  std::string phase = pod.value("status", common::Json::object()).value("phase", "");
  return phase == "Succeeded" || phase == "Failed";
}

bool podIsDeleting(const common::Json& pod) {
  return !apiserver::metaString(pod, "deletionTimestamp").empty();
}

bool podIsActive(const common::Json& pod) { return !podIsTerminal(pod) && !podIsDeleting(pod); }

bool podIsReady(const common::Json& pod) {
  const auto status = pod.value("status", common::Json::object());
  if (!status.contains("conditions") || !status["conditions"].is_array()) return false;
  for (const auto& c : status["conditions"]) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

common::Json podTemplateLabels(const common::Json& owner) {
  const auto spec = owner.value("spec", common::Json::object());
  const auto tmpl = spec.value("template", common::Json::object());
  return tmpl.value("metadata", common::Json::object()).value("labels", common::Json::object());
}

}  // namespace skiff::control_plane::controllers
