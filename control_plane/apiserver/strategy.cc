// Defaulting, validation and update rules per resource (mirrors pkg/apis/*/defaults.go and
// validation.go of Kubernetes for the fields Skiff's users touch).
#include "control_plane/apiserver/strategy.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "common/base64.h"
#include "common/label_selector.h"

namespace skiff::control_plane::apiserver {

namespace {

bool lowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Resources whose spec changes bump metadata.generation.
bool hasGeneration(const ResourceInfo& r) {
  return r.group == "apps" || (r.group.empty() && r.resource == "pods");
}

void setDefault(Json& obj, const char* key, const Json& value) {
  if (!obj.contains(key) || obj[key].is_null()) obj[key] = value;
}

bool hasTagOrDigest(const std::string& image) {
  if (image.find('@') != std::string::npos) return true;
  auto slash = image.rfind('/');
  auto colon = image.rfind(':');
  return colon != std::string::npos && (slash == std::string::npos || colon > slash);
}

void defaultContainer(Json& c) {
  if (!c.is_object()) return;
  std::string image = common::jsonString(c, "image");
  bool latest = !hasTagOrDigest(image) || image.ends_with(":latest");
  setDefault(c, "imagePullPolicy", latest ? "Always" : "IfNotPresent");
  setDefault(c, "terminationMessagePath", "/dev/termination-log");
  setDefault(c, "terminationMessagePolicy", "File");
  setDefault(c, "resources", Json::object());
  if (c.contains("ports") && c["ports"].is_array()) {
    for (auto& p : c["ports"]) {
      if (p.is_object()) setDefault(p, "protocol", "TCP");
    }
  }
  for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
    if (!c.contains(probe) || !c[probe].is_object()) continue;
    Json& pr = c[probe];
    setDefault(pr, "timeoutSeconds", 1);
    setDefault(pr, "periodSeconds", 10);
    setDefault(pr, "successThreshold", 1);
    setDefault(pr, "failureThreshold", 3);
    if (pr.contains("httpGet") && pr["httpGet"].is_object()) {
      setDefault(pr["httpGet"], "path", "/");
      setDefault(pr["httpGet"], "scheme", "HTTP");
    }
  }
}

void defaultPodSpec(Json& spec) {
  if (!spec.is_object()) return;
  setDefault(spec, "restartPolicy", "Always");
  setDefault(spec, "terminationGracePeriodSeconds", 30);
  setDefault(spec, "dnsPolicy", "ClusterFirst");
  setDefault(spec, "securityContext", Json::object());
  setDefault(spec, "schedulerName", "default-scheduler");
  setDefault(spec, "enableServiceLinks", true);
  for (const char* list : {"containers", "initContainers"}) {
    if (spec.contains(list) && spec[list].is_array()) {
      for (auto& c : spec[list]) defaultContainer(c);
    }
  }
}

// The DefaultTolerationSeconds admission plugin: pods tolerate not-ready/unreachable for 300 s.
void defaultTolerations(Json& spec, const DefaultingOptions& opts) {
  if (!spec.is_object()) return;
  Json& tols = spec["tolerations"];
  if (!tols.is_array()) tols = Json::array();
  for (const auto& [key, seconds] :
       {std::pair<const char*, long long>{"node.kubernetes.io/not-ready",
                                          opts.notReadyTolerationSeconds},
        std::pair<const char*, long long>{"node.kubernetes.io/unreachable",
                                          opts.unreachableTolerationSeconds}}) {
    bool has = std::any_of(tols.begin(), tols.end(), [&](const Json& t) {
      return t.is_object() && common::jsonString(t, "key") == key &&
             common::jsonString(t, "effect") == "NoExecute";
    });
    if (!has) {
      tols.push_back({{"key", key},
                      {"operator", "Exists"},
                      {"effect", "NoExecute"},
                      {"tolerationSeconds", seconds}});
    }
  }
}

void defaultIntOrPercent(Json& obj, const char* key, const char* value) {
  if (!obj.contains(key) || obj[key].is_null()) obj[key] = value;
}

class Validator {
 public:
  void require(bool ok, const std::string& field, const std::string& reason,
               const std::string& message) {
    if (!ok) causes.push_back({field, reason, message});
  }
  void required(const std::string& field) {
    causes.push_back({field, "FieldValueRequired", "Required value"});
  }
  void invalidValue(const std::string& field, const Json& value, const std::string& why) {
    causes.push_back(
        {field, "FieldValueInvalid", "Invalid value: " + common::dumpJson(value) + ": " + why});
  }
  void typeError(const std::string& field, const char* want, const Json& got) {
    causes.push_back({field, "FieldValueTypeInvalid",
                      "Invalid value: " + common::dumpJson(got) + ": must be " + want});
  }
  // Returns the value at key if it has the given JSON type; records a type error otherwise.
  const Json* typed(const Json& obj, const char* key, const std::string& path, Json::value_t type,
                    const char* want) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    bool ok =
        it->type() == type || (type == Json::value_t::number_integer && it->is_number_integer());
    if (!ok) {
      typeError(path, want, *it);
      return nullptr;
    }
    return &*it;
  }
  std::vector<FieldCause> causes;
};

void validateStringMap(Validator& v, const Json& meta, const char* key, bool labels) {
  const Json* m =
      v.typed(meta, key, std::string("metadata.") + key, Json::value_t::object, "an object");
  if (m == nullptr) return;
  std::size_t total = 0;
  for (const auto& [k, val] : m->items()) {
    std::string path = std::string("metadata.") + key;
    if (!val.is_string()) {
      v.typeError(path + "[" + k + "]", "a string", val);
      continue;
    }
    auto ks = common::validateLabelKey(k);
    if (!ks.isOk()) v.invalidValue(path, k, ks.message().substr(ks.message().find(':') + 2));
    if (labels) {
      auto vs = common::validateLabelValue(val.get<std::string>());
      if (!vs.isOk()) {
        v.invalidValue(path, val, vs.message().substr(vs.message().find(':') + 2));
      }
    }
    total += k.size() + val.get<std::string>().size();
  }
  if (!labels && total > 256 * 1024) {
    v.causes.push_back(
        {"metadata.annotations", "FieldValueTooLong", "Too long: must have at most 262144 bytes"});
  }
}

void validateMetadata(Validator& v, const ResourceInfo& r, const Json& obj, const Json* old) {
  const Json& meta = obj["metadata"];
  std::string name = common::jsonString(meta, "name");
  if (!meta.contains("name") || !meta["name"].is_string() || name.empty()) {
    if (!(meta.contains("generateName") && meta["generateName"].is_string())) {
      v.causes.push_back({"metadata.name", "FieldValueRequired",
                          "Required value: name or generateName is required"});
    }
  } else {
    bool labelName = r.resource == "namespaces" || r.resource == "services";
    bool ok = labelName ? isDnsLabel(name) : isDnsSubdomain(name);
    if (r.resource == "events") ok = !name.empty() && name.size() <= 253;
    if (!ok) {
      v.invalidValue("metadata.name", name,
                     labelName ? "a lowercase RFC 1123 label must consist of lower case "
                                 "alphanumeric characters or '-', and must start and end with "
                                 "an alphanumeric character"
                               : "a lowercase RFC 1123 subdomain must consist of lower case "
                                 "alphanumeric characters, '-' or '.', and must start and end "
                                 "with an alphanumeric character");
    }
  }
  validateStringMap(v, meta, "labels", true);
  validateStringMap(v, meta, "annotations", false);
  v.typed(meta, "finalizers", "metadata.finalizers", Json::value_t::array, "an array");
  v.typed(meta, "ownerReferences", "metadata.ownerReferences", Json::value_t::array, "an array");
  if (old != nullptr) {
    const Json& om = (*old)["metadata"];
    if (common::jsonString(meta, "uid") != common::jsonString(om, "uid")) {
      v.causes.push_back(
          {"metadata.uid", "FieldValueInvalid", "Invalid value: field is immutable"});
    }
  }
}

void validateContainers(Validator& v, const Json& spec, const std::string& path, const char* list,
                        bool requireNonEmpty) {
  const Json* cs = v.typed(spec, list, path + "." + list, Json::value_t::array, "an array");
  if (cs == nullptr) {
    if (requireNonEmpty && !(spec.is_object() && spec.contains(list))) {
      v.required(path + "." + list);
    }
    return;
  }
  if (requireNonEmpty && cs->empty()) v.required(path + "." + list);
  std::set<std::string> names;
  for (std::size_t i = 0; i < cs->size(); ++i) {
    const Json& c = (*cs)[i];
    std::string cp = path + "." + list + "[" + std::to_string(i) + "]";
    if (!c.is_object()) {
      v.typeError(cp, "an object", c);
      continue;
    }
    const Json* name = v.typed(c, "name", cp + ".name", Json::value_t::string, "a string");
    if (name == nullptr && !c.contains("name")) v.required(cp + ".name");
    if (name != nullptr) {
      std::string n = name->get<std::string>();
      if (!isDnsLabel(n)) v.invalidValue(cp + ".name", n, "must be a DNS label");
      if (!names.insert(n).second) {
        v.causes.push_back({cp + ".name", "FieldValueDuplicate", "Duplicate value: \"" + n + "\""});
      }
    }
    const Json* image = v.typed(c, "image", cp + ".image", Json::value_t::string, "a string");
    if ((image == nullptr && !c.contains("image")) ||
        (image != nullptr && image->get<std::string>().empty())) {
      v.required(cp + ".image");
    }
    for (const char* arr : {"command", "args"}) {
      if (const Json* a = v.typed(c, arr, cp + "." + arr, Json::value_t::array, "an array")) {
        for (const auto& s : *a) {
          if (!s.is_string()) v.typeError(cp + "." + arr, "an array of strings", s);
        }
      }
    }
    if (const Json* env = v.typed(c, "env", cp + ".env", Json::value_t::array, "an array")) {
      for (std::size_t e = 0; e < env->size(); ++e) {
        const Json& ev = (*env)[e];
        std::string ep = cp + ".env[" + std::to_string(e) + "]";
        if (!ev.is_object() || !ev.contains("name") || !ev["name"].is_string() ||
            ev["name"].get<std::string>().empty()) {
          v.required(ep + ".name");
        } else if (ev.contains("value") && !ev["value"].is_null() && !ev["value"].is_string()) {
          v.typeError(ep + ".value", "a string", ev["value"]);
        }
      }
    }
    if (const Json* ports = v.typed(c, "ports", cp + ".ports", Json::value_t::array, "an array")) {
      for (std::size_t p = 0; p < ports->size(); ++p) {
        const Json& port = (*ports)[p];
        std::string pp = cp + ".ports[" + std::to_string(p) + "]";
        const Json* cport = v.typed(port, "containerPort", pp + ".containerPort",
                                    Json::value_t::number_integer, "an integer");
        if (cport == nullptr && !(port.is_object() && port.contains("containerPort"))) {
          v.required(pp + ".containerPort");
        } else if (cport && (cport->get<long long>() < 1 || cport->get<long long>() > 65535)) {
          v.invalidValue(pp + ".containerPort", *cport, "must be between 1 and 65535, inclusive");
        }
        if (const Json* hp = v.typed(port, "hostPort", pp + ".hostPort",
                                     Json::value_t::number_integer, "an integer")) {
          if (hp->get<long long>() < 0 || hp->get<long long>() > 65535) {
            v.invalidValue(pp + ".hostPort", *hp, "must be between 1 and 65535, inclusive");
          }
        }
        if (const Json* proto =
                v.typed(port, "protocol", pp + ".protocol", Json::value_t::string, "a string")) {
          std::string pr = proto->get<std::string>();
          if (pr != "TCP" && pr != "UDP" && pr != "SCTP") {
            v.causes.push_back({pp + ".protocol", "FieldValueNotSupported",
                                "Unsupported value: \"" + pr +
                                    "\": supported values: \"SCTP\", \"TCP\", \"UDP\""});
          }
        }
      }
    }
  }
}

// Volumes (names unique DNS labels, emptyDir sizeLimit not negative) and what refers to them
// across the pod, as kube-apiserver's ValidatePodSpec: every volumeMount names a volume, container
// names are unique across init and app containers, and no two containers claim one host port.
void validatePodVolumesAndMounts(Validator& v, const Json& spec, const std::string& path) {
  std::set<std::string> volumes;
  if (const Json* vols =
          v.typed(spec, "volumes", path + ".volumes", Json::value_t::array, "an array")) {
    for (std::size_t i = 0; i < vols->size(); ++i) {
      const Json& vol = (*vols)[i];
      std::string vp = path + ".volumes[" + std::to_string(i) + "]";
      if (!vol.is_object()) {
        v.typeError(vp, "an object", vol);
        continue;
      }
      const Json* name = v.typed(vol, "name", vp + ".name", Json::value_t::string, "a string");
      if (name == nullptr) {
        if (!vol.contains("name")) v.required(vp + ".name");
        continue;
      }
      std::string n = name->get<std::string>();
      if (!isDnsLabel(n)) v.invalidValue(vp + ".name", n, "must be a DNS label");
      if (!volumes.insert(n).second) {
        v.causes.push_back({vp + ".name", "FieldValueDuplicate", "Duplicate value: \"" + n + "\""});
      }
      const Json& empty = vol.contains("emptyDir") ? vol["emptyDir"] : Json();
      if (empty.is_object() && empty.contains("sizeLimit") && !empty["sizeLimit"].is_null()) {
        const Json& q = empty["sizeLimit"];
        bool negative = (q.is_number() && q.get<double>() < 0) ||
                        (q.is_string() && q.get<std::string>().starts_with("-"));
        if (negative) {
          v.causes.push_back({vp + ".emptyDir.sizeLimit", "FieldValueForbidden",
                              "Forbidden: SizeLimit field must be a valid resource quantity"});
        }
      }
    }
  }
  // Init container names must differ from the regular ones (reported on the init container, as
  // kube-apiserver's validateInitContainers does).
  std::set<std::string> regular;
  if (spec.contains("containers") && spec["containers"].is_array()) {
    for (const auto& c : spec["containers"]) {
      if (c.is_object() && c.contains("name") && c["name"].is_string())
        regular.insert(c["name"].get<std::string>());
    }
  }
  std::set<std::string> hostPorts;
  for (const char* list : {"initContainers", "containers"}) {
    const Json& cs = spec.contains(list) ? spec[list] : Json();
    if (!cs.is_array()) continue;
    for (std::size_t i = 0; i < cs.size(); ++i) {
      const Json& c = cs[i];
      if (!c.is_object()) continue;
      std::string cp = path + "." + list + "[" + std::to_string(i) + "]";
      if (c.contains("name") && c["name"].is_string() &&
          std::string_view(list) == "initContainers" &&
          regular.contains(c["name"].get<std::string>())) {
        v.causes.push_back({cp + ".name", "FieldValueDuplicate",
                            "Duplicate value: \"" + c["name"].get<std::string>() + "\""});
      }
      const Json& mounts = c.contains("volumeMounts") ? c["volumeMounts"] : Json();
      for (std::size_t m = 0; mounts.is_array() && m < mounts.size(); ++m) {
        const Json& mt = mounts[m];
        std::string mp = cp + ".volumeMounts[" + std::to_string(m) + "]";
        if (!mt.is_object() || !mt.contains("name") || !mt["name"].is_string()) {
          v.required(mp + ".name");
          continue;
        }
        if (!volumes.contains(mt["name"].get<std::string>())) {
          v.causes.push_back({mp + ".name", "FieldValueNotFound",
                              "Not found: \"" + mt["name"].get<std::string>() + "\""});
        }
        if (!mt.contains("mountPath") || !mt["mountPath"].is_string() ||
            mt["mountPath"].get<std::string>().empty()) {
          v.required(mp + ".mountPath");
        }
      }
      const Json& ports = c.contains("ports") ? c["ports"] : Json();
      for (std::size_t p = 0; ports.is_array() && p < ports.size(); ++p) {
        const Json& port = ports[p];
        if (!port.is_object() || !port.contains("hostPort") ||
            !port["hostPort"].is_number_integer() || port["hostPort"].get<long long>() <= 0) {
          continue;
        }
        // kube-apiserver's key: protocol/hostIP/hostPort ("TCP//8080").
        auto text = [&](const char* k, const char* def) {
          return port.contains(k) && port[k].is_string() ? port[k].get<std::string>()
                                                         : std::string(def);
        };
        std::string key = text("protocol", "TCP") + "/" + text("hostIP", "") + "/" +
                          std::to_string(port["hostPort"].get<long long>());
        if (!hostPorts.insert(key).second) {
          v.causes.push_back({cp + ".ports[" + std::to_string(p) + "].hostPort",
                              "FieldValueDuplicate", "Duplicate value: \"" + key + "\""});
        }
      }
    }
  }
}

void validatePodSpec(Validator& v, const Json& spec, const std::string& path) {
  if (!spec.is_object()) {
    if (spec.is_null())
      v.required(path);
    else
      v.typeError(path, "an object", spec);
    return;
  }
  validateContainers(v, spec, path, "containers", true);
  validateContainers(v, spec, path, "initContainers", false);
  validatePodVolumesAndMounts(v, spec, path);
  if (const Json* rp = v.typed(spec, "restartPolicy", path + ".restartPolicy",
                               Json::value_t::string, "a string")) {
    std::string p = rp->get<std::string>();
    if (p != "Always" && p != "OnFailure" && p != "Never") {
      v.causes.push_back({path + ".restartPolicy", "FieldValueNotSupported",
                          "Unsupported value: \"" + p +
                              "\": supported values: \"Always\", \"OnFailure\", \"Never\""});
    }
  }
  v.typed(spec, "nodeSelector", path + ".nodeSelector", Json::value_t::object, "an object");
  v.typed(spec, "nodeName", path + ".nodeName", Json::value_t::string, "a string");
  v.typed(spec, "tolerations", path + ".tolerations", Json::value_t::array, "an array");
  if (const Json* g =
          v.typed(spec, "terminationGracePeriodSeconds", path + ".terminationGracePeriodSeconds",
                  Json::value_t::number_integer, "an integer")) {
    if (g->get<long long>() < 0) {
      v.invalidValue(path + ".terminationGracePeriodSeconds", *g,
                     "must be greater than or equal to 0");
    }
  }
}

void validateReplicas(Validator& v, const Json& spec, const std::string& path) {
  if (const Json* rep = v.typed(spec, "replicas", path + ".replicas", Json::value_t::number_integer,
                                "an integer")) {
    if (rep->get<long long>() < 0) {
      v.invalidValue(path + ".replicas", *rep, "must be greater than or equal to 0");
    }
  }
}

// apps/v1 workloads: selector required and must match the template's labels.
void validateWorkload(Validator& v, const Json& obj, const Json* old) {
  const Json& spec = obj.contains("spec") ? obj["spec"] : Json();
  if (!spec.is_object()) {
    v.required("spec");
    return;
  }
  validateReplicas(v, spec, "spec");
  const Json* sel = v.typed(spec, "selector", "spec.selector", Json::value_t::object, "an object");
  if (sel == nullptr && !spec.contains("selector")) v.required("spec.selector");
  std::optional<common::LabelSelector> selector;
  if (sel != nullptr) {
    auto parsed = common::LabelSelector::fromJson(*sel);
    if (!parsed.isOk()) {
      v.invalidValue("spec.selector", *sel, parsed.status().message());
    } else if (parsed->empty()) {
      v.invalidValue("spec.selector", *sel, "empty selector is invalid for deployment");
    } else {
      selector = *parsed;
    }
  }
  const Json* tmpl = v.typed(spec, "template", "spec.template", Json::value_t::object, "an object");
  if (tmpl == nullptr) {
    if (!spec.contains("template")) v.required("spec.template");
    return;
  }
  common::Labels labels;
  if (tmpl->contains("metadata") && (*tmpl)["metadata"].is_object()) {
    const Json& tm = (*tmpl)["metadata"];
    if (tm.contains("labels") && tm["labels"].is_object()) {
      for (const auto& [k, val] : tm["labels"].items()) {
        if (val.is_string()) labels.emplace(k, val.get<std::string>());
      }
    }
  }
  if (selector && !selector->matches(labels)) {
    v.invalidValue("spec.template.metadata.labels",
                   (*tmpl).value("metadata", Json::object()).value("labels", Json::object()),
                   "`selector` does not match template `labels`");
  }
  validatePodSpec(v, tmpl->contains("spec") ? (*tmpl)["spec"] : Json(), "spec.template.spec");
  if (old != nullptr && old->contains("spec") && (*old)["spec"].contains("selector") &&
      sel != nullptr && (*old)["spec"]["selector"] != *sel) {
    v.invalidValue("spec.selector", *sel, "field is immutable");
  }
}

std::string clusterIPOf(const Json& svc) {
  if (!svc.contains("spec") || !svc["spec"].is_object()) return "";
  const Json& ip = common::jsonField(common::jsonField(svc, "spec"), "clusterIP");
  return ip.is_string() ? ip.get<std::string>() : "";
}

void validateService(Validator& v, const Json& obj, const Json* old) {
  const Json& spec = obj.contains("spec") ? obj["spec"] : Json();
  if (!spec.is_object()) return;
  // The allocated address is immutable (kube-apiserver: "may not change once set").
  std::string oldIP = old != nullptr ? clusterIPOf(*old) : "";
  if (!oldIP.empty() && clusterIPOf(obj) != oldIP &&
      common::jsonString(spec, "type") != "ExternalName") {
    v.causes.push_back(
        {"spec.clusterIPs[0]", "FieldValueInvalid",
         "Invalid value: []string{\"" + clusterIPOf(obj) + "\"}: may not change once set"});
  }
  const Json& typeField = common::jsonField(spec, "type");
  std::string type = typeField.is_null()     ? "ClusterIP"
                     : typeField.is_string() ? typeField.get<std::string>()
                                             : typeField.dump();
  if (type != "ClusterIP" && type != "NodePort" && type != "LoadBalancer" &&
      type != "ExternalName") {
    v.causes.push_back(
        {"spec.type", "FieldValueNotSupported", "Unsupported value: \"" + type + "\""});
  }
  const Json* ports = v.typed(spec, "ports", "spec.ports", Json::value_t::array, "an array");
  if ((ports == nullptr || ports->empty()) && type != "ExternalName") v.required("spec.ports");
  if (ports != nullptr) {
    for (std::size_t i = 0; i < ports->size(); ++i) {
      const Json& p = (*ports)[i];
      std::string pp = "spec.ports[" + std::to_string(i) + "]";
      const Json* port =
          v.typed(p, "port", pp + ".port", Json::value_t::number_integer, "an integer");
      if (port == nullptr && !(p.is_object() && p.contains("port"))) v.required(pp + ".port");
      if (port && (port->get<long long>() < 1 || port->get<long long>() > 65535)) {
        v.invalidValue(pp + ".port", *port, "must be between 1 and 65535, inclusive");
      }
    }
  }
}

void validateDataMap(Validator& v, const Json& obj, const char* key) {
  const Json* m = v.typed(obj, key, key, Json::value_t::object, "an object");
  if (m == nullptr) return;
  for (const auto& [k, val] : m->items()) {
    bool keyOk = !k.empty() && k.size() <= 253 && std::all_of(k.begin(), k.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
    if (!keyOk) {
      v.invalidValue(std::string(key), k,
                     "a valid config key must consist of alphanumeric characters, '-', '_' or "
                     "'.'");
    }
    if (!val.is_string()) v.typeError(std::string(key) + "[" + k + "]", "a string", val);
  }
}

}  // namespace

bool isDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!lowerAlnum(s.front()) || !lowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return lowerAlnum(c) || c == '-'; });
}

bool isDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  if (!lowerAlnum(s.front()) || !lowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return lowerAlnum(c) || c == '-' || c == '.'; });
}

void applyDefaults(const ResourceInfo& r, Json& obj, const DefaultingOptions& opts) {
  if (!obj.is_object()) return;
  if (r.group.empty() && r.resource == "pods") {
    if (obj.contains("spec")) {
      defaultPodSpec(obj["spec"]);
      defaultTolerations(obj["spec"], opts);
    }
  } else if (r.group == "apps") {
    if (!obj.contains("spec") || !obj["spec"].is_object()) return;
    Json& spec = obj["spec"];
    if (r.resource != "daemonsets") setDefault(spec, "replicas", 1);
    if (r.resource != "replicasets") setDefault(spec, "revisionHistoryLimit", 10);
    if (r.resource == "deployments") {
      setDefault(spec, "progressDeadlineSeconds", 600);
      setDefault(spec, "strategy", Json::object());
      if (spec["strategy"].is_object()) {
        setDefault(spec["strategy"], "type", "RollingUpdate");
        if (spec["strategy"]["type"] == "RollingUpdate") {
          setDefault(spec["strategy"], "rollingUpdate", Json::object());
          if (spec["strategy"]["rollingUpdate"].is_object()) {
            defaultIntOrPercent(spec["strategy"]["rollingUpdate"], "maxUnavailable", "25%");
            defaultIntOrPercent(spec["strategy"]["rollingUpdate"], "maxSurge", "25%");
          }
        }
      }
    }
    if (r.resource == "daemonsets") {
      setDefault(spec, "updateStrategy", Json::object());
      if (spec["updateStrategy"].is_object()) {
        setDefault(spec["updateStrategy"], "type", "RollingUpdate");
        if (spec["updateStrategy"]["type"] == "RollingUpdate") {
          setDefault(spec["updateStrategy"], "rollingUpdate", Json::object());
          if (spec["updateStrategy"]["rollingUpdate"].is_object()) {
            setDefault(spec["updateStrategy"]["rollingUpdate"], "maxUnavailable", 1);
            setDefault(spec["updateStrategy"]["rollingUpdate"], "maxSurge", 0);
          }
        }
      }
    }
    if (spec.contains("template") && spec["template"].is_object() &&
        spec["template"].contains("spec")) {
      defaultPodSpec(spec["template"]["spec"]);
    }
  } else if (r.group.empty() && r.resource == "services") {
    if (!obj.contains("spec") || !obj["spec"].is_object()) return;
    Json& spec = obj["spec"];
    setDefault(spec, "type", "ClusterIP");
    setDefault(spec, "sessionAffinity", "None");
    if (spec["type"] != "ExternalName") setDefault(spec, "internalTrafficPolicy", "Cluster");
    if (spec.contains("ports") && spec["ports"].is_array()) {
      for (auto& p : spec["ports"]) {
        if (!p.is_object()) continue;
        setDefault(p, "protocol", "TCP");
        if (!p.contains("targetPort") && p.contains("port")) p["targetPort"] = p["port"];
      }
    }
  } else if (r.group.empty() && r.resource == "nodes") {
    // SetDefaults_NodeStatus: allocatable defaults to capacity.
    if (obj.contains("status") && obj["status"].is_object() && obj["status"].contains("capacity") &&
        obj["status"]["capacity"].is_object()) {
      setDefault(obj["status"], "allocatable", obj["status"]["capacity"]);
    }
  } else if (r.group.empty() && r.resource == "secrets") {
    setDefault(obj, "type", "Opaque");
  } else if (r.group.empty() && r.resource == "namespaces") {
    setDefault(obj, "spec", Json::object());
    if (obj["spec"].is_object()) setDefault(obj["spec"], "finalizers", Json::array({"kubernetes"}));
  }
}

std::vector<FieldCause> validateObject(const ResourceInfo& r, const Json& obj, const Json* old) {
  Validator v;
  validateMetadata(v, r, obj, old);
  if (r.group.empty() && r.resource == "pods") {
    validatePodSpec(v, obj.contains("spec") ? obj["spec"] : Json(), "spec");
    if (old != nullptr && obj.contains("spec") && (*old).contains("spec")) {
      // Pod specs are immutable except images, activeDeadlineSeconds and tolerations additions.
      Json a = obj["spec"];
      Json b = (*old)["spec"];
      for (Json* s : {&a, &b}) {
        for (const char* list : {"containers", "initContainers"}) {
          if (s->contains(list) && (*s)[list].is_array()) {
            for (auto& c : (*s)[list]) {
              if (c.is_object()) c.erase("image");
            }
          }
        }
        s->erase("activeDeadlineSeconds");
        s->erase("tolerations");
      }
      if (a != b) {
        v.causes.push_back({"spec", "FieldValueForbidden",
                            "Forbidden: pod updates may not change fields other than "
                            "`spec.containers[*].image`, `spec.initContainers[*].image`, "
                            "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions "
                            "to existing tolerations)"});
      }
    }
  } else if (r.group == "apps") {
    validateWorkload(v, obj, old);
  } else if (r.group.empty() && r.resource == "services") {
    validateService(v, obj, old);
  } else if (r.group.empty() && (r.resource == "configmaps" || r.resource == "secrets")) {
    validateDataMap(v, obj, "data");
    if (r.resource == "configmaps") validateDataMap(v, obj, "binaryData");
    if (r.resource == "secrets") validateDataMap(v, obj, "stringData");
  } else if (r.group.empty() && r.resource == "nodes") {
    if (obj.contains("spec") && obj["spec"].is_object()) {
      v.typed(obj["spec"], "unschedulable", "spec.unschedulable", Json::value_t::boolean,
              "a boolean");
      v.typed(obj["spec"], "taints", "spec.taints", Json::value_t::array, "an array");
    }
  } else if (r.group.empty() && r.resource == "events") {
    if (!obj.contains("involvedObject") || !obj["involvedObject"].is_object()) {
      v.required("involvedObject");
    }
  }
  return std::move(v.causes);
}

void prepareForCreate(const ResourceInfo& r, Json& obj) {
  Json& meta = obj["metadata"];
  meta.erase("deletionTimestamp");
  meta.erase("deletionGracePeriodSeconds");
  if (hasGeneration(r))
    meta["generation"] = 1;
  else
    meta.erase("generation");
  if (r.group.empty() && r.resource == "pods") {
    Json status = {{"phase", "Pending"}, {"qosClass", "BestEffort"}};
    // Pods created already bound (spec.nodeName) are scheduled by definition.
    obj["status"] = status;
  } else if (r.group.empty() && r.resource == "namespaces") {
    obj["status"] = {{"phase", "Active"}};
  } else if (r.hasStatus() && r.resource != "nodes") {
    obj["status"] = Json::object();
  }
  if (r.group.empty() && r.resource == "secrets" && obj.contains("stringData") &&
      obj["stringData"].is_object()) {
    // stringData is write-only: merged into data (base64) and dropped, as Kubernetes does.
    for (const auto& [k, val] : obj["stringData"].items()) {
      if (val.is_string()) obj["data"][k] = common::base64Encode(val.get<std::string>());
    }
    obj.erase("stringData");
  }
}

void prepareForUpdate(const ResourceInfo& r, Json& obj, const Json& old) {
  Json& meta = obj["metadata"];
  const Json& om = old["metadata"];
  for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "generation"}) {
    if (om.contains(f))
      meta[f] = om[f];
    else
      meta.erase(f);
  }
  if (r.hasStatus()) {
    if (old.contains("status"))
      obj["status"] = old["status"];
    else
      obj.erase("status");
  }
  if (r.group.empty() && r.resource == "services" && obj.contains("spec") &&
      obj["spec"].is_object() && old.contains("spec") && old["spec"].is_object()) {
    // An update that leaves out the allocated address keeps it (a PUT of the manifest as
    // written, e.g. kubectl replace); one that sets only clusterIP moves clusterIPs along.
    Json& spec = obj["spec"];
    const Json& oldSpec = old["spec"];
    std::string ip = common::jsonField(spec, "clusterIP").is_string()
                         ? spec["clusterIP"].get<std::string>()
                         : "";
    if (ip.empty()) {
      for (const char* f : {"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"}) {
        if (oldSpec.contains(f) && !spec.contains(f)) spec[f] = oldSpec[f];
      }
      if (oldSpec.contains("clusterIP")) spec["clusterIP"] = oldSpec["clusterIP"];
    } else if (common::jsonField(spec, "clusterIPs") == common::jsonField(oldSpec, "clusterIPs") ||
               !spec.contains("clusterIPs")) {
      spec["clusterIPs"] = Json::array({ip});
    }
    for (const char* f : {"ipFamilies", "ipFamilyPolicy"}) {
      if (oldSpec.contains(f) && !spec.contains(f)) spec[f] = oldSpec[f];
    }
  }
  if (hasGeneration(r)) {
    Json newSpec = common::jsonField(obj, "spec");
    Json oldSpec = common::jsonField(old, "spec");
    if (newSpec != oldSpec) meta["generation"] = om.value("generation", 1) + 1;
  }
}

void prepareForStatusUpdate(const ResourceInfo& r, Json& obj, const Json& old) {
  (void)r;
  Json next = old;
  if (obj.contains("status")) next["status"] = obj["status"];
  obj = std::move(next);
}

}  // namespace skiff::control_plane::apiserver
