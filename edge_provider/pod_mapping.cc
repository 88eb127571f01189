// Pod → hub deployment mapping (see pod_mapping.h and mapper.h).
#include "edge_provider/pod_mapping.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/base64.h"
#include "common/label_selector.h"
#include "common/quantity.h"
#include "common/tls.h"
#include "edge_provider/deployment_id.h"
#include "edge_provider/mapper.h"

namespace skiff::edge_provider {

using common::jsonField;
using common::jsonString;
using common::Result;
using common::Status;

namespace detail {

// j itself when it is an object, else an empty object (for iterating optional maps).
const Json& objectOrEmpty(const Json& j) {
  static const Json kEmpty = Json::object();
  return j.is_object() ? j : kEmpty;
}

bool truthy(const Json& j, std::string_view key) {
  const Json& v = jsonField(j, key);
  return v.is_boolean() && v.get<bool>();
}

bool present(const Json& v) {
  if (v.is_null()) return false;
  if (v.is_object() || v.is_array() || v.is_string()) return !v.empty();
  return true;
}

std::string idx(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// A quantity as Kubernetes sends it: a string, or a number from a YAML manifest.
Result<std::string> quantityText(const Json& v, const std::string& path) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) {
    std::string s = std::to_string(v.get<double>());
    while (s.find('.') != std::string::npos && (s.back() == '0' || s.back() == '.')) s.pop_back();
    return s;
  }
  return common::invalidArgument(path + ": expected a quantity");
}

// Expands $(VAR) references the way the kubelet does: defined variables are substituted, $$
// escapes a dollar, anything else stays as written.
std::string expand(const std::string& in, const std::map<std::string, std::string>& vars) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '$' || i + 1 >= in.size()) {
      out += in[i];
      continue;
    }
    if (in[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (in[i + 1] == '(') {
      auto close = in.find(')', i + 2);
      if (close != std::string::npos) {
        std::string name = in.substr(i + 2, close - i - 2);
        auto it = vars.find(name);
        if (it != vars.end()) {
          out += it->second;
          i = close;
          continue;
        }
      }
    }
    out += in[i];
  }
  return out;
}

bool validEnvName(const std::string& n) {
  if (n.empty()) return false;
  for (char c : n) {
    if (c == '=' || static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

Result<const Json*> Mapper::object(bool secret, const std::string& name, const std::string& path) {
  std::string key = (secret ? "secret/" : "cm/") + name;
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    if (ctx_.reader == nullptr) return common::internalError("mapping without an ObjectReader");
    std::string ns = jsonString(jsonField(pod_, "metadata"), "namespace");
    auto r = secret ? ctx_.reader->getSecret(ns, name) : ctx_.reader->getConfigMap(ns, name);
    if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) {
      return r.status().withContext(path);
    }
    it = cache_.emplace(key, r.isOk() ? std::optional<Json>(std::move(*r)) : std::nullopt).first;
  }
  return it->second ? &*it->second : nullptr;
}

// The value of a ConfigMap/Secret key; nullopt when absent and optional.
Result<std::optional<std::string>> Mapper::keyOf(bool secret, const std::string& name,
                                                 const std::string& key, bool optional,
                                                 const std::string& path) {
  const char* kind = secret ? "secret" : "configmap";
  if (name.empty()) return fail(path + ".name", "required");
  SKIFF_ASSIGN_OR_RETURN(const Json* obj, object(secret, name, path));
  if (obj == nullptr) {
    if (optional) return std::optional<std::string>();
    return common::notFound(path + ": " + kind + " \"" + name + "\" not found");
  }
  const Json& data = jsonField(*obj, "data");
  if (jsonField(data, key).is_string()) {
    std::string v = data[key].get<std::string>();
    if (!secret) return std::optional<std::string>(v);
    auto decoded = common::base64Decode(v);
    if (!decoded.isOk())
      return fail(path, "secret \"" + name + "\" key \"" + key + "\" is not base64");
    return std::optional<std::string>(std::move(*decoded));
  }
  if (!secret && jsonField(jsonField(*obj, "binaryData"), key).is_string()) {
    auto decoded = common::base64Decode(jsonField(*obj, "binaryData")[key].get<std::string>());
    if (!decoded.isOk())
      return fail(path, "configmap binaryData key \"" + key + "\" is not base64");
    return std::optional<std::string>(std::move(*decoded));
  }
  if (optional) return std::optional<std::string>();
  return common::notFound(path + ": key \"" + key + "\" not found in " + kind + " \"" + name +
                          "\"");
}

Result<std::string> Mapper::fieldRef(const Json& ref, const std::string& path) {
  std::string fp = jsonString(ref, "fieldPath");
  const Json& meta = jsonField(pod_, "metadata");
  auto bracketed = [&](std::string_view prefix) -> std::optional<std::string> {
    // metadata.labels['key'] / metadata.labels["key"]
    if (!fp.starts_with(prefix) || fp.size() < prefix.size() + 4) return std::nullopt;
    std::string rest = fp.substr(prefix.size());
    char q = rest[1];
    if (rest[0] != '[' || (q != '\'' && q != '"') || rest.back() != ']' ||
        rest[rest.size() - 2] != q) {
      return std::nullopt;
    }
    return rest.substr(2, rest.size() - 4);
  };
  if (fp == "metadata.name") return jsonString(meta, "name");
  if (fp == "metadata.namespace") return jsonString(meta, "namespace");
  if (fp == "metadata.uid") return jsonString(meta, "uid");
  if (fp == "spec.nodeName") return jsonString(jsonField(pod_, "spec"), "nodeName");
  if (fp == "spec.serviceAccountName")
    return jsonString(jsonField(pod_, "spec"), "serviceAccountName");
  if (auto k = bracketed("metadata.labels")) return jsonString(jsonField(meta, "labels"), *k);
  if (auto k = bracketed("metadata.annotations"))
    return jsonString(jsonField(meta, "annotations"), *k);
  if (fp == "status.hostIP" || fp == "status.hostIPs" || fp == "status.podIP" ||
      fp == "status.podIPs") {
    warn(path + ".fieldPath", fp + " is not known when the pod is converted (the pod runs on " +
                                  "devices with their own addresses); set to \"\"");
    return std::string();
  }
  if (fp.empty()) return fail(path + ".fieldPath", "required");
  return fail(path + ".fieldPath", "unsupported field path \"" + fp +
                                       "\" (supported: metadata.name, metadata.namespace, "
                                       "metadata.uid, metadata.labels['k'], "
                                       "metadata.annotations['k'], spec.nodeName, "
                                       "spec.serviceAccountName, status.hostIP, status.podIP)");
}

Result<std::optional<std::string>> Mapper::resourceRef(const Json& ref, const Json& container,
                                                       const std::string& path) {
  const Json* c = &container;
  std::string cname = jsonString(ref, "containerName");
  if (!cname.empty()) {
    c = nullptr;
    for (const auto& other : jsonField(jsonField(pod_, "spec"), "containers")) {
      if (jsonString(other, "name") == cname) c = &other;
    }
    if (c == nullptr) return fail(path + ".containerName", "no container named \"" + cname + "\"");
  }
  std::string resource = jsonString(ref, "resource");
  auto dot = resource.find('.');
  if (dot == std::string::npos)
    return fail(path + ".resource", "expected limits.<r> or requests.<r>");
  std::string kind = resource.substr(0, dot);
  std::string name = resource.substr(dot + 1);
  if ((kind != "limits" && kind != "requests") ||
      (name != "cpu" && name != "memory" && name != "ephemeral-storage")) {
    return fail(path + ".resource", "unsupported resource \"" + resource + "\"");
  }
  const Json& q = jsonField(jsonField(jsonField(*c, "resources"), kind), name);
  if (q.is_null()) {
    warn(path, resource + " is not set on the container; the variable is left unset");
    return std::optional<std::string>();
  }
  SKIFF_ASSIGN_OR_RETURN(std::string qt, quantityText(q, path));
  auto value = common::parseQuantityMilli(qt);
  if (!value.isOk()) return fail(path, value.status().message());
  std::string divText = "1";
  if (!jsonField(ref, "divisor").is_null()) {
    SKIFF_ASSIGN_OR_RETURN(divText, quantityText(jsonField(ref, "divisor"), path + ".divisor"));
  }
  auto divisor = common::parseQuantityMilli(divText);
  if (!divisor.isOk() || *divisor <= 0)
    return fail(path + ".divisor", "must be a positive quantity");
  std::int64_t v = (*value + *divisor - 1) / *divisor;  // ceil, as the kubelet
  return std::optional<std::string>(std::to_string(v));
}

Status Mapper::credentials() {
  const Json& secrets = jsonField(jsonField(pod_, "spec"), "imagePullSecrets");
  for (std::size_t i = 0; secrets.is_array() && i < secrets.size(); ++i) {
    std::string p = idx("spec.imagePullSecrets", i);
    std::string name = jsonString(secrets[i], "name");
    if (name.empty()) return fail(p + ".name", "required");
    SKIFF_ASSIGN_OR_RETURN(const Json* s, object(true, name, p));
    if (s == nullptr) return common::notFound(p + ": secret \"" + name + "\" not found");
    std::string type = jsonString(*s, "type");
    std::string key = type == "kubernetes.io/dockercfg" ? ".dockercfg" : ".dockerconfigjson";
    if (type != "kubernetes.io/dockerconfigjson" && type != "kubernetes.io/dockercfg") {
      return fail(p, "secret \"" + name + "\" has type \"" + type +
                         "\"; image pull secrets must be kubernetes.io/dockerconfigjson or "
                         "kubernetes.io/dockercfg");
    }
    SKIFF_ASSIGN_OR_RETURN(auto raw, keyOf(true, name, key, false, p));
    auto doc = common::parseJson(raw.value_or(""));
    if (!doc.isOk() || !doc->is_object()) {
      return fail(p, "secret \"" + name + "\" key " + key + " is not a JSON object");
    }
    const Json& auths = key == ".dockercfg" ? *doc : jsonField(*doc, "auths");
    if (!auths.is_object()) return fail(p, "secret \"" + name + "\": missing \"auths\"");
    for (const auto& [server, entry] : auths.items()) {
      protocol::RegistryCredential cred;
      cred.server = server;
      // Registry keys may be URLs ("https://index.docker.io/v1/"): keep host[:port].
      if (auto scheme = cred.server.find("://"); scheme != std::string::npos) {
        cred.server = cred.server.substr(scheme + 3);
      }
      if (auto slash = cred.server.find('/'); slash != std::string::npos) {
        cred.server.resize(slash);
      }
      cred.username = jsonString(entry, "username");
      cred.password = jsonString(entry, "password");
      if (cred.username.empty() && !jsonString(entry, "auth").empty()) {
        auto decoded = common::base64Decode(jsonString(entry, "auth"));
        auto colon = decoded.isOk() ? decoded->find(':') : std::string::npos;
        if (colon == std::string::npos) {
          return fail(
              p, "secret \"" + name + "\": auth for " + server + " is not base64(user:password)");
        }
        cred.username = decoded->substr(0, colon);
        cred.password = decoded->substr(colon + 1);
      }
      if (cred.server.empty()) continue;
      out_.credentials.push_back(std::move(cred));
    }
  }
  return Status::ok();
}

void Mapper::podWarnings() {
  const Json& spec = jsonField(pod_, "spec");
  if (present(jsonField(spec, "ephemeralContainers"))) {
    warn("spec.ephemeralContainers", "not supported on devices");
  }
  if (!jsonField(spec, "activeDeadlineSeconds").is_null()) {
    warn("spec.activeDeadlineSeconds", "not enforced on devices");
  }
  const Json& affinity = jsonField(spec, "affinity");
  if (present(jsonField(jsonField(affinity, "nodeAffinity"),
                        "preferredDuringSchedulingIgnoredDuringExecution"))) {
    warn("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution",
         "preferred terms do not narrow the device selection");
  }
  for (const char* k : {"podAffinity", "podAntiAffinity"}) {
    if (present(jsonField(affinity, k))) {
      warn(std::string("spec.affinity.") + k, "not applied across devices");
    }
  }
  if (present(jsonField(spec, "dnsConfig"))) warn("spec.dnsConfig", "devices use their own DNS");
  if (jsonString(spec, "dnsPolicy") == "None") warn("spec.dnsPolicy", "devices use their own DNS");
  if (present(jsonField(spec, "hostAliases"))) warn("spec.hostAliases", "not supported on devices");
  if (truthy(spec, "setHostnameAsFQDN")) {
    warn("spec.setHostnameAsFQDN", "devices have no cluster domain");
  }
  if (jsonField(spec, "hostUsers").is_boolean() && !spec["hostUsers"].get<bool>()) {
    warn("spec.hostUsers", "user namespaces are not supported on devices");
  }
  for (const char* k : {"subdomain", "runtimeClassName"}) {
    if (!jsonString(spec, k).empty()) warn(std::string("spec.") + k, "not supported on devices");
  }
  for (const char* k : {"readinessGates", "resourceClaims", "resources"}) {
    if (present(jsonField(spec, k))) warn(std::string("spec.") + k, "not supported on devices");
  }
  if (jsonString(jsonField(spec, "os"), "name") == "windows") {
    warn("spec.os.name", "devices run Linux containers");
  }
}

Status Mapper::podSecurityContext(protocol::PodSpec& p) {
  const Json& sc = jsonField(jsonField(pod_, "spec"), "securityContext");
  if (!sc.is_object()) return Status::ok();
  const std::string sp = "spec.securityContext";
  auto& out = p.securityContext;
  auto integer = [&](const char* k) -> std::optional<std::int64_t> {
    const Json& v = jsonField(sc, k);
    if (!v.is_number_integer()) return std::nullopt;
    return v.get<std::int64_t>();
  };
  out.runAsUser = integer("runAsUser");
  out.runAsGroup = integer("runAsGroup");
  out.fsGroup = integer("fsGroup");
  if (jsonField(sc, "runAsNonRoot").is_boolean()) out.runAsNonRoot = sc["runAsNonRoot"].get<bool>();
  for (const auto& g : jsonField(sc, "supplementalGroups")) {
    if (!g.is_number_integer()) return fail(sp + ".supplementalGroups", "expected group ids");
    out.supplementalGroups.push_back(g.get<std::int64_t>());
  }
  const Json& sysctls = jsonField(sc, "sysctls");
  for (std::size_t i = 0; sysctls.is_array() && i < sysctls.size(); ++i) {
    out.sysctls.push_back({jsonString(sysctls[i], "name"), jsonString(sysctls[i], "value")});
  }
  std::string seccomp = jsonString(jsonField(sc, "seccompProfile"), "type");
  if (seccomp == "RuntimeDefault" || seccomp == "Unconfined") {
    out.seccompProfile = seccomp;
  } else if (!seccomp.empty()) {
    warn(sp + ".seccompProfile", seccomp +
                                     " profiles are not supported on devices; the "
                                     "engine's default profile applies");
  }
  for (const char* k : {"seLinuxOptions", "windowsOptions", "fsGroupChangePolicy",
                        "supplementalGroupsPolicy", "appArmorProfile", "seLinuxChangePolicy"}) {
    if (present(jsonField(sc, k))) warn(sp + "." + k, "not applied on devices");
  }
  return Status::ok();
}

Status Mapper::podSettings(protocol::PodSpec& p) {
  const Json& spec = jsonField(pod_, "spec");
  std::string restart = jsonString(spec, "restartPolicy");
  if (restart == "OnFailure") {
    p.restartPolicy = protocol::RestartPolicy::kOnFailure;
  } else if (restart == "Never") {
    p.restartPolicy = protocol::RestartPolicy::kNever;
  } else if (!restart.empty() && restart != "Always") {
    return fail("spec.restartPolicy", "must be Always, OnFailure or Never");
  }
  p.terminationGracePeriodSeconds = 30;
  if (jsonField(spec, "terminationGracePeriodSeconds").is_number_integer()) {
    p.terminationGracePeriodSeconds = static_cast<int>(
        std::clamp<long long>(spec["terminationGracePeriodSeconds"].get<long long>(), 0, 3600));
  }
  p.hostNetwork = truthy(spec, "hostNetwork");
  p.hostPID = truthy(spec, "hostPID");
  p.hostIPC = truthy(spec, "hostIPC");
  p.shareProcessNamespace = truthy(spec, "shareProcessNamespace");
  p.hostname = jsonString(spec, "hostname");
  return podSecurityContext(p);
}

Result<PodMapping> Mapper::run() {
  const Json& meta = jsonField(pod_, "metadata");
  const Json& spec = jsonField(pod_, "spec");
  std::string ns = jsonString(meta, "namespace");
  std::string name = jsonString(meta, "name");
  std::string uid = jsonString(meta, "uid");
  if (name.empty() || ns.empty() || uid.empty()) {
    return fail("metadata", "namespace, name and uid are required");
  }
  std::string id = deploymentIdFor(ns, name, uid);

  SKIFF_ASSIGN_OR_RETURN(out_.selector, targetSelectorFor(pod_, ctx_.deviceId, &out_.warnings));
  int priority = 0;
  const Json& pa = jsonField(jsonField(meta, "annotations"), kPriorityAnnotation);
  if (pa.is_string()) {
    const std::string& t = pa.get<std::string>();
    try {
      std::size_t used = 0;
      long long v = std::stoll(t, &used);
      if (used != t.size() || v < INT32_MIN || v > INT32_MAX) throw std::out_of_range(t);
      priority = static_cast<int>(v);
    } catch (const std::exception&) {
      return fail("metadata.annotations[" + std::string(kPriorityAnnotation) + "]",
                  "\"" + t + "\" is not a 32-bit integer");
    }
  }

  protocol::PodSpec& p = out_.pod;
  p.name = name;
  p.deploymentId = id;
  if (Status s = protocol::validatePodName(p.name); !s.isOk())
    return fail("metadata.name", s.message());
  SKIFF_RETURN_IF_ERROR(podSettings(p));
  podWarnings();
  SKIFF_RETURN_IF_ERROR(volumes(p));
  const Json& inits = jsonField(spec, "initContainers");
  for (std::size_t i = 0; inits.is_array() && i < inits.size(); ++i) {
    SKIFF_ASSIGN_OR_RETURN(auto c, container(inits[i], idx("spec.initContainers", i), true));
    p.initContainers.push_back(std::move(c));
  }
  const Json& containers = jsonField(spec, "containers");
  if (!containers.is_array() || containers.empty()) {
    return fail("spec.containers", "at least one container is required");
  }
  for (std::size_t i = 0; i < containers.size(); ++i) {
    SKIFF_ASSIGN_OR_RETURN(auto c, container(containers[i], idx("spec.containers", i), false));
    p.containers.push_back(std::move(c));
  }
  // The same validation the hub and the agent apply (names, ports shared by the pod's network
  // namespace, mounts, init container rules), so a bad pod fails here, by field.
  auto checked = protocol::podSpecFromJson(protocol::toJson(p), "spec");
  if (!checked.isOk()) return checked.status();
  SKIFF_RETURN_IF_ERROR(credentials());

  auto& d = out_.deployment;
  d.set_id(id);
  (*d.mutable_labels())[std::string(kManagedByLabel)] = "skiff-virtual-node";
  if (!ctx_.owner.empty()) (*d.mutable_labels())[std::string(kVirtualNodeLabel)] = ctx_.owner;
  d.set_target_selector(out_.selector);
  d.set_priority(priority);
  d.set_pods_json(common::dumpJson(Json::array({protocol::toJson(p)})));
  Json creds = Json::array();
  for (const auto& c : out_.credentials) {
    creds.push_back({{"server", c.server}, {"username", c.username}, {"password", c.password}});
  }
  d.set_registry_credentials_json(common::dumpJson(creds));
  auto& ann = *d.mutable_annotations();
  ann[std::string(kPodNamespaceAnnotation)] = ns;
  ann[std::string(kPodNameAnnotation)] = name;
  ann[std::string(kPodUidAnnotation)] = uid;
  ann[std::string(kNodeAnnotation)] = jsonString(spec, "nodeName");
  ann[std::string(kPodSpecHashAnnotation)] = podMappingHash(pod_);
  return std::move(out_);
}

}  // namespace detail

namespace {

// One requirement in label-selector syntax from a node selector requirement.
Result<std::string> requirement(const Json& e, const std::string& path) {
  std::string key = jsonString(e, "key");
  std::string op = jsonString(e, "operator");
  std::vector<std::string> values;
  for (const auto& v : jsonField(e, "values")) {
    if (v.is_string()) values.push_back(v.get<std::string>());
  }
  std::string stripped = key.substr(kDeviceLabelPrefix.size());
  auto list = [&] {
    std::string s;
    for (const auto& v : values) s += (s.empty() ? "" : ",") + v;
    return "(" + s + ")";
  };
  if (op == "In" || op == "NotIn") {
    if (values.empty()) return common::invalidArgument(path + ".values: required for " + op);
    return stripped + (op == "In" ? " in " : " notin ") + list();
  }
  if (op == "Exists") return stripped;
  if (op == "DoesNotExist") return "!" + stripped;
  if (op == "Gt" || op == "Lt") {
    if (values.size() != 1) return common::invalidArgument(path + ".values: exactly one for " + op);
    return stripped + (op == "Gt" ? ">" : "<") + values[0];
  }
  return common::invalidArgument(path + ".operator: unsupported operator \"" + op + "\"");
}

}  // namespace

using detail::idx;
using detail::present;

std::string moduleNameFor(std::string_view pod, std::string_view container) {
  return std::string(pod) + "/" + std::string(container);
}

std::string podMappingHash(const Json& pod) {
  const Json& meta = jsonField(pod, "metadata");
  Json relevant = {
      {"uid", jsonField(meta, "uid")},
      {"spec", jsonField(pod, "spec")},
      {"selector", jsonField(jsonField(meta, "annotations"), kTargetSelectorAnnotation)},
      {"priority", jsonField(jsonField(meta, "annotations"), kPriorityAnnotation)}};
  return common::tls::sha256Hex(common::dumpJson(relevant)).substr(0, 32);
}

Result<std::string> targetSelectorFor(const Json& pod, const std::optional<std::string>& deviceId,
                                      std::vector<std::string>* warnings) {
  const Json& spec = jsonField(pod, "spec");
  if (deviceId) return std::string(kDeviceIdLabel) + "=" + *deviceId;
  std::vector<std::string> reqs;
  const Json& ns = jsonField(spec, "nodeSelector");
  if (ns.is_object()) {
    for (const auto& [k, v] : ns.items()) {
      if (!k.starts_with(kDeviceLabelPrefix)) continue;
      std::string key = k.substr(kDeviceLabelPrefix.size());
      if (auto s = common::validateLabelKey(key); !s.isOk() || key.find('/') != std::string::npos) {
        return common::invalidArgument("spec.nodeSelector[" + k + "]: \"" + key +
                                       "\" is not a device label key");
      }
      reqs.push_back(key + "=" + (v.is_string() ? v.get<std::string>() : ""));
    }
  }
  const Json& terms = jsonField(jsonField(jsonField(jsonField(spec, "affinity"), "nodeAffinity"),
                                          "requiredDuringSchedulingIgnoredDuringExecution"),
                                "nodeSelectorTerms");
  std::string termsPath =
      "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms";
  int deviceTerms = 0;
  for (std::size_t t = 0; terms.is_array() && t < terms.size(); ++t) {
    const Json& exprs = jsonField(terms[t], "matchExpressions");
    bool usesDevice = false;
    for (std::size_t i = 0; exprs.is_array() && i < exprs.size(); ++i) {
      if (!jsonString(exprs[i], "key").starts_with(kDeviceLabelPrefix)) continue;
      usesDevice = true;
      SKIFF_ASSIGN_OR_RETURN(
          std::string r, requirement(exprs[i], idx(idx(termsPath, t) + ".matchExpressions", i)));
      reqs.push_back(r);
    }
    if (usesDevice && ++deviceTerms > 1) {
      return common::invalidArgument(
          termsPath +
          ": more than one term uses device.skiff.io/ keys; terms are ORed, which a "
          "device selector cannot express (use one term, or the " +
          std::string(kTargetSelectorAnnotation) + " annotation)");
    }
    if (present(jsonField(terms[t], "matchFields")) && warnings != nullptr) {
      warnings->push_back(idx(termsPath, t) +
                          ".matchFields: node fields do not select devices; ignored");
    }
  }
  const Json& ann =
      jsonField(jsonField(jsonField(pod, "metadata"), "annotations"), kTargetSelectorAnnotation);
  if (ann.is_string() && !ann.get<std::string>().empty()) {
    auto parsed = common::LabelSelector::parse(ann.get<std::string>());
    if (!parsed.isOk()) {
      return common::invalidArgument("metadata.annotations[" +
                                     std::string(kTargetSelectorAnnotation) +
                                     "]: " + parsed.status().message());
    }
    reqs.push_back(ann.get<std::string>());
  }
  if (reqs.empty()) return std::string(kDeviceIdLabel);  // every device
  std::string joined;
  for (const auto& r : reqs) joined += (joined.empty() ? "" : ",") + r;
  auto sel = common::LabelSelector::parse(joined);
  if (!sel.isOk()) return common::invalidArgument("device selector: " + sel.status().message());
  return sel->toString();
}

Result<PodMapping> mapPod(const Json& pod, const MappingContext& ctx) {
  detail::Mapper m(pod, ctx);
  return m.run();
}

}  // namespace skiff::edge_provider
