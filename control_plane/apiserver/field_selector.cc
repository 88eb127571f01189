// Field selectors with the per-resource supported fields of Kubernetes.
#include "control_plane/apiserver/field_selector.h"

#include <algorithm>

namespace skiff::control_plane::apiserver {

using common::Json;

namespace {

const std::vector<std::string>& supportedFields(const ResourceInfo& r) {
  static const std::vector<std::string> kCommon = {"metadata.name", "metadata.namespace"};
  static const std::vector<std::string> kPods = {
      "metadata.name",      "metadata.namespace",      "spec.nodeName",    "spec.restartPolicy",
      "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
      "status.podIP",       "status.nominatedNodeName"};
  static const std::vector<std::string> kEvents = {"metadata.name",
                                                   "metadata.namespace",
                                                   "involvedObject.kind",
                                                   "involvedObject.namespace",
                                                   "involvedObject.name",
                                                   "involvedObject.uid",
                                                   "involvedObject.apiVersion",
                                                   "involvedObject.resourceVersion",
                                                   "involvedObject.fieldPath",
                                                   "reason",
                                                   "reportingComponent",
                                                   "source",
                                                   "type"};
  static const std::vector<std::string> kNodes = {"metadata.name", "spec.unschedulable"};
  static const std::vector<std::string> kSecrets = {"metadata.name", "metadata.namespace", "type"};
  static const std::vector<std::string> kNamespaces = {"metadata.name", "status.phase"};
  static const std::vector<std::string> kReplicaSets = {"metadata.name", "metadata.namespace",
                                                        "status.replicas"};
  if (r.group.empty()) {
    if (r.resource == "pods") return kPods;
    if (r.resource == "events") return kEvents;
    if (r.resource == "nodes") return kNodes;
    if (r.resource == "secrets") return kSecrets;
    if (r.resource == "namespaces") return kNamespaces;
  }
  if (r.group == "apps" && r.resource == "replicasets") return kReplicaSets;
  return kCommon;
}

std::string scalarString(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  return "";
}

}  // namespace

std::string fieldValue(const Json& obj, const std::string& field) {
  if (field == "source") {  // events: source.component
    if (obj.contains("source") && obj["source"].is_object()) {
      return scalarString(common::jsonField(common::jsonField(obj, "source"), "component"));
    }
    return "";
  }
  if (field == "spec.unschedulable") {
    const Json* cur = &obj;
    if (cur->contains("spec") && (*cur)["spec"].contains("unschedulable")) {
      return scalarString((*cur)["spec"]["unschedulable"]);
    }
    return "false";
  }
  if (field == "spec.hostNetwork") {
    if (obj.contains("spec") && obj["spec"].contains("hostNetwork")) {
      return scalarString(obj["spec"]["hostNetwork"]);
    }
    return "false";
  }
  const Json* cur = &obj;
  std::size_t start = 0;
  while (start <= field.size()) {
    std::size_t dot = field.find('.', start);
    std::string part =
        field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return "";
    auto it = cur->find(part);
    if (it == cur->end()) return "";
    cur = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return scalarString(*cur);
}

namespace {

// Terms are separated by commas that are not escaped (apimachinery's fields.splitTerms).
std::vector<std::string_view> splitTerms(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  bool escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (escaped) {
      escaped = false;
    } else if (text[i] == '\\') {
      escaped = true;
    } else if (text[i] == ',') {
      out.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(text.substr(start));
  return out;
}

// A value with `\\`, `\,` and `\=` escapes; an unescaped ',' or '=' or another escape is an
// error (apimachinery's fields.UnescapeValue).
common::Result<std::string> unescapeValue(std::string_view v) {
  std::string out;
  bool escaped = false;
  for (char c : v) {
    if (escaped) {
      if (c != '\\' && c != ',' && c != '=') {
        return common::invalidArgument("invalid field selector value '" + std::string(v) +
                                       "': invalid escape sequence '\\" + std::string(1, c) + "'");
      }
      out += c;
      escaped = false;
    } else if (c == '\\') {
      escaped = true;
    } else if (c == ',' || c == '=') {
      return common::invalidArgument("invalid field selector value '" + std::string(v) +
                                     "': unescaped '" + std::string(1, c) + "'");
    } else {
      out += c;
    }
  }
  if (escaped) {
    return common::invalidArgument("invalid field selector value '" + std::string(v) +
                                   "': invalid escape sequence '\\'");
  }
  return out;
}

}  // namespace

common::Result<FieldSelector> FieldSelector::parse(const ResourceInfo& r, std::string_view text) {
  FieldSelector fs;
  const auto& allowed = supportedFields(r);
  for (std::string_view term : splitTerms(text)) {
    if (term.empty()) continue;  // as Kubernetes: "a=b," is "a=b"
    // The leftmost operator, "!=" before "==" before "=" at one position (fields.splitTerm).
    std::size_t op = std::string_view::npos;
    std::size_t oplen = 0;
    Term t;
    for (std::size_t i = 0; i < term.size() && op == std::string_view::npos; ++i) {
      for (std::string_view candidate : {"!=", "==", "="}) {
        if (term.substr(i).starts_with(candidate)) {
          op = i;
          oplen = candidate.size();
          t.equals = candidate != "!=";
          break;
        }
      }
    }
    if (op == std::string_view::npos || op == 0) {
      return common::invalidArgument("invalid field selector: '" + std::string(term) +
                                     "': expected an operator (=, == or !=)");
    }
    t.field = std::string(term.substr(0, op));
    SKIFF_ASSIGN_OR_RETURN(t.value, unescapeValue(term.substr(op + oplen)));
    if (std::find(allowed.begin(), allowed.end(), t.field) == allowed.end()) {
      return common::invalidArgument("field label not supported: " + t.field);
    }
    fs.terms_.push_back(std::move(t));
  }
  return fs;
}

bool FieldSelector::matches(const Json& obj) const {
  for (const auto& t : terms_) {
    bool eq = fieldValue(obj, t.field) == t.value;
    if (eq != t.equals) return false;
  }
  return true;
}

}  // namespace skiff::control_plane::apiserver
