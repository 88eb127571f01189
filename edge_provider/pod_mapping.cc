// Pod → hub deployment mapping.
#include "edge_provider/pod_mapping.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/base64.h"
#include "common/label_selector.h"
#include "common/quantity.h"
#include "common/tls.h"
#include "edge_provider/deployment_id.h"

namespace skiff::edge_provider {

using common::jsonField;
using common::jsonString;
using common::Result;
using common::Status;

namespace {

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

class Mapper {
 public:
  Mapper(const Json& pod, const MappingContext& ctx) : pod_(pod), ctx_(ctx) {}

  Result<PodMapping> run();

 private:
  Status fail(const std::string& path, const std::string& msg) {
    return common::invalidArgument(path + ": " + msg);
  }
  void warn(const std::string& path, const std::string& msg) {
    out_.warnings.push_back(path + ": " + msg);
  }
  Result<const Json*> object(bool secret, const std::string& name, const std::string& path);
  Result<std::optional<std::string>> keyOf(bool secret, const std::string& name,
                                           const std::string& key, bool optional,
                                           const std::string& path);
  Result<std::string> fieldRef(const Json& ref, const std::string& path);
  Result<std::optional<std::string>> resourceRef(const Json& ref, const Json& container,
                                                 const std::string& path);
  Status env(const Json& c, const std::string& path, protocol::ModuleSpec& m,
             std::map<std::string, std::string>& vars);
  Status ports(const Json& c, const std::string& path, protocol::ModuleSpec& m);
  Status resources(const Json& c, const std::string& path, protocol::ModuleSpec& m);
  Result<std::optional<protocol::Probe>> probe(const Json& p, const Json& c,
                                               const std::string& path);
  Status volumes(const Json& c, const std::string& path, protocol::ModuleSpec& m);
  Result<std::optional<protocol::Volume>> volume(const Json& v, const std::string& path);
  Status filesFrom(bool secret, const Json& src, const std::string& name, int defaultMode,
                   const std::string& path, std::vector<protocol::FileItem>& files);
  Status credentials();
  void podWarnings();
  void containerWarnings(const Json& c, const std::string& path);

  const Json& pod_;
  const MappingContext& ctx_;
  PodMapping out_;
  std::map<std::string, std::optional<Json>> cache_;  // "cm/<name>" | "secret/<name>"
  std::map<std::string, std::optional<protocol::Volume>> volumeCache_;
};

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

Status Mapper::env(const Json& c, const std::string& path, protocol::ModuleSpec& m,
                   std::map<std::string, std::string>& vars) {
  std::map<std::string, std::size_t> position;
  auto set = [&](const std::string& name, const std::string& value) {
    vars[name] = value;
    auto it = position.find(name);
    if (it != position.end()) {
      m.env[it->second].value = value;
    } else {
      position[name] = m.env.size();
      m.env.push_back({name, value});
    }
  };
  const Json& envFrom = jsonField(c, "envFrom");
  for (std::size_t i = 0; envFrom.is_array() && i < envFrom.size(); ++i) {
    const Json& src = envFrom[i];
    std::string p = idx(path + ".envFrom", i);
    std::string prefix = jsonString(src, "prefix");
    bool secret = jsonField(src, "secretRef").is_object();
    const Json& ref = secret ? jsonField(src, "secretRef") : jsonField(src, "configMapRef");
    if (!ref.is_object()) return fail(p, "one of configMapRef or secretRef is required");
    std::string name = jsonString(ref, "name");
    std::string rp = p + (secret ? ".secretRef" : ".configMapRef");
    if (name.empty()) return fail(rp + ".name", "required");
    SKIFF_ASSIGN_OR_RETURN(const Json* obj, object(secret, name, rp));
    if (obj == nullptr) {
      if (truthy(ref, "optional")) continue;
      return common::notFound(rp + ": " + std::string(secret ? "secret" : "configmap") + " \"" +
                              name + "\" not found");
    }
    std::vector<std::string> keys;
    for (const auto& [k, v] : objectOrEmpty(jsonField(*obj, "data")).items()) keys.push_back(k);
    for (const std::string& k : keys) {
      std::string var = prefix + k;
      if (!validEnvName(var)) {
        warn(rp, "key \"" + k + "\" is not a valid environment variable name; skipped");
        continue;
      }
      SKIFF_ASSIGN_OR_RETURN(auto value, keyOf(secret, name, k, false, rp));
      set(var, value.value_or(""));
    }
  }
  const Json& env = jsonField(c, "env");
  for (std::size_t i = 0; env.is_array() && i < env.size(); ++i) {
    const Json& e = env[i];
    std::string p = idx(path + ".env", i);
    std::string name = jsonString(e, "name");
    if (!validEnvName(name))
      return fail(p + ".name", "invalid environment variable name \"" + name + "\"");
    const Json& from = jsonField(e, "valueFrom");
    if (from.is_null()) {
      set(name, expand(jsonString(e, "value"), vars));
      continue;
    }
    std::string fp = p + ".valueFrom";
    if (jsonField(from, "configMapKeyRef").is_object() ||
        jsonField(from, "secretKeyRef").is_object()) {
      bool secret = jsonField(from, "secretKeyRef").is_object();
      const Json& ref =
          secret ? jsonField(from, "secretKeyRef") : jsonField(from, "configMapKeyRef");
      std::string rp = fp + (secret ? ".secretKeyRef" : ".configMapKeyRef");
      std::string key = jsonString(ref, "key");
      if (key.empty()) return fail(rp + ".key", "required");
      SKIFF_ASSIGN_OR_RETURN(
          auto value, keyOf(secret, jsonString(ref, "name"), key, truthy(ref, "optional"), rp));
      if (value) set(name, *value);
    } else if (jsonField(from, "fieldRef").is_object()) {
      SKIFF_ASSIGN_OR_RETURN(std::string value,
                             fieldRef(jsonField(from, "fieldRef"), fp + ".fieldRef"));
      set(name, value);
    } else if (jsonField(from, "resourceFieldRef").is_object()) {
      SKIFF_ASSIGN_OR_RETURN(auto value, resourceRef(jsonField(from, "resourceFieldRef"), c,
                                                     fp + ".resourceFieldRef"));
      if (value) set(name, *value);
    } else {
      return fail(fp,
                  "one of configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef is "
                  "required (fileKeyRef is not supported)");
    }
  }
  return Status::ok();
}

Status Mapper::ports(const Json& c, const std::string& path, protocol::ModuleSpec& m) {
  const Json& ports = jsonField(c, "ports");
  for (std::size_t i = 0; ports.is_array() && i < ports.size(); ++i) {
    const Json& p = ports[i];
    std::string pp = idx(path + ".ports", i);
    protocol::PortMapping pm;
    const Json& cp = jsonField(p, "containerPort");
    if (!cp.is_number_integer() || cp.get<long long>() < 1 || cp.get<long long>() > 65535) {
      return fail(pp + ".containerPort", "must be between 1 and 65535");
    }
    pm.containerPort = cp.get<int>();
    const Json& hp = jsonField(p, "hostPort");
    if (!hp.is_null()) {
      if (!hp.is_number_integer() || hp.get<long long>() < 0 || hp.get<long long>() > 65535) {
        return fail(pp + ".hostPort", "must be between 0 and 65535");
      }
      pm.hostPort = hp.get<int>();
    }
    std::string proto = jsonString(p, "protocol");
    if (proto.empty()) proto = "TCP";
    if (proto == "SCTP") {
      warn(pp + ".protocol", "SCTP is not supported on devices; port skipped");
      continue;
    }
    if (proto != "TCP" && proto != "UDP") return fail(pp + ".protocol", "must be TCP, UDP or SCTP");
    pm.protocol = proto;
    pm.hostIp = jsonString(p, "hostIP");
    m.ports.push_back(pm);
  }
  return Status::ok();
}

Status Mapper::resources(const Json& c, const std::string& path, protocol::ModuleSpec& m) {
  const Json& limits = jsonField(jsonField(c, "resources"), "limits");
  if (!limits.is_object()) return Status::ok();
  for (const auto& [name, q] : limits.items()) {
    std::string p = path + ".resources.limits." + name;
    if (name == "cpu") {
      SKIFF_ASSIGN_OR_RETURN(std::string t, quantityText(q, p));
      auto v = common::parseQuantityMilli(t);
      if (!v.isOk() || *v < 0)
        return fail(p, v.isOk() ? "must not be negative" : v.status().message());
      m.resources.cpuMillis = *v;
    } else if (name == "memory") {
      SKIFF_ASSIGN_OR_RETURN(std::string t, quantityText(q, p));
      auto v = common::parseQuantity(t);
      if (!v.isOk() || *v < 0)
        return fail(p, v.isOk() ? "must not be negative" : v.status().message());
      m.resources.memoryBytes = *v;
    } else {
      warn(p, "only cpu and memory limits are enforced on devices");
    }
  }
  return Status::ok();
}

Result<std::optional<protocol::Probe>> Mapper::probe(const Json& p, const Json& c,
                                                     const std::string& path) {
  if (!p.is_object()) return std::optional<protocol::Probe>();
  protocol::Probe pr;
  auto port = [&](const Json& v, const std::string& pp) -> Result<int> {
    if (v.is_number_integer()) {
      long long n = v.get<long long>();
      if (n < 1 || n > 65535) return fail(pp, "must be between 1 and 65535");
      return static_cast<int>(n);
    }
    if (v.is_string()) {
      std::string name = v.get<std::string>();
      for (const auto& cp : jsonField(c, "ports")) {
        if (jsonString(cp, "name") == name && jsonField(cp, "containerPort").is_number_integer()) {
          return cp["containerPort"].get<int>();
        }
      }
      return fail(pp, "no container port named \"" + name + "\"");
    }
    return fail(pp, "required");
  };
  if (jsonField(p, "exec").is_object()) {
    pr.kind = protocol::Probe::Kind::kExec;
    for (const auto& a : jsonField(jsonField(p, "exec"), "command")) {
      if (a.is_string()) pr.command.push_back(a.get<std::string>());
    }
    if (pr.command.empty()) return fail(path + ".exec.command", "must not be empty");
  } else if (jsonField(p, "httpGet").is_object()) {
    const Json& h = jsonField(p, "httpGet");
    pr.kind = protocol::Probe::Kind::kHttpGet;
    pr.path = jsonString(h, "path").empty() ? "/" : jsonString(h, "path");
    if (pr.path.front() != '/') pr.path = "/" + pr.path;
    pr.scheme = jsonString(h, "scheme").empty() ? "HTTP" : jsonString(h, "scheme");
    if (pr.scheme != "HTTP" && pr.scheme != "HTTPS") {
      return fail(path + ".httpGet.scheme", "must be HTTP or HTTPS");
    }
    pr.host = jsonString(h, "host");
    SKIFF_ASSIGN_OR_RETURN(pr.port, port(jsonField(h, "port"), path + ".httpGet.port"));
    for (const auto& hh : jsonField(h, "httpHeaders")) {
      pr.httpHeaders.emplace_back(jsonString(hh, "name"), jsonString(hh, "value"));
    }
  } else if (jsonField(p, "tcpSocket").is_object()) {
    pr.kind = protocol::Probe::Kind::kTcpSocket;
    pr.host = jsonString(jsonField(p, "tcpSocket"), "host");
    SKIFF_ASSIGN_OR_RETURN(
        pr.port, port(jsonField(jsonField(p, "tcpSocket"), "port"), path + ".tcpSocket.port"));
  } else if (jsonField(p, "grpc").is_object()) {
    warn(path + ".grpc", "gRPC probes are not supported on devices; probe dropped");
    return std::optional<protocol::Probe>();
  } else {
    return fail(path, "one of exec, httpGet, tcpSocket is required");
  }
  auto num = [&](const char* key, int def, int min, int& out) -> Status {
    const Json& v = jsonField(p, key);
    if (v.is_null()) {
      out = def;
      return Status::ok();
    }
    if (!v.is_number_integer() || v.get<long long>() < min || v.get<long long>() > 1000000) {
      return fail(path + "." + key, "must be an integer >= " + std::to_string(min));
    }
    out = v.get<int>();
    return Status::ok();
  };
  SKIFF_RETURN_IF_ERROR(num("initialDelaySeconds", 0, 0, pr.initialDelaySeconds));
  SKIFF_RETURN_IF_ERROR(num("periodSeconds", 10, 1, pr.periodSeconds));
  SKIFF_RETURN_IF_ERROR(num("timeoutSeconds", 1, 1, pr.timeoutSeconds));
  SKIFF_RETURN_IF_ERROR(num("successThreshold", 1, 1, pr.successThreshold));
  SKIFF_RETURN_IF_ERROR(num("failureThreshold", 3, 1, pr.failureThreshold));
  if (pr.failureThreshold > 1000) return fail(path + ".failureThreshold", "must be at most 1000");
  return std::optional<protocol::Probe>(pr);
}

Status Mapper::filesFrom(bool secret, const Json& src, const std::string& name, int defaultMode,
                         const std::string& path, std::vector<protocol::FileItem>& files) {
  SKIFF_ASSIGN_OR_RETURN(const Json* obj, object(secret, name, path));
  bool optional = truthy(src, "optional");
  if (obj == nullptr) {
    if (optional) return Status::ok();
    return common::notFound(path + ": " + std::string(secret ? "secret" : "configmap") + " \"" +
                            name + "\" not found");
  }
  const Json& items = jsonField(src, "items");
  if (items.is_array() && !items.empty()) {
    for (std::size_t i = 0; i < items.size(); ++i) {
      std::string ip = idx(path + ".items", i);
      std::string key = jsonString(items[i], "key");
      SKIFF_ASSIGN_OR_RETURN(auto value, keyOf(secret, name, key, optional, ip));
      if (!value) continue;
      int mode = defaultMode;
      if (jsonField(items[i], "mode").is_number_integer()) mode = items[i]["mode"].get<int>();
      files.push_back({jsonString(items[i], "path"), std::move(*value), mode});
    }
    return Status::ok();
  }
  std::set<std::string> keys;
  for (const char* field : {"data", "binaryData"}) {
    if (secret && std::string_view(field) == "binaryData") continue;
    if (jsonField(*obj, field).is_object()) {
      for (const auto& [k, v] : jsonField(*obj, field).items()) keys.insert(k);
    }
  }
  for (const auto& k : keys) {
    SKIFF_ASSIGN_OR_RETURN(auto value, keyOf(secret, name, k, false, path));
    files.push_back({k, value.value_or(""), defaultMode});
  }
  return Status::ok();
}

Result<std::optional<protocol::Volume>> Mapper::volume(const Json& v, const std::string& path) {
  protocol::Volume vol;
  vol.name = jsonString(v, "name");
  auto modeOf = [&](const Json& src, const std::string& p) -> Result<int> {
    const Json& m = jsonField(src, "defaultMode");
    if (m.is_null()) return 0644;
    if (!m.is_number_integer() || m.get<long long>() < 0 || m.get<long long>() > 0777) {
      return fail(p + ".defaultMode", "must be between 0 and 0777 (octal)");
    }
    return m.get<int>();
  };
  if (jsonField(v, "configMap").is_object() || jsonField(v, "secret").is_object()) {
    bool secret = jsonField(v, "secret").is_object();
    const Json& src = secret ? jsonField(v, "secret") : jsonField(v, "configMap");
    std::string sp = path + (secret ? ".secret" : ".configMap");
    std::string name = secret ? jsonString(src, "secretName") : jsonString(src, "name");
    if (name.empty()) return fail(sp + (secret ? ".secretName" : ".name"), "required");
    SKIFF_ASSIGN_OR_RETURN(int mode, modeOf(src, sp));
    vol.kind = protocol::Volume::Kind::kFiles;
    SKIFF_RETURN_IF_ERROR(filesFrom(secret, src, name, mode, sp, vol.files));
  } else if (jsonField(v, "emptyDir").is_object()) {
    vol.kind = protocol::Volume::Kind::kEmptyDir;
    if (jsonString(jsonField(v, "emptyDir"), "medium") == "Memory") {
      warn(path + ".emptyDir.medium", "Memory (tmpfs) is not supported; a disk directory is used");
    }
    if (!jsonField(jsonField(v, "emptyDir"), "sizeLimit").is_null()) {
      warn(path + ".emptyDir.sizeLimit", "not enforced on devices");
    }
  } else if (jsonField(v, "hostPath").is_object()) {
    vol.kind = protocol::Volume::Kind::kHostPath;
    vol.hostPath = jsonString(jsonField(v, "hostPath"), "path");
    if (vol.hostPath.empty() || vol.hostPath.front() != '/') {
      return fail(path + ".hostPath.path", "must be an absolute path");
    }
  } else if (jsonField(v, "projected").is_object()) {
    vol.kind = protocol::Volume::Kind::kFiles;
    SKIFF_ASSIGN_OR_RETURN(int mode, modeOf(jsonField(v, "projected"), path + ".projected"));
    const Json& sources = jsonField(jsonField(v, "projected"), "sources");
    for (std::size_t i = 0; sources.is_array() && i < sources.size(); ++i) {
      const Json& s = sources[i];
      std::string sp = idx(path + ".projected.sources", i);
      if (jsonField(s, "configMap").is_object()) {
        SKIFF_RETURN_IF_ERROR(filesFrom(false, jsonField(s, "configMap"),
                                        jsonString(jsonField(s, "configMap"), "name"), mode,
                                        sp + ".configMap", vol.files));
      } else if (jsonField(s, "secret").is_object()) {
        SKIFF_RETURN_IF_ERROR(filesFrom(true, jsonField(s, "secret"),
                                        jsonString(jsonField(s, "secret"), "name"), mode,
                                        sp + ".secret", vol.files));
      } else {
        warn(path, "projected volume \"" + vol.name +
                       "\" has serviceAccountToken, downwardAPI or clusterTrustBundle sources, "
                       "which devices cannot receive; the volume is not mounted");
        return std::optional<protocol::Volume>();
      }
    }
  } else if (jsonField(v, "downwardAPI").is_object()) {
    vol.kind = protocol::Volume::Kind::kFiles;
    SKIFF_ASSIGN_OR_RETURN(int mode, modeOf(jsonField(v, "downwardAPI"), path + ".downwardAPI"));
    const Json& items = jsonField(jsonField(v, "downwardAPI"), "items");
    for (std::size_t i = 0; items.is_array() && i < items.size(); ++i) {
      std::string ip = idx(path + ".downwardAPI.items", i);
      const Json& it = items[i];
      std::string content;
      if (jsonField(it, "fieldRef").is_object()) {
        std::string fp = jsonString(jsonField(it, "fieldRef"), "fieldPath");
        const Json& meta = jsonField(pod_, "metadata");
        if (fp == "metadata.labels" || fp == "metadata.annotations") {
          const Json& map = jsonField(meta, fp == "metadata.labels" ? "labels" : "annotations");
          for (const auto& [k, val] : objectOrEmpty(map).items()) {
            content +=
                k + "=\"" + (val.is_string() ? val.template get<std::string>() : "") + "\"\n";
          }
        } else {
          SKIFF_ASSIGN_OR_RETURN(content, fieldRef(jsonField(it, "fieldRef"), ip + ".fieldRef"));
        }
      } else if (jsonField(it, "resourceFieldRef").is_object()) {
        const Json& ref = jsonField(it, "resourceFieldRef");
        const Json* c = nullptr;
        for (const auto& other : jsonField(jsonField(pod_, "spec"), "containers")) {
          if (jsonString(other, "name") == jsonString(ref, "containerName")) c = &other;
        }
        if (c == nullptr) return fail(ip + ".resourceFieldRef.containerName", "required");
        SKIFF_ASSIGN_OR_RETURN(auto value, resourceRef(ref, *c, ip + ".resourceFieldRef"));
        content = value.value_or("");
      } else {
        return fail(ip, "one of fieldRef or resourceFieldRef is required");
      }
      int m = mode;
      if (jsonField(it, "mode").is_number_integer()) m = it["mode"].get<int>();
      vol.files.push_back({jsonString(it, "path"), content, m});
    }
  } else {
    std::string type = "unknown";
    for (const auto& [k, val] : v.items()) {
      if (k != "name") type = k;
    }
    warn(path, type + " volume \"" + vol.name +
                   "\" is not supported on devices (supported: configMap, secret, emptyDir, "
                   "hostPath, projected configMap/secret, downwardAPI); the volume is not mounted");
    return std::optional<protocol::Volume>();
  }
  return std::optional<protocol::Volume>(std::move(vol));
}

Status Mapper::volumes(const Json& c, const std::string& path, protocol::ModuleSpec& m) {
  const Json& mounts = jsonField(c, "volumeMounts");
  const Json& podVolumes = jsonField(jsonField(pod_, "spec"), "volumes");
  std::set<std::string> added;
  for (std::size_t i = 0; mounts.is_array() && i < mounts.size(); ++i) {
    const Json& mt = mounts[i];
    std::string mp = idx(path + ".volumeMounts", i);
    std::string name = jsonString(mt, "name");
    std::size_t vi = 0;
    const Json* v = nullptr;
    for (std::size_t k = 0; podVolumes.is_array() && k < podVolumes.size(); ++k) {
      if (jsonString(podVolumes[k], "name") == name) {
        v = &podVolumes[k];
        vi = k;
      }
    }
    if (v == nullptr) return fail(mp + ".name", "no volume named \"" + name + "\"");
    auto cached = volumeCache_.find(name);
    if (cached == volumeCache_.end()) {
      SKIFF_ASSIGN_OR_RETURN(auto vol, volume(*v, idx("spec.volumes", vi)));
      cached = volumeCache_.emplace(name, std::move(vol)).first;
    }
    if (!cached->second) continue;  // unsupported volume: warned once
    if (!jsonString(mt, "subPathExpr").empty()) {
      warn(mp + ".subPathExpr", "not supported; the volume is mounted without it");
    }
    if (!jsonString(mt, "mountPropagation").empty() &&
        jsonString(mt, "mountPropagation") != "None") {
      warn(mp + ".mountPropagation", "not supported on devices");
    }
    if (!added.contains(name)) {
      m.volumes.push_back(*cached->second);
      added.insert(name);
    }
    m.mounts.push_back(
        {name, jsonString(mt, "mountPath"), truthy(mt, "readOnly"), jsonString(mt, "subPath")});
  }
  return Status::ok();
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
  if (present(jsonField(spec, "initContainers"))) {
    warn("spec.initContainers", "init and sidecar containers are not run on devices");
  }
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
  for (const char* k :
       {"hostIPC", "hostPID", "hostNetwork", "shareProcessNamespace", "setHostnameAsFQDN"}) {
    if (truthy(spec, k)) {
      warn(std::string("spec.") + k, "not supported; the device agent decides");
    }
  }
  if (jsonField(spec, "hostUsers").is_boolean() && !spec["hostUsers"].get<bool>()) {
    warn("spec.hostUsers", "user namespaces are not supported on devices");
  }
  for (const char* k : {"hostname", "subdomain", "runtimeClassName"}) {
    if (!jsonString(spec, k).empty()) warn(std::string("spec.") + k, "not supported on devices");
  }
  for (const char* k : {"readinessGates", "resourceClaims", "resources"}) {
    if (present(jsonField(spec, k))) warn(std::string("spec.") + k, "not supported on devices");
  }
  if (jsonString(jsonField(spec, "os"), "name") == "windows") {
    warn("spec.os.name", "devices run Linux containers");
  }
  const Json& sc = jsonField(spec, "securityContext");
  if (sc.is_object()) {
    for (const auto& [k, v] : sc.items()) {
      if (present(v)) warn("spec.securityContext." + k, "not applied on devices");
    }
  }
}

void Mapper::containerWarnings(const Json& c, const std::string& path) {
  for (const char* k : {"startupProbe", "lifecycle", "volumeDevices", "resizePolicy"}) {
    if (present(jsonField(c, k))) warn(path + "." + k, "not supported on devices");
  }
  for (const char* k : {"stdin", "stdinOnce", "tty"}) {
    if (truthy(c, k)) warn(path + "." + k, "not supported on devices");
  }
  const Json& sc = jsonField(c, "securityContext");
  if (sc.is_object()) {
    for (const auto& [k, v] : sc.items()) {
      if (k == "privileged" || !present(v)) continue;
      warn(path + ".securityContext." + k, "only privileged is applied on devices");
    }
  }
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

  std::string restart = jsonString(spec, "restartPolicy");
  protocol::RestartPolicy rp = protocol::RestartPolicy::kAlways;
  if (restart == "OnFailure") {
    rp = protocol::RestartPolicy::kOnFailure;
  } else if (restart == "Never") {
    rp = protocol::RestartPolicy::kNever;
  } else if (!restart.empty() && restart != "Always") {
    return fail("spec.restartPolicy", "must be Always, OnFailure or Never");
  }
  int stopTimeout = 30;
  if (jsonField(spec, "terminationGracePeriodSeconds").is_number_integer()) {
    stopTimeout = static_cast<int>(
        std::clamp<long long>(spec["terminationGracePeriodSeconds"].get<long long>(), 0, 3600));
  }

  podWarnings();
  const Json& containers = jsonField(spec, "containers");
  if (!containers.is_array() || containers.empty()) {
    return fail("spec.containers", "at least one container is required");
  }
  for (std::size_t i = 0; i < containers.size(); ++i) {
    const Json& c = containers[i];
    std::string path = idx("spec.containers", i);
    protocol::ModuleSpec m;
    m.name = moduleNameFor(name, jsonString(c, "name"));
    if (Status s = protocol::validateModuleName(m.name); !s.isOk()) {
      return fail(path + ".name", s.message() + " (module names are <pod>/<container>)");
    }
    m.deploymentId = id;
    m.image = jsonString(c, "image");
    if (m.image.empty()) return fail(path + ".image", "required");
    std::string pull = jsonString(c, "imagePullPolicy");
    if (pull == "Always") {
      m.pullPolicy = protocol::PullPolicy::kAlways;
    } else if (pull == "Never") {
      m.pullPolicy = protocol::PullPolicy::kNever;
    } else if (pull.empty()) {
      // Kubernetes' default: Always for :latest or untagged images.
      std::string tail = m.image.substr(
          m.image.find_last_of('/') == std::string::npos ? 0 : m.image.find_last_of('/') + 1);
      bool digest = m.image.find('@') != std::string::npos;
      bool latest = tail.find(':') == std::string::npos || tail.ends_with(":latest");
      m.pullPolicy =
          !digest && latest ? protocol::PullPolicy::kAlways : protocol::PullPolicy::kIfNotPresent;
    }
    std::map<std::string, std::string> vars;
    SKIFF_RETURN_IF_ERROR(env(c, path, m, vars));
    for (const auto& a : jsonField(c, "command")) {
      if (a.is_string()) m.command.push_back(expand(a.get<std::string>(), vars));
    }
    for (const auto& a : jsonField(c, "args")) {
      if (a.is_string()) m.args.push_back(expand(a.get<std::string>(), vars));
    }
    m.workingDir = jsonString(c, "workingDir");
    SKIFF_RETURN_IF_ERROR(ports(c, path, m));
    SKIFF_RETURN_IF_ERROR(resources(c, path, m));
    SKIFF_RETURN_IF_ERROR(volumes(c, path, m));
    m.privileged = truthy(jsonField(c, "securityContext"), "privileged");
    m.restartPolicy = rp;
    SKIFF_ASSIGN_OR_RETURN(m.livenessProbe,
                           probe(jsonField(c, "livenessProbe"), c, path + ".livenessProbe"));
    SKIFF_ASSIGN_OR_RETURN(m.readinessProbe,
                           probe(jsonField(c, "readinessProbe"), c, path + ".readinessProbe"));
    m.stopTimeoutSeconds = stopTimeout;
    containerWarnings(c, path);
    // The same validation the hub and the agent apply, so a bad pod fails here, by field.
    auto checked = protocol::moduleSpecFromJson(protocol::toJson(m), path);
    if (!checked.isOk()) return checked.status();
    out_.modules.push_back(std::move(m));
  }
  SKIFF_RETURN_IF_ERROR(credentials());

  auto& d = out_.deployment;
  d.set_id(id);
  (*d.mutable_labels())[std::string(kManagedByLabel)] = "skiff-virtual-node";
  if (!ctx_.owner.empty()) (*d.mutable_labels())[std::string(kVirtualNodeLabel)] = ctx_.owner;
  d.set_target_selector(out_.selector);
  d.set_priority(priority);
  Json modules = Json::array();
  for (const auto& m : out_.modules) modules.push_back(protocol::toJson(m));
  d.set_modules_json(common::dumpJson(modules));
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
  Mapper m(pod, ctx);
  return m.run();
}

}  // namespace skiff::edge_provider
