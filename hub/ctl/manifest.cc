// YAML/JSON deployment manifests.
#include "hub/ctl/manifest.h"

#include <yaml-cpp/yaml.h>

#include <string_view>

namespace skiff::hub::ctl {

using common::Json;
using common::Result;

namespace {

// YAML 1.2 core-schema integers and floats (no regex: GCC 12 warns inside <regex> when built
// with sanitizers).
bool isInteger(std::string_view v) {
  if (!v.empty() && (v[0] == '-' || v[0] == '+')) v.remove_prefix(1);
  if (v.empty() || (v[0] == '0' && v.size() > 1)) return false;
  return v.find_first_not_of("0123456789") == std::string_view::npos;
}

bool isFloat(std::string_view v) {
  if (!v.empty() && (v[0] == '-' || v[0] == '+')) v.remove_prefix(1);
  auto e = v.find_first_of("eE");
  std::string_view mantissa = v.substr(0, e);
  auto dot = mantissa.find('.');
  if (dot == std::string_view::npos) return false;
  std::string_view ip = mantissa.substr(0, dot), fp = mantissa.substr(dot + 1);
  if (ip.empty() && fp.empty()) return false;
  if (ip.find_first_not_of("0123456789") != std::string_view::npos ||
      fp.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  if (e == std::string_view::npos) return true;
  std::string_view exp = v.substr(e + 1);
  if (!exp.empty() && (exp[0] == '-' || exp[0] == '+')) exp.remove_prefix(1);
  return !exp.empty() && exp.find_first_not_of("0123456789") == std::string_view::npos;
}

Json scalar(const YAML::Node& n) {
  const std::string& v = n.Scalar();
  if (n.Tag() == "!") return v;  // quoted
  if (v == "null" || v == "~" || v.empty()) return nullptr;
  if (v == "true" || v == "True") return true;
  if (v == "false" || v == "False") return false;
  if (isInteger(v)) {
    try {
      return std::stoll(v);
    } catch (const std::exception&) {
      return v;
    }
  }
  if (isFloat(v)) {
    try {
      return std::stod(v);
    } catch (const std::exception&) {
      return v;
    }
  }
  return v;
}

Json convert(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalar(n);
    case YAML::NodeType::Sequence: {
      Json a = Json::array();
      for (const auto& e : n) a.push_back(convert(e));
      return a;
    }
    case YAML::NodeType::Map: {
      Json o = Json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = convert(kv.second);
      return o;
    }
  }
  return nullptr;
}

Result<common::Labels> stringMap(const Json& j, const std::string& path) {
  common::Labels out;
  if (j.is_null()) return out;
  if (!j.is_object()) return common::invalidArgument(path + ": expected a map");
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) {
      return common::invalidArgument(path + "." + k + ": expected a string (quote it)");
    }
    out[k] = v.get<std::string>();
  }
  return out;
}

Result<v1::Deployment> toDeployment(const Json& j) {
  if (!j.is_object()) return common::invalidArgument("expected a map with the deployment fields");
  v1::Deployment d;
  for (const auto& [k, v] : j.items()) {
    if (k == "apiVersion") {
      if (v != "skiff.io/v1") return common::invalidArgument("apiVersion: want skiff.io/v1");
    } else if (k == "kind") {
      if (v != "Deployment") return common::invalidArgument("kind: want Deployment");
    } else if (k == "id") {
      if (!v.is_string()) return common::invalidArgument("id: expected a string");
      d.set_id(v.get<std::string>());
    } else if (k == "targetSelector") {
      if (!v.is_string()) return common::invalidArgument("targetSelector: expected a string");
      d.set_target_selector(v.get<std::string>());
    } else if (k == "priority") {
      if (!v.is_number_integer() || v.get<std::int64_t>() < INT32_MIN ||
          v.get<std::int64_t>() > INT32_MAX) {
        return common::invalidArgument("priority: expected a 32-bit integer");
      }
      d.set_priority(v.get<std::int32_t>());
    } else if (k == "labels") {
      SKIFF_ASSIGN_OR_RETURN(auto labels, stringMap(v, "labels"));
      for (const auto& [lk, lv] : labels) (*d.mutable_labels())[lk] = lv;
    } else if (k == "annotations") {
      SKIFF_ASSIGN_OR_RETURN(auto ann, stringMap(v, "annotations"));
      for (const auto& [ak, av] : ann) (*d.mutable_annotations())[ak] = av;
    } else if (k == "pods") {
      if (!v.is_array()) return common::invalidArgument("pods: expected a list");
      d.set_pods_json(common::dumpJson(v));
    } else if (k == "modules") {
      // Schema-1 manifests: each module is converted to a pod of one container by the hub.
      if (!v.is_array()) return common::invalidArgument("modules: expected a list");
      d.set_modules_json(common::dumpJson(v));
    } else if (k == "registryCredentials") {
      if (!v.is_array()) return common::invalidArgument("registryCredentials: expected a list");
      d.set_registry_credentials_json(common::dumpJson(v));
    } else {
      return common::invalidArgument(k +
                                     ": unknown field (want id, targetSelector, priority, "
                                     "labels, annotations, pods, registryCredentials)");
    }
  }
  if (d.id().empty()) return common::invalidArgument("id: required");
  if (d.pods_json().empty() && d.modules_json().empty()) {
    return common::invalidArgument("pods: required (a list of pod specs, docs/protocol.md)");
  }
  if (!d.pods_json().empty() && !d.modules_json().empty()) {
    return common::invalidArgument("pods: give pods or (schema 1) modules, not both");
  }
  return d;
}

}  // namespace

Result<std::vector<Json>> yamlToJson(std::string_view text) {
  try {
    std::vector<Json> out;
    for (const auto& doc : YAML::LoadAll(std::string(text))) {
      if (doc.IsNull()) continue;
      out.push_back(convert(doc));
    }
    return out;
  } catch (const YAML::Exception& e) {
    return common::invalidArgument("line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

Result<std::vector<v1::Deployment>> parseManifests(std::string_view text,
                                                   const std::string& source) {
  std::vector<Json> docs;
  std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (text[first] == '{' || text[first] == '[')) {
    auto j = common::parseJson(text, 16 * 1024 * 1024);
    if (!j.isOk()) return j.status().withContext(source);
    if (j->is_array()) {
      for (auto& e : *j) docs.push_back(std::move(e));
    } else {
      docs.push_back(std::move(*j));
    }
  } else {
    auto y = yamlToJson(text);
    if (!y.isOk()) return y.status().withContext(source);
    docs = std::move(*y);
  }
  if (docs.empty()) return common::invalidArgument(source + ": no deployment in the file");
  std::vector<v1::Deployment> out;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    auto d = toDeployment(docs[i]);
    if (!d.isOk()) {
      return d.status().withContext(docs.size() > 1 ? source + ": document " + std::to_string(i + 1)
                                                    : source);
    }
    out.push_back(std::move(*d));
  }
  return out;
}

}  // namespace skiff::hub::ctl
