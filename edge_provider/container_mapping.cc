// Containers, init containers and sidecars of a pod (see mapper.h).
#include <set>

#include "common/quantity.h"
#include "edge_provider/mapper.h"

namespace skiff::edge_provider::detail {

using common::jsonField;
using common::jsonString;
using common::Result;
using common::Status;

namespace {

// A port given by number or by the name of one of the container's ports.
Result<int> portOf(const Json& v, const Json& c, const std::string& path) {
  if (v.is_number_integer()) {
    long long n = v.get<long long>();
    if (n < 1 || n > 65535) return common::invalidArgument(path + ": must be between 1 and 65535");
    return static_cast<int>(n);
  }
  if (v.is_string()) {
    std::string name = v.get<std::string>();
    for (const auto& cp : jsonField(c, "ports")) {
      if (jsonString(cp, "name") == name && jsonField(cp, "containerPort").is_number_integer()) {
        return cp["containerPort"].get<int>();
      }
    }
    return common::invalidArgument(path + ": no container port named \"" + name + "\"");
  }
  return common::invalidArgument(path + ": required");
}

std::optional<std::int64_t> integerField(const Json& j, std::string_view key) {
  const Json& v = jsonField(j, key);
  if (!v.is_number_integer()) return std::nullopt;
  return v.get<std::int64_t>();
}

std::optional<bool> boolField(const Json& j, std::string_view key) {
  const Json& v = jsonField(j, key);
  if (!v.is_boolean()) return std::nullopt;
  return v.get<bool>();
}

}  // namespace

Status Mapper::env(const Json& c, const std::string& path, protocol::ContainerSpec& m,
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

Status Mapper::ports(const Json& c, const std::string& path, protocol::ContainerSpec& m) {
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

Status Mapper::resources(const Json& c, const std::string& path, protocol::ContainerSpec& m) {
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
  auto port = [&](const Json& v, const std::string& pp) { return portOf(v, c, pp); };
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
  if (!jsonField(p, "terminationGracePeriodSeconds").is_null()) {
    warn(path + ".terminationGracePeriodSeconds",
         "not supported on devices; a container killed by this probe gets the pod's grace period");
  }
  return std::optional<protocol::Probe>(pr);
}

Result<std::optional<protocol::Handler>> Mapper::handler(const Json& h, const Json& c,
                                                         const std::string& path) {
  if (!h.is_object()) return std::optional<protocol::Handler>();
  protocol::Handler out;
  if (jsonField(h, "exec").is_object()) {
    out.kind = protocol::Handler::Kind::kExec;
    for (const auto& a : jsonField(jsonField(h, "exec"), "command")) {
      if (a.is_string()) out.command.push_back(a.get<std::string>());
    }
    if (out.command.empty()) return fail(path + ".exec.command", "must not be empty");
  } else if (jsonField(h, "httpGet").is_object()) {
    const Json& g = jsonField(h, "httpGet");
    out.kind = protocol::Handler::Kind::kHttpGet;
    out.path = jsonString(g, "path").empty() ? "/" : jsonString(g, "path");
    if (out.path.front() != '/') out.path = "/" + out.path;
    out.scheme = jsonString(g, "scheme").empty() ? "HTTP" : jsonString(g, "scheme");
    if (out.scheme != "HTTP" && out.scheme != "HTTPS") {
      return fail(path + ".httpGet.scheme", "must be HTTP or HTTPS");
    }
    out.host = jsonString(g, "host");
    SKIFF_ASSIGN_OR_RETURN(out.port, portOf(jsonField(g, "port"), c, path + ".httpGet.port"));
    for (const auto& hh : jsonField(g, "httpHeaders")) {
      out.httpHeaders.emplace_back(jsonString(hh, "name"), jsonString(hh, "value"));
    }
  } else if (jsonField(h, "sleep").is_object()) {
    out.kind = protocol::Handler::Kind::kSleep;
    auto secs = integerField(jsonField(h, "sleep"), "seconds");
    if (!secs || *secs < 0 || *secs > 3600) {
      return fail(path + ".sleep.seconds", "must be between 0 and 3600");
    }
    out.sleepSeconds = static_cast<int>(*secs);
  } else if (jsonField(h, "tcpSocket").is_object()) {
    warn(path + ".tcpSocket",
         "tcpSocket lifecycle handlers are deprecated in Kubernetes and not "
         "run on devices; hook dropped");
    return std::optional<protocol::Handler>();
  } else {
    return fail(path, "one of exec, httpGet, sleep is required");
  }
  return std::optional<protocol::Handler>(std::move(out));
}

Status Mapper::securityContext(const Json& c, const std::string& path, protocol::ContainerSpec& m) {
  const Json& sc = jsonField(c, "securityContext");
  if (!sc.is_object()) return Status::ok();
  const std::string sp = path + ".securityContext";
  auto& out = m.securityContext;
  out.privileged = truthy(sc, "privileged");
  out.runAsUser = integerField(sc, "runAsUser");
  out.runAsGroup = integerField(sc, "runAsGroup");
  out.runAsNonRoot = boolField(sc, "runAsNonRoot");
  out.readOnlyRootFilesystem = truthy(sc, "readOnlyRootFilesystem");
  out.allowPrivilegeEscalation = boolField(sc, "allowPrivilegeEscalation");
  const Json& caps = jsonField(sc, "capabilities");
  for (auto [key, list] :
       {std::pair{"add", &out.capabilitiesAdd}, std::pair{"drop", &out.capabilitiesDrop}}) {
    for (const auto& cap : jsonField(caps, key)) {
      if (!cap.is_string()) return fail(sp + ".capabilities." + key, "expected strings");
      std::string name = cap.get<std::string>();
      // Kubernetes names capabilities without CAP_ (engines accept both).
      if (name.starts_with("CAP_")) name = name.substr(4);
      list->push_back(name);
    }
  }
  const Json& seccomp = jsonField(sc, "seccompProfile");
  std::string type = jsonString(seccomp, "type");
  if (type == "RuntimeDefault" || type == "Unconfined") {
    out.seccompProfile = type;
  } else if (!type.empty()) {
    warn(sp + ".seccompProfile", type +
                                     " profiles are not supported on devices; the engine's "
                                     "default profile applies");
  }
  for (const char* k : {"seLinuxOptions", "windowsOptions", "procMount", "appArmorProfile"}) {
    if (present(jsonField(sc, k)) &&
        !(std::string_view(k) == "procMount" && jsonString(sc, k) == "Default")) {
      warn(sp + "." + k, "not applied on devices");
    }
  }
  return Status::ok();
}

void Mapper::containerWarnings(const Json& c, const std::string& path) {
  for (const char* k : {"volumeDevices", "resizePolicy"}) {
    if (present(jsonField(c, k))) warn(path + "." + k, "not supported on devices");
  }
  for (const char* k : {"stdin", "stdinOnce", "tty"}) {
    if (truthy(c, k)) warn(path + "." + k, "not supported on devices");
  }
  const Json& lc = jsonField(c, "lifecycle");
  if (!jsonString(lc, "stopSignal").empty()) {
    warn(path + ".lifecycle.stopSignal", "not supported on devices (SIGTERM is sent)");
  }
}

Result<protocol::ContainerSpec> Mapper::container(const Json& c, const std::string& path,
                                                  bool init) {
  protocol::ContainerSpec m;
  m.name = jsonString(c, "name");
  if (Status s = protocol::validateContainerName(m.name); !s.isOk()) {
    return fail(path + ".name", s.message());
  }
  m.image = jsonString(c, "image");
  if (m.image.empty()) return fail(path + ".image", "Required value");
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
  SKIFF_RETURN_IF_ERROR(mounts(c, path, m));
  SKIFF_RETURN_IF_ERROR(securityContext(c, path, m));
  std::string restart = jsonString(c, "restartPolicy");
  if (!restart.empty()) {
    if (!init) return fail(path + ".restartPolicy", "may not be set for non-init containers");
    if (restart != "Always") return fail(path + ".restartPolicy", "must be Always when set");
    m.restartPolicy = protocol::RestartPolicy::kAlways;
  }
  SKIFF_ASSIGN_OR_RETURN(m.livenessProbe,
                         probe(jsonField(c, "livenessProbe"), c, path + ".livenessProbe"));
  SKIFF_ASSIGN_OR_RETURN(m.readinessProbe,
                         probe(jsonField(c, "readinessProbe"), c, path + ".readinessProbe"));
  SKIFF_ASSIGN_OR_RETURN(m.startupProbe,
                         probe(jsonField(c, "startupProbe"), c, path + ".startupProbe"));
  const Json& lc = jsonField(c, "lifecycle");
  SKIFF_ASSIGN_OR_RETURN(m.lifecycle.postStart,
                         handler(jsonField(lc, "postStart"), c, path + ".lifecycle.postStart"));
  SKIFF_ASSIGN_OR_RETURN(m.lifecycle.preStop,
                         handler(jsonField(lc, "preStop"), c, path + ".lifecycle.preStop"));
  containerWarnings(c, path);
  return m;
}

}  // namespace skiff::edge_provider::detail
