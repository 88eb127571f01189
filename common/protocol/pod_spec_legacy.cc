// Schema-1 "modules" (one container each, agents and documents before pods) converted to and named
// as schema-2 pods (see pod_spec.h and docs/protocol.md "Upgrade path").
#include "common/protocol/pod_spec.h"
#include "common/protocol/reader.h"

namespace skiff::common::protocol {

using detail::indexPath;
using detail::isLowerAlnum;

namespace {

std::string legacyContainerName(std::string_view module) {
  auto slash = module.rfind('/');
  std::string tail(slash == std::string_view::npos ? module : module.substr(slash + 1));
  for (char& c : tail) {
    if (!isLowerAlnum(c)) c = '-';
  }
  if (tail.size() > 63) tail.resize(63);
  while (!tail.empty() && !isLowerAlnum(tail.back())) tail.pop_back();
  while (!tail.empty() && !isLowerAlnum(tail.front())) tail.erase(0, 1);
  return tail.empty() ? "main" : tail;
}

}  // namespace

std::string legacyPodName(std::string_view module) {
  std::string out(module);
  for (char& c : out) {
    if (c == '/' || c == '_') c = '-';
  }
  return out;
}

std::string legacyModuleName(std::string_view module) {
  return moduleName(legacyPodName(module), legacyContainerName(module));
}

Result<Json> podsJsonFromLegacyModules(const Json& modules, const std::string& path) {
  if (!modules.is_array()) {
    return invalidArgument(path + ": expected array, got " + std::string(jsonTypeName(modules)));
  }
  if (modules.size() > 256) return invalidArgument(path + ": more than 256 modules");
  Json pods = Json::array();
  for (std::size_t i = 0; i < modules.size(); ++i) {
    std::string mp = indexPath(path, i);
    const Json& m = modules[i];
    if (!m.is_object()) return invalidArgument(mp + ": expected object");
    auto name = m.find("name");
    if (name == m.end() || !name->is_string()) return invalidArgument(mp + ".name: required value");
    SKIFF_RETURN_IF_ERROR(validateModuleName(name->get<std::string>()).withContext(mp + ".name"));
    const std::string module = name->get<std::string>();
    Json container = Json::object();
    Json pod = {{"name", legacyPodName(module)}, {"terminationGracePeriodSeconds", 10}};
    for (const auto& [k, v] : m.items()) {
      if (k == "name") continue;
      if (k == "deploymentId" || k == "restartPolicy" || k == "volumes") {
        pod[k] = v;
      } else if (k == "stopTimeoutSeconds") {
        pod["terminationGracePeriodSeconds"] = v;
      } else if (k == "privileged") {
        container["securityContext"] = {{"privileged", v}};
      } else {
        container[k] = v;
      }
    }
    container["name"] = legacyContainerName(module);
    pod["containers"] = Json::array({container});
    pods.push_back(std::move(pod));
  }
  // The result must be valid schema 2: errors name the converted pods' fields.
  SKIFF_RETURN_IF_ERROR(podSpecsFromJson(pods, path).status());
  return pods;
}

}  // namespace skiff::common::protocol
