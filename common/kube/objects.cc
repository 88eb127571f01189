// Typed views of Kubernetes objects (see objects.h).
#include "common/kube/objects.h"

namespace skiff::kube {

namespace {

std::string orDefault(std::string v, const char* dflt) { return v.empty() ? dflt : v; }

}  // namespace

std::string ObjectView::str(const Json& obj, const std::string& key) {
  return common::jsonString(obj, key);
}

std::int64_t ObjectView::integer(const Json& obj, const std::string& key, std::int64_t dflt) {
  const Json& v = common::jsonField(obj, key);
  return v.is_number_integer() ? v.get<std::int64_t>() : dflt;
}

bool ObjectView::boolean(const Json& obj, const std::string& key) {
  const Json& v = common::jsonField(obj, key);
  return v.is_boolean() && v.get<bool>();
}

common::Labels ObjectView::labelMap() const {
  common::Labels out;
  if (!labels().is_object()) return out;
  for (const auto& [k, v] : labels().items()) {
    if (v.is_string()) out.emplace(k, v.get<std::string>());
  }
  return out;
}

std::vector<OwnerRef> ObjectView::ownerRefs() const {
  std::vector<OwnerRef> out;
  const Json& refs = common::jsonField(meta(), "ownerReferences");
  if (!refs.is_array()) return out;
  for (const auto& r : refs) {
    if (!r.is_object()) continue;
    out.push_back({str(r, "apiVersion"), str(r, "kind"), str(r, "name"), str(r, "uid"),
                   boolean(r, "controller"), boolean(r, "blockOwnerDeletion")});
  }
  return out;
}

std::optional<OwnerRef> ObjectView::controllerRef() const {
  for (auto& r : ownerRefs()) {
    if (r.controller) return r;
  }
  return std::nullopt;
}

Json ObjectView::ownerRefJson(bool controller) const {
  return {{"apiVersion", apiVersion()},
          {"kind", kind()},
          {"name", name()},
          {"uid", uid()},
          {"controller", controller},
          {"blockOwnerDeletion", true}};
}

std::string PodView::restartPolicy() const {
  return orDefault(str(spec(), "restartPolicy"), "Always");
}

std::string ObjectView::conditionStatus(const std::string& type) const {
  const Json& conds = common::jsonField(status(), "conditions");
  if (!conds.is_array()) return "";
  for (const auto& c : conds) {
    if (str(c, "type") != type) continue;
    std::string s = str(c, "status");
    return s.empty() ? "Unknown" : s;  // a condition without a status is not known
  }
  return "";
}

std::string DeploymentView::strategyType() const {
  return orDefault(str(common::jsonField(spec(), "strategy"), "type"), "RollingUpdate");
}

const Json& DeploymentView::rollingUpdate() const {
  return common::jsonField(common::jsonField(spec(), "strategy"), "rollingUpdate");
}

std::string DaemonSetView::updateStrategyType() const {
  return orDefault(str(common::jsonField(spec(), "updateStrategy"), "type"), "RollingUpdate");
}

const Json& DaemonSetView::rollingUpdate() const {
  return common::jsonField(common::jsonField(spec(), "updateStrategy"), "rollingUpdate");
}

std::string ServiceView::type() const { return orDefault(str(spec(), "type"), "ClusterIP"); }

}  // namespace skiff::kube
