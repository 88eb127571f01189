// Protocol payloads: topics, validation, JSON conversion, desired-state signing (see protocol.h
// and docs/protocol.md).
#include "common/protocol/protocol.h"

#include <algorithm>
#include <set>

#include "common/base64.h"
#include "common/clock.h"
#include "common/protocol/reader.h"
#include "common/tls.h"

namespace skiff::common::protocol {

using detail::Reader;

namespace {

constexpr std::int64_t kMaxInt = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t kMaxBytes = std::int64_t{1} << 52;

std::string indexPath(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Reads an enum given as one of `names` (index = enum value); def when absent.
template <typename E, std::size_t N>
E readEnum(Reader& r, std::string_view key, const std::string_view (&names)[N], E def) {
  if (!r.has(key)) {
    r.str(key);  // marks the key as known
    return def;
  }
  std::string v = r.str(key);
  for (std::size_t i = 0; i < N; ++i) {
    if (v == names[i]) return static_cast<E>(i);
  }
  std::string allowed;
  for (std::size_t i = 0; i < N; ++i) allowed += (i ? ", " : "") + std::string(names[i]);
  if (r.ok()) r.fail(key, "unsupported value \"" + v + "\" (allowed: " + allowed + ")");
  return def;
}

constexpr std::string_view kRestartNames[] = {"Always", "OnFailure", "Never"};
constexpr std::string_view kPullNames[] = {"IfNotPresent", "Always", "Never"};
constexpr std::string_view kStateNames[] = {"waiting", "running", "terminated"};
constexpr std::string_view kHealthNames[] = {"unknown", "healthy", "unhealthy"};
constexpr std::string_view kVolumeNames[] = {"files", "emptyDir", "hostPath"};
constexpr std::string_view kProbeNames[] = {"exec", "httpGet", "tcpSocket"};

Status validateRelativePath(const std::string& path, const std::string& p) {
  if (p.empty() || p.size() > 253) return invalidArgument(path + ": must be 1-253 characters");
  if (p.front() == '/') return invalidArgument(path + ": must be relative");
  std::size_t start = 0;
  while (start <= p.size()) {
    std::size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    std::string_view part(p.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return invalidArgument(path + ": must not contain empty, '.' or '..' elements");
    }
    start = end + 1;
  }
  if (p.find('\0') != std::string::npos) return invalidArgument(path + ": contains NUL");
  return Status::ok();
}

Status validateAbsolutePath(const std::string& path, const std::string& p) {
  if (p.empty() || p.front() != '/') return invalidArgument(path + ": must be an absolute path");
  if (p.find('\0') != std::string::npos) return invalidArgument(path + ": contains NUL");
  if (p.find("/../") != std::string::npos || p.ends_with("/..")) {
    return invalidArgument(path + ": must not contain '..'");
  }
  return Status::ok();
}

Status validateEnvName(const std::string& path, const std::string& n) {
  if (n.empty()) return invalidArgument(path + ": must not be empty");
  for (char c : n) {
    if (c == '=' || c == '\0' || static_cast<unsigned char>(c) < 0x20) {
      return invalidArgument(path + ": invalid character in \"" + n + "\"");
    }
  }
  return Status::ok();
}

Result<Probe> probeFromJson(const Json& j, const std::string& path) {
  Reader r(j, path);
  Probe p;
  int kinds = 0;
  if (const Json* e = r.object("exec")) {
    Reader er(*e, r.pathOf("exec"));
    p.kind = Probe::Kind::kExec;
    p.command = er.strings("command");
    if (er.ok() && p.command.empty()) er.fail("command", "must not be empty");
    r.fail(er.finish());
    ++kinds;
  }
  if (const Json* h = r.object("httpGet")) {
    Reader hr(*h, r.pathOf("httpGet"));
    p.kind = Probe::Kind::kHttpGet;
    p.path = hr.str("path");
    if (p.path.empty()) p.path = "/";
    if (hr.ok() && p.path.front() != '/') hr.fail("path", "must start with '/'");
    p.scheme = hr.str("scheme");
    if (p.scheme.empty()) p.scheme = "HTTP";
    if (hr.ok() && p.scheme != "HTTP" && p.scheme != "HTTPS") {
      hr.fail("scheme", "must be HTTP or HTTPS");
    }
    p.host = hr.str("host", false, 253);
    p.port = static_cast<int>(hr.integer("port", 1, 65535, 0, true));
    if (const Json* hs = hr.array("httpHeaders", false, 64)) {
      for (std::size_t i = 0; i < hs->size(); ++i) {
        Reader e((*hs)[i], indexPath(hr.pathOf("httpHeaders"), i));
        std::string name = e.str("name", true, 256);
        std::string value = e.str("value");
        hr.fail(e.finish());
        p.httpHeaders.emplace_back(std::move(name), std::move(value));
      }
    }
    r.fail(hr.finish());
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

Json probeToJson(const Probe& p) {
  Json j = {{"initialDelaySeconds", p.initialDelaySeconds},
            {"periodSeconds", p.periodSeconds},
            {"timeoutSeconds", p.timeoutSeconds},
            {"successThreshold", p.successThreshold},
            {"failureThreshold", p.failureThreshold}};
  switch (p.kind) {
    case Probe::Kind::kExec:
      j["exec"] = {{"command", p.command}};
      break;
    case Probe::Kind::kHttpGet: {
      Json h = {{"path", p.path}, {"scheme", p.scheme}, {"port", p.port}};
      if (!p.host.empty()) h["host"] = p.host;
      if (!p.httpHeaders.empty()) {
        Json hs = Json::array();
        for (const auto& [n, v] : p.httpHeaders) hs.push_back({{"name", n}, {"value", v}});
        h["httpHeaders"] = hs;
      }
      j["httpGet"] = h;
      break;
    }
    case Probe::Kind::kTcpSocket: {
      Json t = {{"port", p.port}};
      if (!p.host.empty()) t["host"] = p.host;
      j["tcpSocket"] = t;
      break;
    }
  }
  return j;
}

Result<Termination> terminationFromJson(const Json& j, const std::string& path) {
  Reader r(j, path);
  Termination t;
  t.exitCode = static_cast<int>(r.integer("exitCode", -kMaxInt, kMaxInt, 0, true));
  t.reason = r.str("reason", false, 128);
  t.startedAt = r.str("startedAt", false, 64);
  t.finishedAt = r.str("finishedAt", false, 64);
  SKIFF_RETURN_IF_ERROR(r.finish());
  return t;
}

Json terminationToJson(const Termination& t) {
  Json j = {{"exitCode", t.exitCode}};
  if (!t.reason.empty()) j["reason"] = t.reason;
  if (!t.startedAt.empty()) j["startedAt"] = t.startedAt;
  if (!t.finishedAt.empty()) j["finishedAt"] = t.finishedAt;
  return j;
}

}  // namespace

// ---- Topics ---------------------------------------------------------------------------------

std::string topicFor(std::string_view deviceId, Channel channel) {
  static constexpr std::string_view kNames[] = {"desired", "reported", "presence", "metrics",
                                                "rpc/request"};
  return std::string(kTopicRoot) + std::string(deviceId) + "/" +
         std::string(kNames[static_cast<int>(channel)]);
}

std::string rpcResponseTopic(std::string_view deviceId, std::string_view requestId) {
  return std::string(kTopicRoot) + std::string(deviceId) + "/rpc/response/" +
         std::string(requestId);
}

std::string allDevicesFilter(Channel channel) { return topicFor("+", channel); }

std::string allRpcResponsesFilter() { return std::string(kTopicRoot) + "+/rpc/response/#"; }

std::optional<ParsedTopic> parseDeviceTopic(std::string_view topic) {
  if (!topic.starts_with(kTopicRoot)) return std::nullopt;
  topic.remove_prefix(kTopicRoot.size());
  auto slash = topic.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  ParsedTopic p{std::string(topic.substr(0, slash)), std::string(topic.substr(slash + 1))};
  if (!validateDeviceId(p.deviceId).isOk() || p.rest.empty()) return std::nullopt;
  return p;
}

Status validateDeviceId(std::string_view id) {
  if (id.empty() || id.size() > 63) {
    return invalidArgument("device id must be 1-63 characters");
  }
  for (char c : id) {
    if (!isLowerAlnum(c) && c != '-') {
      return invalidArgument("device id \"" + std::string(id) +
                             "\" may contain only lower-case letters, digits and '-'");
    }
  }
  if (!isLowerAlnum(id.front()) || !isLowerAlnum(id.back())) {
    return invalidArgument("device id \"" + std::string(id) +
                           "\" must start and end with a letter or digit");
  }
  return Status::ok();
}

Status validateModuleName(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return invalidArgument("module name must be 1-253 characters");
  }
  for (char c : name) {
    if (!isLowerAlnum(c) && c != '-' && c != '.' && c != '_' && c != '/') {
      return invalidArgument("module name \"" + std::string(name) +
                             "\" may contain only lower-case letters, digits and '-._/'");
    }
  }
  if (!isLowerAlnum(name.front()) || !isLowerAlnum(name.back())) {
    return invalidArgument("module name \"" + std::string(name) +
                           "\" must start and end with a letter or digit");
  }
  return Status::ok();
}

// ---- Module spec ----------------------------------------------------------------------------

Json toJson(const ModuleSpec& m) {
  Json j = {{"name", m.name},
            {"image", m.image},
            {"pullPolicy", toString(m.pullPolicy)},
            {"restartPolicy", toString(m.restartPolicy)},
            {"stopTimeoutSeconds", m.stopTimeoutSeconds}};
  if (!m.deploymentId.empty()) j["deploymentId"] = m.deploymentId;
  if (!m.command.empty()) j["command"] = m.command;
  if (!m.args.empty()) j["args"] = m.args;
  if (!m.workingDir.empty()) j["workingDir"] = m.workingDir;
  if (!m.env.empty()) {
    Json env = Json::array();
    for (const auto& e : m.env) env.push_back({{"name", e.name}, {"value", e.value}});
    j["env"] = env;
  }
  if (!m.ports.empty()) {
    Json ports = Json::array();
    for (const auto& p : m.ports) {
      Json pj = {{"containerPort", p.containerPort}, {"protocol", p.protocol}};
      if (p.hostPort != 0) pj["hostPort"] = p.hostPort;
      if (!p.hostIp.empty()) pj["hostIp"] = p.hostIp;
      ports.push_back(pj);
    }
    j["ports"] = ports;
  }
  if (m.resources.cpuMillis != 0 || m.resources.memoryBytes != 0) {
    Json res = Json::object();
    if (m.resources.cpuMillis != 0) res["cpuMillis"] = m.resources.cpuMillis;
    if (m.resources.memoryBytes != 0) res["memoryBytes"] = m.resources.memoryBytes;
    j["resources"] = res;
  }
  if (!m.volumes.empty()) {
    Json vols = Json::array();
    for (const auto& v : m.volumes) {
      Json vj = {{"name", v.name}, {"type", kVolumeNames[static_cast<int>(v.kind)]}};
      if (v.kind == Volume::Kind::kFiles) {
        Json files = Json::array();
        for (const auto& f : v.files) {
          files.push_back(
              {{"path", f.path}, {"content", base64Encode(f.content)}, {"mode", f.mode}});
        }
        vj["files"] = files;
      }
      if (v.kind == Volume::Kind::kHostPath) vj["hostPath"] = v.hostPath;
      vols.push_back(vj);
    }
    j["volumes"] = vols;
  }
  if (!m.mounts.empty()) {
    Json mounts = Json::array();
    for (const auto& mt : m.mounts) {
      Json mj = {{"volume", mt.volume}, {"mountPath", mt.mountPath}, {"readOnly", mt.readOnly}};
      if (!mt.subPath.empty()) mj["subPath"] = mt.subPath;
      mounts.push_back(mj);
    }
    j["mounts"] = mounts;
  }
  if (m.privileged) j["privileged"] = true;
  if (m.livenessProbe) j["livenessProbe"] = probeToJson(*m.livenessProbe);
  if (m.readinessProbe) j["readinessProbe"] = probeToJson(*m.readinessProbe);
  return j;
}

Result<ModuleSpec> moduleSpecFromJson(const Json& j, const std::string& path) {
  Reader r(j, path);
  ModuleSpec m;
  m.name = r.str("name", true, 253);
  if (r.ok()) r.fail(validateModuleName(m.name).withContext(r.pathOf("name")));
  m.deploymentId = r.str("deploymentId", false, 253);
  m.image = r.str("image", true, 1024);
  if (r.ok() && m.image.find_first_of(" \t\r\n\0") != std::string::npos) {
    r.fail("image", "must not contain whitespace");
  }
  m.pullPolicy = readEnum(r, "pullPolicy", kPullNames, PullPolicy::kIfNotPresent);
  m.restartPolicy = readEnum(r, "restartPolicy", kRestartNames, RestartPolicy::kAlways);
  m.command = r.strings("command");
  m.args = r.strings("args");
  m.workingDir = r.str("workingDir");
  if (r.ok() && !m.workingDir.empty()) {
    r.fail(validateAbsolutePath(r.pathOf("workingDir"), m.workingDir));
  }
  m.stopTimeoutSeconds = static_cast<int>(r.integer("stopTimeoutSeconds", 0, 3600, 10));
  m.privileged = r.boolean("privileged");
  if (const Json* env = r.array("env")) {
    for (std::size_t i = 0; i < env->size(); ++i) {
      std::string p = indexPath(r.pathOf("env"), i);
      Reader e((*env)[i], p);
      EnvVar v{e.str("name", true, 1024), e.str("value", false, 256 * 1024)};
      if (e.ok()) e.fail(validateEnvName(p + ".name", v.name));
      r.fail(e.finish());
      m.env.push_back(std::move(v));
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
      m.ports.push_back(std::move(p));
    }
  }
  if (const Json* res = r.object("resources")) {
    Reader rr(*res, r.pathOf("resources"));
    m.resources.cpuMillis = rr.integer("cpuMillis", 0, 1'000'000, 0);
    m.resources.memoryBytes = rr.integer("memoryBytes", 0, kMaxBytes, 0);
    r.fail(rr.finish());
  }
  std::set<std::string> volumeNames;
  if (const Json* vols = r.array("volumes", false, 256)) {
    for (std::size_t i = 0; i < vols->size(); ++i) {
      std::string vp = indexPath(r.pathOf("volumes"), i);
      Reader vr((*vols)[i], vp);
      Volume v;
      v.name = vr.str("name", true, 253);
      if (vr.ok() && !volumeNames.insert(v.name).second) {
        vr.fail("name", "duplicate volume \"" + v.name + "\"");
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
          if (fr.ok()) fr.fail(validateRelativePath(fp + ".path", f.path));
          if (fr.ok() && !seenPaths.insert(f.path).second) {
            fr.fail("path", "duplicate file \"" + f.path + "\"");
          }
          std::string b64 = fr.str("content", false, kMaxPayloadBytes);
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
      if (vr.ok()) {
        if (v.kind == Volume::Kind::kHostPath) {
          vr.fail(validateAbsolutePath(vr.pathOf("hostPath"), v.hostPath));
        } else if (!v.hostPath.empty()) {
          vr.fail("hostPath", "only allowed for type hostPath");
        }
        if (v.kind != Volume::Kind::kFiles && !v.files.empty()) {
          vr.fail("files", "only allowed for type files");
        }
      }
      r.fail(vr.finish());
      m.volumes.push_back(std::move(v));
    }
  }
  if (const Json* mounts = r.array("mounts", false, 256)) {
    std::set<std::string> paths;
    for (std::size_t i = 0; i < mounts->size(); ++i) {
      std::string mp = indexPath(r.pathOf("mounts"), i);
      Reader mr((*mounts)[i], mp);
      Mount mt;
      mt.volume = mr.str("volume", true, 253);
      mt.mountPath = mr.str("mountPath", true);
      mt.readOnly = mr.boolean("readOnly");
      mt.subPath = mr.str("subPath", false, 253);
      if (mr.ok() && !volumeNames.contains(mt.volume)) {
        mr.fail("volume", "no volume named \"" + mt.volume + "\"");
      }
      if (mr.ok()) mr.fail(validateAbsolutePath(mp + ".mountPath", mt.mountPath));
      if (mr.ok() && !paths.insert(mt.mountPath).second) {
        mr.fail("mountPath", "duplicate mount path \"" + mt.mountPath + "\"");
      }
      if (mr.ok() && !mt.subPath.empty()) {
        mr.fail(validateRelativePath(mp + ".subPath", mt.subPath));
      }
      r.fail(mr.finish());
      m.mounts.push_back(std::move(mt));
    }
  }
  if (const Json* p = r.object("livenessProbe")) {
    auto probe = probeFromJson(*p, r.pathOf("livenessProbe"));
    if (probe.isOk()) {
      m.livenessProbe = std::move(*probe);
    } else {
      r.fail(probe.status());
    }
  }
  if (const Json* p = r.object("readinessProbe")) {
    auto probe = probeFromJson(*p, r.pathOf("readinessProbe"));
    if (probe.isOk()) {
      m.readinessProbe = std::move(*probe);
    } else {
      r.fail(probe.status());
    }
  }
  SKIFF_RETURN_IF_ERROR(r.finish());
  return m;
}

Result<std::vector<ModuleSpec>> moduleSpecsFromJson(const Json& j, const std::string& path) {
  if (!j.is_array()) {
    return invalidArgument(path + ": expected array, got " + std::string(jsonTypeName(j)));
  }
  if (j.size() > 256) return invalidArgument(path + ": more than 256 modules");
  std::vector<ModuleSpec> out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < j.size(); ++i) {
    SKIFF_ASSIGN_OR_RETURN(ModuleSpec m, moduleSpecFromJson(j[i], indexPath(path, i)));
    if (!names.insert(m.name).second) {
      return invalidArgument(indexPath(path, i) + ".name: duplicate module \"" + m.name + "\"");
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::string specHash(const ModuleSpec& m) { return tls::sha256Hex(dumpJson(toJson(m))); }

// ---- Desired state ----------------------------------------------------------------------------

Json toJson(const DesiredState& d) {
  Json modules = Json::array();
  for (const auto& m : d.modules) modules.push_back(toJson(m));
  Json j = {{"schema", kSchema},
            {"deviceId", d.deviceId},
            {"version", d.version},
            {"issuedAt", d.issuedAt},
            {"modules", modules}};
  if (!d.registryCredentials.empty()) {
    Json creds = Json::array();
    for (const auto& c : d.registryCredentials) {
      creds.push_back({{"server", c.server}, {"username", c.username}, {"password", c.password}});
    }
    j["registryCredentials"] = creds;
  }
  return j;
}

Result<DesiredState> desiredStateFromJson(const Json& j) {
  Reader r(j, "desired");
  DesiredState d;
  r.integer("schema", kSchema, kSchema, 0, true);
  d.deviceId = r.str("deviceId", true, 63);
  if (r.ok()) r.fail(validateDeviceId(d.deviceId).withContext("desired.deviceId"));
  d.version = r.integer("version", 1, std::numeric_limits<std::int64_t>::max(), 0, true);
  d.issuedAt = r.str("issuedAt", false, 64);
  if (const Json* modules = r.array("modules", true, 256)) {
    auto ms = moduleSpecsFromJson(*modules, "desired.modules");
    if (ms.isOk()) {
      d.modules = std::move(*ms);
    } else {
      r.fail(ms.status());
    }
  }
  if (const Json* creds = r.array("registryCredentials", false, 64)) {
    for (std::size_t i = 0; i < creds->size(); ++i) {
      Reader cr((*creds)[i], indexPath("desired.registryCredentials", i));
      RegistryCredential c{cr.str("server", true, 253), cr.str("username", false, 1024),
                           cr.str("password", false, 16 * 1024)};
      r.fail(cr.finish());
      d.registryCredentials.push_back(std::move(c));
    }
  }
  r.object("signature");  // verified by verifyDesired; a known key here
  SKIFF_RETURN_IF_ERROR(r.finish());
  return d;
}

std::string keyIdOf(std::string_view publicKeyPem) {
  return tls::sha256Hex(publicKeyPem).substr(0, 16);
}

Result<std::string> signDesired(const DesiredState& d, const tls::PrivateKey& key) {
  SKIFF_ASSIGN_OR_RETURN(std::string pub, key.publicKeyPem());
  return signDesired(d, key, keyIdOf(pub));
}

Result<std::string> signDesired(const DesiredState& d, const tls::PrivateKey& key,
                                std::string_view keyId) {
  return signDesiredJson(toJson(d), key, keyId);
}

Result<std::string> signDesiredJson(const Json& document, const tls::PrivateKey& key,
                                    std::string_view keyId) {
  if (!document.is_object() || document.empty()) {
    return invalidArgument("desired document must be a non-empty object");
  }
  std::string canonical = dumpJson(document);
  SKIFF_ASSIGN_OR_RETURN(std::string sig, key.sign(canonical));
  // One serialization: the signature goes after the canonical text instead of re-dumping.
  Json signature = {{"alg", "Ed25519"}, {"keyId", keyId}, {"value", base64Encode(sig)}};
  canonical.pop_back();  // '}'
  canonical += ",\"signature\":";
  canonical += dumpJson(signature);
  canonical += '}';
  return canonical;
}

Result<DesiredState> verifyDesired(std::string_view payload, std::string_view publicKeyPem) {
  SKIFF_ASSIGN_OR_RETURN(Json j, parsePayload(payload));
  if (!j.is_object() || !j.contains("signature")) {
    return unauthenticated("desired state is not signed");
  }
  Json sig = j["signature"];
  if (!sig.is_object() || !sig.contains("value") || !sig["value"].is_string()) {
    return unauthenticated("desired state signature is malformed");
  }
  // Not sig.value("alg", ""): it throws when "alg" is present but not a string.
  if (!sig.contains("alg") || !sig["alg"].is_string() ||
      sig["alg"].get<std::string>() != "Ed25519") {
    return unauthenticated("desired state signature algorithm must be Ed25519");
  }
  auto raw = base64Decode(sig["value"].get<std::string>());
  if (!raw.isOk()) return unauthenticated("desired state signature is not valid base64");
  j.erase("signature");
  Status v = tls::verifySignature(publicKeyPem, dumpJson(j), *raw);
  if (!v.isOk()) return unauthenticated("desired state signature does not verify: " + v.message());
  return desiredStateFromJson(j);
}

// ---- Reported state -------------------------------------------------------------------------

Json toJson(const ModuleStatus& s) {
  Json j = {{"name", s.name},
            {"state", toString(s.state)},
            {"restartCount", s.restartCount},
            {"ready", s.ready},
            {"health", toString(s.health)}};
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  put("deploymentId", s.deploymentId);
  put("specHash", s.specHash);
  put("image", s.image);
  put("imageId", s.imageId);
  put("containerId", s.containerId);
  put("reason", s.reason);
  put("message", s.message);
  put("startedAt", s.startedAt);
  put("finishedAt", s.finishedAt);
  if (s.exitCode) j["exitCode"] = *s.exitCode;
  if (s.lastTermination) j["lastTermination"] = terminationToJson(*s.lastTermination);
  return j;
}

Result<ModuleStatus> moduleStatusFromJson(const Json& j, const std::string& path) {
  Reader r(j, path);
  ModuleStatus s;
  s.name = r.str("name", true, 253);
  if (r.ok()) r.fail(validateModuleName(s.name).withContext(r.pathOf("name")));
  s.deploymentId = r.str("deploymentId", false, 253);
  s.specHash = r.str("specHash", false, 64);
  s.image = r.str("image", false, 1024);
  s.imageId = r.str("imageId", false, 256);
  s.containerId = r.str("containerId", false, 128);
  s.state = readEnum(r, "state", kStateNames, ModuleState::kWaiting);
  s.reason = r.str("reason", false, 128);
  s.message = r.str("message", false, 4096);
  s.restartCount = static_cast<int>(r.integer("restartCount", 0, kMaxInt, 0));
  if (r.has("exitCode")) {
    s.exitCode = static_cast<int>(r.integer("exitCode", -kMaxInt, kMaxInt));
  } else {
    r.integer("exitCode", 0, 0);
  }
  s.startedAt = r.str("startedAt", false, 64);
  s.finishedAt = r.str("finishedAt", false, 64);
  s.ready = r.boolean("ready");
  s.health = readEnum(r, "health", kHealthNames, Health::kUnknown);
  if (const Json* t = r.object("lastTermination")) {
    auto term = terminationFromJson(*t, r.pathOf("lastTermination"));
    if (term.isOk()) {
      s.lastTermination = std::move(*term);
    } else {
      r.fail(term.status());
    }
  }
  SKIFF_RETURN_IF_ERROR(r.finish());
  return s;
}

Json toJson(const DeviceFacts& f) {
  return {{"arch", f.arch},
          {"os", f.os},
          {"osRelease", f.osRelease},
          {"kernel", f.kernel},
          {"hostname", f.hostname},
          {"cpus", f.cpus},
          {"memoryBytes", f.memoryBytes},
          {"diskBytes", f.diskBytes},
          {"engine", f.engine},
          {"engineApiVersion", f.engineApiVersion},
          {"agentVersion", f.agentVersion}};
}

Result<DeviceFacts> deviceFactsFromJson(const Json& j, const std::string& path) {
  Reader r(j, path);
  DeviceFacts f;
  f.arch = r.str("arch", false, 32);
  f.os = r.str("os", false, 32);
  f.osRelease = r.str("osRelease", false, 256);
  f.kernel = r.str("kernel", false, 256);
  f.hostname = r.str("hostname", false, 253);
  f.cpus = static_cast<int>(r.integer("cpus", 0, 4096));
  f.memoryBytes = r.integer("memoryBytes", 0, kMaxBytes);
  f.diskBytes = r.integer("diskBytes", 0, kMaxBytes);
  f.engine = r.str("engine", false, 256);
  f.engineApiVersion = r.str("engineApiVersion", false, 32);
  f.agentVersion = r.str("agentVersion", false, 64);
  SKIFF_RETURN_IF_ERROR(r.finish());
  return f;
}

Json toJson(const Reported& rep) {
  Json modules = Json::array();
  for (const auto& m : rep.modules) modules.push_back(toJson(m));
  Json j = {{"schema", kSchema},
            {"deviceId", rep.deviceId},
            {"seq", rep.seq},
            {"reportedAt", rep.reportedAt},
            {"appliedVersion", rep.appliedVersion},
            {"modules", modules},
            {"facts", toJson(rep.facts)}};
  if (rep.desiredError) {
    j["desiredError"] = {{"version", rep.desiredError->version},
                         {"reason", rep.desiredError->reason},
                         {"message", rep.desiredError->message}};
  }
  return j;
}

Result<Reported> reportedFromJson(const Json& j) {
  Reader r(j, "reported");
  Reported rep;
  r.integer("schema", kSchema, kSchema, 0, true);
  rep.deviceId = r.str("deviceId", true, 63);
  if (r.ok()) r.fail(validateDeviceId(rep.deviceId).withContext("reported.deviceId"));
  rep.seq = r.integer("seq", 0, std::numeric_limits<std::int64_t>::max());
  rep.reportedAt = r.str("reportedAt", false, 64);
  rep.appliedVersion = r.integer("appliedVersion", 0, std::numeric_limits<std::int64_t>::max());
  if (const Json* e = r.object("desiredError")) {
    Reader er(*e, "reported.desiredError");
    DesiredError de;
    de.version = er.integer("version", 0, std::numeric_limits<std::int64_t>::max());
    de.reason = er.str("reason", true, 64);
    de.message = er.str("message", false, 4096);
    r.fail(er.finish());
    rep.desiredError = std::move(de);
  }
  if (const Json* ms = r.array("modules", false, 256)) {
    std::set<std::string> names;
    for (std::size_t i = 0; i < ms->size(); ++i) {
      auto s = moduleStatusFromJson((*ms)[i], indexPath("reported.modules", i));
      if (!s.isOk()) {
        r.fail(s.status());
        break;
      }
      if (!names.insert(s->name).second) {
        r.fail(invalidArgument(indexPath("reported.modules", i) + ".name: duplicate module"));
        break;
      }
      rep.modules.push_back(std::move(*s));
    }
  }
  if (const Json* f = r.object("facts")) {
    auto facts = deviceFactsFromJson(*f, "reported.facts");
    if (facts.isOk()) {
      rep.facts = std::move(*facts);
    } else {
      r.fail(facts.status());
    }
  }
  SKIFF_RETURN_IF_ERROR(r.finish());
  return rep;
}

// ---- Presence ---------------------------------------------------------------------------------

Json toJson(const Presence& p) {
  Json j = {{"schema", kSchema}, {"state", p.online ? "online" : "offline"}};
  if (!p.at.empty()) j["at"] = p.at;
  if (!p.agentVersion.empty()) j["agentVersion"] = p.agentVersion;
  return j;
}

Result<Presence> presenceFromJson(const Json& j) {
  Reader r(j, "presence");
  Presence p;
  r.integer("schema", kSchema, kSchema, 0, true);
  std::string state = r.str("state", true, 16);
  if (r.ok() && state != "online" && state != "offline") {
    r.fail("state", "must be online or offline");
  }
  p.online = state == "online";
  p.at = r.str("at", false, 64);
  p.agentVersion = r.str("agentVersion", false, 64);
  SKIFF_RETURN_IF_ERROR(r.finish());
  return p;
}

// ---- Metrics ----------------------------------------------------------------------------------

Json toJson(const Metrics& m) {
  Json modules = Json::array();
  for (const auto& u : m.modules) {
    modules.push_back(
        {{"name", u.name}, {"cpuPercent", u.cpuPercent}, {"memoryBytes", u.memoryBytes}});
  }
  Json j = {{"schema", kSchema},
            {"at", m.at},
            {"cpuPercent", m.cpuPercent},
            {"memoryUsedBytes", m.memoryUsedBytes},
            {"memoryTotalBytes", m.memoryTotalBytes},
            {"diskUsedBytes", m.diskUsedBytes},
            {"diskTotalBytes", m.diskTotalBytes},
            {"load1", m.load1},
            {"modules", modules}};
  if (m.temperatureCelsius) j["temperatureCelsius"] = *m.temperatureCelsius;
  return j;
}

Result<Metrics> metricsFromJson(const Json& j) {
  Reader r(j, "metrics");
  Metrics m;
  r.integer("schema", kSchema, kSchema, 0, true);
  m.at = r.str("at", false, 64);
  m.cpuPercent = r.number("cpuPercent", 0, 100);
  m.memoryUsedBytes = r.integer("memoryUsedBytes", 0, kMaxBytes);
  m.memoryTotalBytes = r.integer("memoryTotalBytes", 0, kMaxBytes);
  m.diskUsedBytes = r.integer("diskUsedBytes", 0, kMaxBytes);
  m.diskTotalBytes = r.integer("diskTotalBytes", 0, kMaxBytes);
  if (r.has("temperatureCelsius")) {
    m.temperatureCelsius = r.number("temperatureCelsius", -100, 200);
  } else {
    r.number("temperatureCelsius", 0, 0);
  }
  m.load1 = r.number("load1", 0, 1e6);
  if (const Json* ms = r.array("modules", false, 256)) {
    for (std::size_t i = 0; i < ms->size(); ++i) {
      Reader ur((*ms)[i], indexPath("metrics.modules", i));
      ModuleUsage u;
      u.name = ur.str("name", true, 253);
      u.cpuPercent = ur.number("cpuPercent", 0, 1e5);
      u.memoryBytes = ur.integer("memoryBytes", 0, kMaxBytes);
      r.fail(ur.finish());
      m.modules.push_back(std::move(u));
    }
  }
  SKIFF_RETURN_IF_ERROR(r.finish());
  return m;
}

// ---- RPC --------------------------------------------------------------------------------------

namespace {
Status validateRequestId(const std::string& id) {
  if (id.empty() || id.size() > 64) return invalidArgument("rpc id must be 1-64 characters");
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return invalidArgument("rpc id may contain only letters, digits, '-' and '_'");
    }
  }
  return Status::ok();
}
}  // namespace

Json toJson(const RpcRequest& r) {
  return {{"schema", kSchema}, {"id", r.id}, {"method", r.method}, {"params", r.params}};
}

Result<RpcRequest> rpcRequestFromJson(const Json& j) {
  Reader r(j, "rpc");
  RpcRequest q;
  r.integer("schema", kSchema, kSchema, 0, true);
  q.id = r.str("id", true, 64);
  if (r.ok()) r.fail(validateRequestId(q.id).withContext("rpc.id"));
  q.method = r.str("method", true, 64);
  if (const Json* p = r.object("params")) q.params = *p;
  SKIFF_RETURN_IF_ERROR(r.finish());
  return q;
}

Json toJson(const RpcResponse& r) {
  Json j = {{"schema", kSchema}, {"id", r.id}, {"seq", r.seq}, {"final", r.final}, {"ok", r.ok}};
  if (!r.ok) j["error"] = {{"code", r.errorCode}, {"message", r.errorMessage}};
  if (r.ok) j["result"] = r.result;
  return j;
}

Result<RpcResponse> rpcResponseFromJson(const Json& j) {
  Reader r(j, "rpcResponse");
  RpcResponse s;
  r.integer("schema", kSchema, kSchema, 0, true);
  s.id = r.str("id", true, 64);
  if (r.ok()) r.fail(validateRequestId(s.id).withContext("rpcResponse.id"));
  s.seq = r.integer("seq", 0, std::numeric_limits<std::int64_t>::max());
  s.final = r.boolean("final", true);
  s.ok = r.boolean("ok", true);
  if (const Json* e = r.object("error")) {
    Reader er(*e, "rpcResponse.error");
    s.errorCode = er.str("code", true, 64);
    s.errorMessage = er.str("message", false, 4096);
    r.fail(er.finish());
  }
  if (const Json* res = r.object("result")) s.result = *res;
  if (r.ok() && !s.ok && s.errorCode.empty()) r.fail("error", "required when ok is false");
  SKIFF_RETURN_IF_ERROR(r.finish());
  return s;
}

RpcResponse rpcError(std::string_view id, std::int64_t seq, const Status& s) {
  RpcResponse r;
  r.id = std::string(id);
  r.seq = seq;
  r.final = true;
  r.ok = false;
  r.errorCode = std::string(statusCodeName(s.code()));
  r.errorMessage = s.message();
  return r;
}

Status rpcStatus(const RpcResponse& r) {
  if (r.ok) return Status::ok();
  static constexpr StatusCode kCodes[] = {StatusCode::kNotFound,
                                          StatusCode::kAlreadyExists,
                                          StatusCode::kConflict,
                                          StatusCode::kInvalidArgument,
                                          StatusCode::kUnauthenticated,
                                          StatusCode::kPermissionDenied,
                                          StatusCode::kUnavailable,
                                          StatusCode::kInternal,
                                          StatusCode::kDeadlineExceeded,
                                          StatusCode::kResourceExhausted,
                                          StatusCode::kGone};
  for (StatusCode c : kCodes) {
    if (statusCodeName(c) == r.errorCode) return Status(c, r.errorMessage);
  }
  return internalError(r.errorCode + ": " + r.errorMessage);
}

Result<Json> parsePayload(std::string_view payload) {
  if (payload.size() > kMaxPayloadBytes) {
    return resourceExhausted("payload of " + std::to_string(payload.size()) +
                             " bytes exceeds the limit of " + std::to_string(kMaxPayloadBytes));
  }
  SKIFF_ASSIGN_OR_RETURN(Json j, parseJson(payload, kMaxPayloadBytes));
  if (!j.is_object()) return invalidArgument("payload: expected a JSON object");
  auto it = j.find("schema");
  if (it == j.end()) return invalidArgument("payload: schema: required value");
  if (!it->is_number_integer() || it->get<std::int64_t>() != kSchema) {
    return invalidArgument("payload: schema: unsupported schema " + it->dump() +
                           " (this build speaks schema 1)");
  }
  return j;
}

std::string_view toString(RestartPolicy p) { return kRestartNames[static_cast<int>(p)]; }
std::string_view toString(PullPolicy p) { return kPullNames[static_cast<int>(p)]; }
std::string_view toString(ModuleState s) { return kStateNames[static_cast<int>(s)]; }
std::string_view toString(Health h) { return kHealthNames[static_cast<int>(h)]; }

}  // namespace skiff::common::protocol
