// Pod specs: names, strict parsing, canonical JSON (see pod_spec.h; schema-1 modules:
// pod_spec_legacy.cc).
#include "common/protocol/pod_spec.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/base64.h"
#include "common/protocol/reader.h"
#include "common/tls.h"

namespace skiff::common::protocol {

using detail::indexPath;
using detail::isLowerAlnum;
using detail::optionalBoolean;
using detail::optionalInteger;
using detail::readEnum;
using detail::Reader;

namespace {

constexpr std::int64_t kMaxBytes = std::int64_t{1} << 52;
constexpr std::int64_t kMaxId = std::numeric_limits<std::int32_t>::max();
constexpr std::size_t kMaxPayload = 1024 * 1024;

constexpr std::string_view kRestartNames[] = {"Always", "OnFailure", "Never"};
constexpr std::string_view kPullNames[] = {"IfNotPresent", "Always", "Never"};
constexpr std::string_view kVolumeNames[] = {"files", "emptyDir", "hostPath"};

Status validateName(std::string_view what, std::string_view name, std::size_t maxLen,
                    std::string_view extra) {
  if (name.empty() || name.size() > maxLen) {
    return invalidArgument(std::string(what) + " must be 1-" + std::to_string(maxLen) +
                           " characters");
  }
  for (char c : name) {
    if (!isLowerAlnum(c) && extra.find(c) == std::string_view::npos) {
      return invalidArgument(std::string(what) + " \"" + std::string(name) +
                             "\" may contain only lower-case letters, digits and '" +
                             std::string(extra) + "'");
    }
  }
  if (!isLowerAlnum(name.front()) || !isLowerAlnum(name.back())) {
    return invalidArgument(std::string(what) + " \"" + std::string(name) +
                           "\" must start and end with a letter or digit");
  }
  return Status::ok();
}

// ---- Probes and handlers ------------------------------------------------------------------------

struct HttpTarget {
  std::string path = "/";
  std::string scheme = "HTTP";
  std::string host;
  int port = 0;
  std::vector<std::pair<std::string, std::string>> headers;
};

HttpTarget readHttpGet(Reader& hr) {
  HttpTarget t;
  t.path = hr.str("path");
  if (t.path.empty()) t.path = "/";
  if (hr.ok() && t.path.front() != '/') hr.fail("path", "must start with '/'");
  t.scheme = hr.str("scheme");
  if (t.scheme.empty()) t.scheme = "HTTP";
  if (hr.ok() && t.scheme != "HTTP" && t.scheme != "HTTPS")
    hr.fail("scheme", "must be HTTP or HTTPS");
  t.host = hr.str("host", false, 253);
  t.port = static_cast<int>(hr.integer("port", 1, 65535, 0, true));
  if (const Json* hs = hr.array("httpHeaders", false, 64)) {
    for (std::size_t i = 0; i < hs->size(); ++i) {
      Reader e((*hs)[i], indexPath(hr.pathOf("httpHeaders"), i));
      std::string name = e.str("name", true, 256);
      std::string value = e.str("value");
      hr.fail(e.finish());
      t.headers.emplace_back(std::move(name), std::move(value));
    }
  }
  return t;
}

// The `exec` action of a probe or hook, when there is one (its command into `command`).
bool readExec(Reader& r, std::vector<std::string>& command) {
  const Json* e = r.object("exec");
  if (e == nullptr) return false;
  Reader er(*e, r.pathOf("exec"));
  command = er.strings("command");
  if (er.ok() && command.empty()) er.fail("command", "must not be empty");
  r.fail(er.finish());
  return true;
}

// The `httpGet` action of a probe or hook, when there is one.
std::optional<HttpTarget> readHttpGetOf(Reader& r) {
  const Json* g = r.object("httpGet");
  if (g == nullptr) return std::nullopt;
  Reader hr(*g, r.pathOf("httpGet"));
  HttpTarget t = readHttpGet(hr);
  r.fail(hr.finish());
  return t;
}

Json httpGetJson(const std::string& path, const std::string& scheme, const std::string& host,
                 int port, const std::vector<std::pair<std::string, std::string>>& headers) {
  Json h = {{"path", path}, {"scheme", scheme}, {"port", port}};
  if (!host.empty()) h["host"] = host;
  if (!headers.empty()) {
    Json hs = Json::array();
    for (const auto& [n, v] : headers) hs.push_back({{"name", n}, {"value", v}});
    h["httpHeaders"] = hs;
  }
  return h;
}

Result<Probe> probeFromJson(const Json& j, const std::string& path) {
  Reader r(j, path);
  Probe p;
  int kinds = 0;
  if (readExec(r, p.command)) {
    p.kind = Probe::Kind::kExec;
    ++kinds;
  }
  if (auto t = readHttpGetOf(r)) {
    p.kind = Probe::Kind::kHttpGet;
    p.path = t->path;
    p.scheme = t->scheme;
    p.host = t->host;
    p.port = t->port;
    p.httpHeaders = std::move(t->headers);
    ++kinds;
  }
  if (const Json* t = r.object("tcpSocket")) {
    Reader tr(*t, r.pathOf("tcpSocket"));
    p.kind = Probe::Kind::kTcpSocket;
    p.host = tr.str("host", false, 253);
    p.port = static_cast<int>(tr.integer("port", 1, 65535, 0, true));
    r.fail(tr.finish());
    ++kinds;
  }
  if (r.ok() && kinds != 1) {
    r.fail(invalidArgument(path + ": exactly one of exec, httpGet, tcpSocket is required"));
  }
  p.initialDelaySeconds = static_cast<int>(r.integer("initialDelaySeconds", 0, 86400, 0));
  p.periodSeconds = static_cast<int>(r.integer("periodSeconds", 1, 86400, 10));
  p.timeoutSeconds = static_cast<int>(r.integer("timeoutSeconds", 1, 3600, 1));
  p.successThreshold = static_cast<int>(r.integer("successThreshold", 1, 1000, 1));
  p.failureThreshold = static_cast<int>(r.integer("failureThreshold", 1, 1000, 3));
  SKIFF_RETURN_IF_ERROR(r.finish());
  return p;
}

Json toJson(const Probe& p) {
  Json j = {{"initialDelaySeconds", p.initialDelaySeconds},
            {"periodSeconds", p.periodSeconds},
            {"timeoutSeconds", p.timeoutSeconds},
            {"successThreshold", p.successThreshold},
            {"failureThreshold", p.failureThreshold}};
  switch (p.kind) {
    case Probe::Kind::kExec:
      j["exec"] = {{"command", p.command}};
      break;
    case Probe::Kind::kHttpGet:
      j["httpGet"] = httpGetJson(p.path, p.scheme, p.host, p.port, p.httpHeaders);
      break;
    case Probe::Kind::kTcpSocket: {
      Json t = {{"port", p.port}};
      if (!p.host.empty()) t["host"] = p.host;
      j["tcpSocket"] = t;
      break;
    }
  }
  return j;
}

Result<Handler> handlerFromJson(const Json& j, const std::string& path) {
  Reader r(j, path);
  Handler h;
  int kinds = 0;
  if (readExec(r, h.command)) {
    h.kind = Handler::Kind::kExec;
    ++kinds;
  }
  if (auto t = readHttpGetOf(r)) {
    h.kind = Handler::Kind::kHttpGet;
    h.path = t->path;
    h.scheme = t->scheme;
    h.host = t->host;
    h.port = t->port;
    h.httpHeaders = std::move(t->headers);
    ++kinds;
  }
  if (const Json* s = r.object("sleep")) {
    Reader sr(*s, r.pathOf("sleep"));
    h.kind = Handler::Kind::kSleep;
    h.sleepSeconds = static_cast<int>(sr.integer("seconds", 0, 3600, 0, true));
    r.fail(sr.finish());
    ++kinds;
  }
  if (r.ok() && kinds != 1) {
    r.fail(invalidArgument(path + ": exactly one of exec, httpGet, sleep is required"));
  }
  SKIFF_RETURN_IF_ERROR(r.finish());
  return h;
}

Json toJson(const Handler& h) {
  switch (h.kind) {
    case Handler::Kind::kExec:
      return {{"exec", {{"command", h.command}}}};
    case Handler::Kind::kHttpGet:
      return {{"httpGet", httpGetJson(h.path, h.scheme, h.host, h.port, h.httpHeaders)}};
    case Handler::Kind::kSleep:
      break;
  }
  return {{"sleep", {{"seconds", h.sleepSeconds}}}};
}

// ---- Security contexts --------------------------------------------------------------------------

Status validateCapability(const std::string& path, const std::string& c) {
  if (c.empty() || c.size() > 64) return invalidArgument(path + ": must be 1-64 characters");
  for (char ch : c) {
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_')) {
      return invalidArgument(path + ": \"" + c +
                             "\" is not a capability name (e.g. NET_ADMIN, or ALL)");
    }
  }
  return Status::ok();
}

std::string readSeccomp(Reader& r) {
  std::string s = r.str("seccompProfile", false, 32);
  if (r.ok() && !s.empty() && s != "RuntimeDefault" && s != "Unconfined") {
    r.fail("seccompProfile",
           "must be RuntimeDefault or Unconfined (Localhost profiles are not "
           "supported on devices)");
  }
  return s;
}

SecurityContext securityContextFromJson(Reader& r) {
  SecurityContext s;
  s.privileged = r.boolean("privileged");
  s.runAsUser = optionalInteger(r, "runAsUser", 0, kMaxId);
  s.runAsGroup = optionalInteger(r, "runAsGroup", 0, kMaxId);
  s.runAsNonRoot = optionalBoolean(r, "runAsNonRoot");
  s.readOnlyRootFilesystem = r.boolean("readOnlyRootFilesystem");
  s.allowPrivilegeEscalation = optionalBoolean(r, "allowPrivilegeEscalation");
  for (auto [key, out] : {std::pair{"capabilitiesAdd", &s.capabilitiesAdd},
                          std::pair{"capabilitiesDrop", &s.capabilitiesDrop}}) {
    *out = r.strings(key, 64);
    for (std::size_t i = 0; r.ok() && i < out->size(); ++i) {
      r.fail(validateCapability(indexPath(r.pathOf(key), i), (*out)[i]));
    }
  }
  s.seccompProfile = readSeccomp(r);
  if (r.ok() && s.privileged && s.allowPrivilegeEscalation == false) {
    r.fail("allowPrivilegeEscalation",
           "cannot be false when privileged is true (as Kubernetes validates)");
  }
  return s;
}

Json toJson(const SecurityContext& s) {
  Json j = Json::object();
  if (s.privileged) j["privileged"] = true;
  if (s.runAsUser) j["runAsUser"] = *s.runAsUser;
  if (s.runAsGroup) j["runAsGroup"] = *s.runAsGroup;
  if (s.runAsNonRoot) j["runAsNonRoot"] = *s.runAsNonRoot;
  if (s.readOnlyRootFilesystem) j["readOnlyRootFilesystem"] = true;
  if (s.allowPrivilegeEscalation) j["allowPrivilegeEscalation"] = *s.allowPrivilegeEscalation;
  if (!s.capabilitiesAdd.empty()) j["capabilitiesAdd"] = s.capabilitiesAdd;
  if (!s.capabilitiesDrop.empty()) j["capabilitiesDrop"] = s.capabilitiesDrop;
  if (!s.seccompProfile.empty()) j["seccompProfile"] = s.seccompProfile;
  return j;
}

PodSecurityContext podSecurityContextFromJson(Reader& r) {
  PodSecurityContext s;
  s.runAsUser = optionalInteger(r, "runAsUser", 0, kMaxId);
  s.runAsGroup = optionalInteger(r, "runAsGroup", 0, kMaxId);
  s.runAsNonRoot = optionalBoolean(r, "runAsNonRoot");
  s.fsGroup = optionalInteger(r, "fsGroup", 0, kMaxId);
  if (const Json* groups = r.array("supplementalGroups", false, 64)) {
    for (std::size_t i = 0; i < groups->size(); ++i) {
      const Json& g = (*groups)[i];
      if (!g.is_number_integer() || g.get<std::int64_t>() < 0 || g.get<std::int64_t>() > kMaxId) {
        r.fail(invalidArgument(indexPath(r.pathOf("supplementalGroups"), i) +
                               ": must be a group id between 0 and 2147483647"));
        break;
      }
      s.supplementalGroups.push_back(g.get<std::int64_t>());
    }
  }
  if (const Json* sysctls = r.array("sysctls", false, 64)) {
    std::set<std::string> names;
    for (std::size_t i = 0; i < sysctls->size(); ++i) {
      std::string p = indexPath(r.pathOf("sysctls"), i);
      Reader sr((*sysctls)[i], p);
      Sysctl sc{sr.str("name", true, 253), sr.str("value", false, 4096)};
      if (sr.ok()) sr.fail(validateName("sysctl name", sc.name, 253, "._/-").withContext(p));
      if (sr.ok() && !names.insert(sc.name).second) sr.fail("name", "duplicate sysctl");
      r.fail(sr.finish());
      s.sysctls.push_back(std::move(sc));
    }
  }
  s.seccompProfile = readSeccomp(r);
  return s;
}

}  // namespace

Json toJson(const PodSecurityContext& s) {
  Json j = Json::object();
  if (s.runAsUser) j["runAsUser"] = *s.runAsUser;
  if (s.runAsGroup) j["runAsGroup"] = *s.runAsGroup;
  if (s.runAsNonRoot) j["runAsNonRoot"] = *s.runAsNonRoot;
  if (s.fsGroup) j["fsGroup"] = *s.fsGroup;
  if (!s.supplementalGroups.empty()) j["supplementalGroups"] = s.supplementalGroups;
  if (!s.sysctls.empty()) {
    Json a = Json::array();
    for (const auto& sc : s.sysctls) a.push_back({{"name", sc.name}, {"value", sc.value}});
    j["sysctls"] = a;
  }
  if (!s.seccompProfile.empty()) j["seccompProfile"] = s.seccompProfile;
  return j;
}

namespace {

// ---- Volumes ------------------------------------------------------------------------------------

Volume volumeFromJson(Reader& vr) {
  Volume v;
  v.name = vr.str("name", true, 253);
  if (vr.ok()) {
    vr.fail(validateName("volume name", v.name, 63, "-").withContext(vr.pathOf("name")));
  }
  v.kind = readEnum(vr, "type", kVolumeNames, Volume::Kind::kEmptyDir);
  if (vr.ok() && !vr.has("type")) vr.fail("type", "required value");
  if (const Json* files = vr.array("files", false, 1024)) {
    std::set<std::string> seenPaths;
    for (std::size_t k = 0; k < files->size(); ++k) {
      std::string fp = indexPath(vr.pathOf("files"), k);
      Reader fr((*files)[k], fp);
      FileItem f;
      f.path = fr.str("path", true, 253);
      if (fr.ok()) fr.fail(detail::validateRelativePath(fp + ".path", f.path));
      if (fr.ok() && !seenPaths.insert(f.path).second) {
        fr.fail("path", "duplicate file \"" + f.path + "\"");
      }
      std::string b64 = fr.str("content", false, kMaxPayload);
      f.mode = static_cast<int>(fr.integer("mode", 0, 0777, 0644));
      if (fr.ok()) {
        auto raw = base64Decode(b64);
        if (!raw.isOk()) {
          fr.fail("content", "not valid base64");
        } else {
          f.content = std::move(*raw);
        }
      }
      vr.fail(fr.finish());
      v.files.push_back(std::move(f));
    }
  }
  v.hostPath = vr.str("hostPath");
  v.medium = vr.str("medium", false, 16);
  v.sizeLimitBytes =
      vr.integer("sizeLimitBytes", std::numeric_limits<std::int64_t>::min(), kMaxBytes, 0);
  if (!vr.ok()) return v;
  if (v.kind == Volume::Kind::kHostPath) {
    vr.fail(detail::validateAbsolutePath(vr.pathOf("hostPath"), v.hostPath));
  } else if (!v.hostPath.empty()) {
    vr.fail("hostPath", "only allowed for type hostPath");
  }
  if (v.kind != Volume::Kind::kFiles && !v.files.empty()) {
    vr.fail("files", "only allowed for type files");
  }
  if (v.kind != Volume::Kind::kEmptyDir && (!v.medium.empty() || v.sizeLimitBytes != 0)) {
    vr.fail(v.medium.empty() ? "sizeLimitBytes" : "medium", "only allowed for type emptyDir");
  }
  if (!v.medium.empty() && v.medium != "Memory") vr.fail("medium", "must be \"\" or Memory");
  if (v.sizeLimitBytes < 0) vr.fail("sizeLimitBytes", "must not be negative");
  return v;
}

Json toJson(const Volume& v) {
  Json vj = {{"name", v.name}, {"type", kVolumeNames[static_cast<int>(v.kind)]}};
  if (v.kind == Volume::Kind::kFiles) {
    Json files = Json::array();
    for (const auto& f : v.files) {
      files.push_back({{"path", f.path}, {"content", base64Encode(f.content)}, {"mode", f.mode}});
    }
    vj["files"] = files;
  }
  if (v.kind == Volume::Kind::kHostPath) vj["hostPath"] = v.hostPath;
  if (!v.medium.empty()) vj["medium"] = v.medium;
  if (v.sizeLimitBytes != 0) vj["sizeLimitBytes"] = v.sizeLimitBytes;
  return vj;
}

// ---- Containers ---------------------------------------------------------------------------------

void readEnvPortsResources(Reader& r, ContainerSpec& c) {
  if (const Json* env = r.array("env")) {
    for (std::size_t i = 0; i < env->size(); ++i) {
      std::string p = indexPath(r.pathOf("env"), i);
      Reader e((*env)[i], p);
      EnvVar v{e.str("name", true, 1024), e.str("value", false, 256 * 1024)};
      if (e.ok()) e.fail(detail::validateEnvName(p + ".name", v.name));
      r.fail(e.finish());
      c.env.push_back(std::move(v));
    }
  }
  if (const Json* ports = r.array("ports", false, 256)) {
    for (std::size_t i = 0; i < ports->size(); ++i) {
      Reader pr((*ports)[i], indexPath(r.pathOf("ports"), i));
      PortMapping p;
      p.containerPort = static_cast<int>(pr.integer("containerPort", 1, 65535, 0, true));
      p.hostPort = static_cast<int>(pr.integer("hostPort", 0, 65535, 0));
      p.protocol = pr.str("protocol");
      if (p.protocol.empty()) p.protocol = "TCP";
      if (pr.ok() && p.protocol != "TCP" && p.protocol != "UDP") {
        pr.fail("protocol", "must be TCP or UDP");
      }
      p.hostIp = pr.str("hostIp", false, 64);
      r.fail(pr.finish());
      c.ports.push_back(std::move(p));
    }
  }
  if (const Json* res = r.object("resources")) {
    Reader rr(*res, r.pathOf("resources"));
    c.resources.cpuMillis = rr.integer("cpuMillis", 0, 1'000'000, 0);
    c.resources.memoryBytes = rr.integer("memoryBytes", 0, kMaxBytes, 0);
    r.fail(rr.finish());
  }
}

void readMounts(Reader& r, ContainerSpec& c) {
  const Json* mounts = r.array("mounts", false, 256);
  if (mounts == nullptr) return;
  std::set<std::string> paths;
  for (std::size_t i = 0; i < mounts->size(); ++i) {
    std::string mp = indexPath(r.pathOf("mounts"), i);
    Reader mr((*mounts)[i], mp);
    Mount mt;
    mt.volume = mr.str("volume", true, 253);
    mt.mountPath = mr.str("mountPath", true);
    mt.readOnly = mr.boolean("readOnly");
    mt.subPath = mr.str("subPath", false, 253);
    if (mr.ok()) mr.fail(detail::validateAbsolutePath(mp + ".mountPath", mt.mountPath));
    if (mr.ok() && !paths.insert(mt.mountPath).second) {
      mr.fail("mountPath", "duplicate mount path \"" + mt.mountPath + "\"");
    }
    if (mr.ok() && !mt.subPath.empty()) {
      mr.fail(detail::validateRelativePath(mp + ".subPath", mt.subPath));
    }
    r.fail(mr.finish());
    c.mounts.push_back(std::move(mt));
  }
}

template <typename T>
std::optional<T> readNested(Reader& r, std::string_view key,
                            Result<T> (*parse)(const Json&, const std::string&)) {
  const Json* j = r.object(key);
  if (j == nullptr) return std::nullopt;
  auto v = parse(*j, r.pathOf(key));
  if (!v.isOk()) {
    r.fail(v.status());
    return std::nullopt;
  }
  return std::move(*v);
}

Result<ContainerSpec> containerFromJson(const Json& j, const std::string& path, bool init) {
  Reader r(j, path);
  ContainerSpec c;
  c.name = r.str("name", true, 63);
  if (r.ok()) r.fail(validateContainerName(c.name).withContext(r.pathOf("name")));
  c.image = r.str("image", true, 1024);
  if (r.ok() && c.image.find_first_of(std::string_view(" \t\r\n\0", 5)) != std::string::npos) {
    r.fail("image", "must not contain whitespace");
  }
  c.pullPolicy = readEnum(r, "pullPolicy", kPullNames, PullPolicy::kIfNotPresent);
  c.command = r.strings("command");
  c.args = r.strings("args");
  c.workingDir = r.str("workingDir");
  if (r.ok() && !c.workingDir.empty()) {
    r.fail(detail::validateAbsolutePath(r.pathOf("workingDir"), c.workingDir));
  }
  readEnvPortsResources(r, c);
  readMounts(r, c);
  if (r.has("restartPolicy")) {
    c.restartPolicy = readEnum(r, "restartPolicy", kRestartNames, RestartPolicy::kAlways);
    if (r.ok() && !init) r.fail("restartPolicy", "may not be set for non-init containers");
    if (r.ok() && c.restartPolicy != RestartPolicy::kAlways) {
      r.fail("restartPolicy", "must be Always (a sidecar) when set");
    }
  } else {
    r.str("restartPolicy");
  }
  c.livenessProbe = readNested<Probe>(r, "livenessProbe", probeFromJson);
  c.readinessProbe = readNested<Probe>(r, "readinessProbe", probeFromJson);
  c.startupProbe = readNested<Probe>(r, "startupProbe", probeFromJson);
  if (const Json* lc = r.object("lifecycle")) {
    Reader lr(*lc, r.pathOf("lifecycle"));
    c.lifecycle.postStart = readNested<Handler>(lr, "postStart", handlerFromJson);
    c.lifecycle.preStop = readNested<Handler>(lr, "preStop", handlerFromJson);
    r.fail(lr.finish());
  }
  if (const Json* sc = r.object("securityContext")) {
    Reader sr(*sc, r.pathOf("securityContext"));
    c.securityContext = securityContextFromJson(sr);
    r.fail(sr.finish());
  }
  if (r.ok() && init && !isSidecar(c)) {
    for (const char* k : {"livenessProbe", "readinessProbe", "startupProbe", "lifecycle"}) {
      if (r.has(k)) {
        r.fail(k, "must not be set for init containers (only for sidecars: restartPolicy Always)");
        break;
      }
    }
  }
  SKIFF_RETURN_IF_ERROR(r.finish());
  return c;
}

}  // namespace

Json toJson(const ContainerSpec& c) {
  Json j = {{"name", c.name}, {"image", c.image}, {"pullPolicy", toString(c.pullPolicy)}};
  if (!c.command.empty()) j["command"] = c.command;
  if (!c.args.empty()) j["args"] = c.args;
  if (!c.workingDir.empty()) j["workingDir"] = c.workingDir;
  if (!c.env.empty()) {
    Json env = Json::array();
    for (const auto& e : c.env) env.push_back({{"name", e.name}, {"value", e.value}});
    j["env"] = env;
  }
  if (!c.ports.empty()) {
    Json ports = Json::array();
    for (const auto& p : c.ports) {
      Json pj = {{"containerPort", p.containerPort}, {"protocol", p.protocol}};
      if (p.hostPort != 0) pj["hostPort"] = p.hostPort;
      if (!p.hostIp.empty()) pj["hostIp"] = p.hostIp;
      ports.push_back(pj);
    }
    j["ports"] = ports;
  }
  if (c.resources.cpuMillis != 0 || c.resources.memoryBytes != 0) {
    Json res = Json::object();
    if (c.resources.cpuMillis != 0) res["cpuMillis"] = c.resources.cpuMillis;
    if (c.resources.memoryBytes != 0) res["memoryBytes"] = c.resources.memoryBytes;
    j["resources"] = res;
  }
  if (!c.mounts.empty()) {
    Json mounts = Json::array();
    for (const auto& mt : c.mounts) {
      Json mj = {{"volume", mt.volume}, {"mountPath", mt.mountPath}, {"readOnly", mt.readOnly}};
      if (!mt.subPath.empty()) mj["subPath"] = mt.subPath;
      mounts.push_back(mj);
    }
    j["mounts"] = mounts;
  }
  if (c.restartPolicy) j["restartPolicy"] = toString(*c.restartPolicy);
  if (c.livenessProbe) j["livenessProbe"] = toJson(*c.livenessProbe);
  if (c.readinessProbe) j["readinessProbe"] = toJson(*c.readinessProbe);
  if (c.startupProbe) j["startupProbe"] = toJson(*c.startupProbe);
  if (c.lifecycle.postStart || c.lifecycle.preStop) {
    Json lc = Json::object();
    if (c.lifecycle.postStart) lc["postStart"] = toJson(*c.lifecycle.postStart);
    if (c.lifecycle.preStop) lc["preStop"] = toJson(*c.lifecycle.preStop);
    j["lifecycle"] = lc;
  }
  Json sc = toJson(c.securityContext);
  if (!sc.empty()) j["securityContext"] = sc;
  return j;
}

namespace {

// Cross-container rules of one pod: unique names, mounts of existing volumes, one owner per
// port in the shared network namespace and per host port.
Status checkPod(const PodSpec& p, const std::string& path) {
  std::set<std::string> volumes;
  for (const auto& v : p.volumes) volumes.insert(v.name);
  std::map<std::string, std::string> names;  // container name -> path
  std::map<std::string, std::string> ports;  // "8080/TCP" -> container
  std::map<std::string, std::string> hostPorts;
  auto check = [&](const ContainerSpec& c, const std::string& cp, bool runsBesideApps) -> Status {
    if (auto [it, inserted] = names.emplace(c.name, cp); !inserted) {
      return invalidArgument(cp + ".name: duplicate container name \"" + c.name + "\" (also " +
                             it->second + ")");
    }
    for (std::size_t i = 0; i < c.mounts.size(); ++i) {
      if (!volumes.contains(c.mounts[i].volume)) {
        return invalidArgument(indexPath(cp + ".mounts", i) + ".volume: no volume named \"" +
                               c.mounts[i].volume + "\" in the pod");
      }
    }
    for (std::size_t i = 0; i < c.ports.size(); ++i) {
      const PortMapping& pm = c.ports[i];
      std::string pp = indexPath(cp + ".ports", i);
      std::string key = std::to_string(pm.containerPort) + "/" + pm.protocol;
      if (runsBesideApps) {
        if (auto [it, inserted] = ports.emplace(key, c.name); !inserted) {
          return invalidArgument(pp + ".containerPort: duplicate port " + key +
                                 " in the pod (container \"" + it->second +
                                 "\" has it; containers of a pod share one network namespace)");
        }
      }
      if (pm.hostPort > 0) {
        std::string hkey = pm.hostIp + ":" + std::to_string(pm.hostPort) + "/" + pm.protocol;
        if (auto [it, inserted] = hostPorts.emplace(hkey, c.name); !inserted) {
          return invalidArgument(pp + ".hostPort: duplicate host port " +
                                 std::to_string(pm.hostPort) + "/" + pm.protocol +
                                 " (container \"" + it->second + "\" has it)");
        }
      }
    }
    return Status::ok();
  };
  for (std::size_t i = 0; i < p.initContainers.size(); ++i) {
    const ContainerSpec& c = p.initContainers[i];
    SKIFF_RETURN_IF_ERROR(check(c, indexPath(path + ".initContainers", i), isSidecar(c)));
  }
  for (std::size_t i = 0; i < p.containers.size(); ++i) {
    SKIFF_RETURN_IF_ERROR(check(p.containers[i], indexPath(path + ".containers", i), true));
  }
  if (p.hostNetwork && !p.securityContext.sysctls.empty()) {
    for (const auto& s : p.securityContext.sysctls) {
      if (s.name.starts_with("net.")) {
        return invalidArgument(path + ".securityContext.sysctls: " + s.name +
                               " would change the device's own network namespace (hostNetwork)");
      }
    }
  }
  return Status::ok();
}

std::vector<ContainerSpec> readContainers(Reader& r, std::string_view key, bool init,
                                          bool required) {
  std::vector<ContainerSpec> out;
  const Json* a = r.array(key, required, 64);
  if (a == nullptr) return out;
  if (r.ok() && required && a->empty()) r.fail(key, "at least one container is required");
  for (std::size_t i = 0; r.ok() && i < a->size(); ++i) {
    auto c = containerFromJson((*a)[i], indexPath(r.pathOf(key), i), init);
    if (!c.isOk()) {
      r.fail(c.status());
      break;
    }
    out.push_back(std::move(*c));
  }
  return out;
}

}  // namespace

bool isSidecar(const ContainerSpec& c) {
  return c.restartPolicy && *c.restartPolicy == RestartPolicy::kAlways;
}

std::string moduleName(std::string_view pod, std::string_view container) {
  std::string out(pod);
  out += '/';
  out += container;
  return out;
}

std::string_view podOfModule(std::string_view module) { return module.substr(0, module.find('/')); }

Status validatePodName(std::string_view name) { return validateName("pod name", name, 253, ".-"); }

Status validateContainerName(std::string_view name) {
  return validateName("container name", name, 63, "-");
}

Status validateModuleName(std::string_view name) {
  return validateName("module name", name, 317, "-._/");
}

Json toJson(const PodSpec& p) {
  Json j = {{"name", p.name},
            {"restartPolicy", toString(p.restartPolicy)},
            {"terminationGracePeriodSeconds", p.terminationGracePeriodSeconds}};
  if (!p.deploymentId.empty()) j["deploymentId"] = p.deploymentId;
  if (p.hostNetwork) j["hostNetwork"] = true;
  if (p.hostPID) j["hostPID"] = true;
  if (p.hostIPC) j["hostIPC"] = true;
  if (p.shareProcessNamespace) j["shareProcessNamespace"] = true;
  if (!p.hostname.empty()) j["hostname"] = p.hostname;
  Json sc = toJson(p.securityContext);
  if (!sc.empty()) j["securityContext"] = sc;
  if (!p.volumes.empty()) {
    Json vols = Json::array();
    for (const auto& v : p.volumes) vols.push_back(toJson(v));
    j["volumes"] = vols;
  }
  if (!p.initContainers.empty()) {
    Json a = Json::array();
    for (const auto& c : p.initContainers) a.push_back(toJson(c));
    j["initContainers"] = a;
  }
  Json a = Json::array();
  for (const auto& c : p.containers) a.push_back(toJson(c));
  j["containers"] = a;
  return j;
}

Result<PodSpec> podSpecFromJson(const Json& j, const std::string& path) {
  Reader r(j, path);
  PodSpec p;
  p.name = r.str("name", true, 253);
  if (r.ok()) r.fail(validatePodName(p.name).withContext(r.pathOf("name")));
  p.deploymentId = r.str("deploymentId", false, 253);
  p.restartPolicy = readEnum(r, "restartPolicy", kRestartNames, RestartPolicy::kAlways);
  p.terminationGracePeriodSeconds =
      static_cast<int>(r.integer("terminationGracePeriodSeconds", 0, 3600, 30));
  p.hostNetwork = r.boolean("hostNetwork");
  p.hostPID = r.boolean("hostPID");
  p.hostIPC = r.boolean("hostIPC");
  p.shareProcessNamespace = r.boolean("shareProcessNamespace");
  if (r.ok() && p.hostPID && p.shareProcessNamespace) {
    r.fail("shareProcessNamespace", "may not be true when hostPID is true");
  }
  p.hostname = r.str("hostname", false, 63);
  if (r.ok() && !p.hostname.empty()) {
    r.fail(validateName("hostname", p.hostname, 63, "-").withContext(r.pathOf("hostname")));
  }
  if (const Json* sc = r.object("securityContext")) {
    Reader sr(*sc, r.pathOf("securityContext"));
    p.securityContext = podSecurityContextFromJson(sr);
    r.fail(sr.finish());
  }
  if (const Json* vols = r.array("volumes", false, 256)) {
    std::set<std::string> names;
    for (std::size_t i = 0; r.ok() && i < vols->size(); ++i) {
      Reader vr((*vols)[i], indexPath(r.pathOf("volumes"), i));
      Volume v = volumeFromJson(vr);
      if (vr.ok() && !names.insert(v.name).second) {
        vr.fail("name", "duplicate volume \"" + v.name + "\"");
      }
      r.fail(vr.finish());
      p.volumes.push_back(std::move(v));
    }
  }
  p.initContainers = readContainers(r, "initContainers", true, false);
  p.containers = readContainers(r, "containers", false, true);
  if (r.ok()) r.fail(checkPod(p, path));
  SKIFF_RETURN_IF_ERROR(r.finish());
  return p;
}

Result<std::vector<PodSpec>> podSpecsFromJson(const Json& j, const std::string& path) {
  if (!j.is_array()) {
    return invalidArgument(path + ": expected array, got " + std::string(jsonTypeName(j)));
  }
  if (j.size() > 256) return invalidArgument(path + ": more than 256 pods");
  std::vector<PodSpec> out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < j.size(); ++i) {
    SKIFF_ASSIGN_OR_RETURN(PodSpec p, podSpecFromJson(j[i], indexPath(path, i)));
    if (!names.insert(p.name).second) {
      return invalidArgument(indexPath(path, i) + ".name: duplicate pod \"" + p.name + "\"");
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::string specHash(const PodSpec& p) { return tls::sha256Hex(dumpJson(toJson(p))); }

std::string_view toString(RestartPolicy p) { return kRestartNames[static_cast<int>(p)]; }
std::string_view toString(PullPolicy p) { return kPullNames[static_cast<int>(p)]; }

}  // namespace skiff::common::protocol
