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

using detail::indexPath;
using detail::isLowerAlnum;
using detail::readEnum;

constexpr std::int64_t kMaxInt = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t kMaxBytes = std::int64_t{1} << 52;

constexpr std::string_view kStateNames[] = {"waiting", "running", "terminated"};
constexpr std::string_view kHealthNames[] = {"unknown", "healthy", "unhealthy"};
constexpr std::string_view kKindNames[] = {"container", "init", "sidecar"};
constexpr std::string_view kPhaseNames[] = {"Pending", "Running", "Succeeded", "Failed"};

// The pod a schema-1 agent's module stands for (one container, already renamed).
PodStatus legacyPodStatus(const ModuleStatus& m) {
  PodStatus p;
  p.name = std::string(podOfModule(m.name));
  p.deploymentId = m.deploymentId;
  p.initialized = true;
  p.ready = m.ready;
  if (m.state == ModuleState::kRunning) {
    p.phase = "Running";
  } else if (m.state == ModuleState::kTerminated) {
    p.phase = m.exitCode.value_or(0) == 0 ? "Succeeded" : "Failed";
  }
  return p;
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

std::string brokerAcl() {
  return "pattern read " + topicFor("%u", Channel::kDesired) + "\n" + "pattern read " +
         topicFor("%u", Channel::kRpcRequest) + "\n" + "pattern write " +
         topicFor("%u", Channel::kReported) + "\n" + "pattern write " +
         topicFor("%u", Channel::kPresence) + "\n" + "pattern write " +
         topicFor("%u", Channel::kMetrics) + "\n" + "pattern write " + rpcResponseTopic("%u", "#") +
         "\n" +
         "\n"
         "user hub\n"
         "topic readwrite skiff/#\n";
}

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

// ---- Desired state ----------------------------------------------------------------------------

Json toJson(const DesiredState& d) {
  Json pods = Json::array();
  for (const auto& p : d.pods) pods.push_back(toJson(p));
  Json j = {{"schema", kDesiredSchema},
            {"deviceId", d.deviceId},
            {"version", d.version},
            {"issuedAt", d.issuedAt},
            {"pods", pods}};
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
  std::int64_t schema = r.integer("schema", 1, std::numeric_limits<std::int64_t>::max(), 0, true);
  if (r.ok() && schema > kDesiredSchema) {
    return invalidArgument("desired.schema: schema " + std::to_string(schema) +
                           " is newer than this agent understands (1-" +
                           std::to_string(kDesiredSchema) + ")");
  }
  d.deviceId = r.str("deviceId", true, 63);
  if (r.ok()) r.fail(validateDeviceId(d.deviceId).withContext("desired.deviceId"));
  d.version = r.integer("version", 1, std::numeric_limits<std::int64_t>::max(), 0, true);
  d.issuedAt = r.str("issuedAt", false, 64);
  if (schema == 1) {
    if (const Json* modules = r.array("modules", true, 256)) {
      auto pods = podsJsonFromLegacyModules(*modules, "desired.modules");
      auto ps = pods.isOk() ? podSpecsFromJson(*pods, "desired.modules")
                            : Result<std::vector<PodSpec>>(pods.status());
      if (ps.isOk()) {
        d.pods = std::move(*ps);
      } else {
        r.fail(ps.status());
      }
    }
  } else if (const Json* pods = r.array("pods", true, 256)) {
    auto ps = podSpecsFromJson(*pods, "desired.pods");
    if (ps.isOk()) {
      d.pods = std::move(*ps);
    } else {
      r.fail(ps.status());
    }
  }
  std::sort(d.pods.begin(), d.pods.end(),
            [](const PodSpec& a, const PodSpec& b) { return a.name < b.name; });
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
  // Any schema number here: a newer document is verified first, so that refusing it as
  // UnsupportedSchema is only ever said of a document the hub really signed.
  SKIFF_ASSIGN_OR_RETURN(Json j, parsePayload(payload, 1, std::numeric_limits<int>::max()));
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
  if (s.kind != ContainerKind::kContainer) j["kind"] = toString(s.kind);
  if (s.started) j["started"] = true;
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
  s.name = r.str("name", true, 317);
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
  s.started = r.boolean("started");
  s.kind = readEnum(r, "kind", kKindNames, ContainerKind::kContainer);
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

Json toJson(const PodStatus& s) {
  Json j = {
      {"name", s.name}, {"phase", s.phase}, {"initialized", s.initialized}, {"ready", s.ready}};
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  put("deploymentId", s.deploymentId);
  put("specHash", s.specHash);
  if (s.terminating) j["terminating"] = true;
  put("podIP", s.podIP);
  put("hostIP", s.hostIP);
  put("reason", s.reason);
  put("message", s.message);
  put("startedAt", s.startedAt);
  return j;
}

Result<PodStatus> podStatusFromJson(const Json& j, const std::string& path) {
  Reader r(j, path);
  PodStatus s;
  s.name = r.str("name", true, 253);
  if (r.ok()) r.fail(validatePodName(s.name).withContext(r.pathOf("name")));
  s.deploymentId = r.str("deploymentId", false, 253);
  s.specHash = r.str("specHash", false, 64);
  s.phase = r.str("phase", false, 16);
  if (s.phase.empty()) s.phase = "Pending";
  if (r.ok() &&
      std::find(std::begin(kPhaseNames), std::end(kPhaseNames), s.phase) == std::end(kPhaseNames)) {
    r.fail("phase", "must be Pending, Running, Succeeded or Failed");
  }
  s.initialized = r.boolean("initialized");
  s.ready = r.boolean("ready");
  s.terminating = r.boolean("terminating");
  s.podIP = r.str("podIP", false, 64);
  s.hostIP = r.str("hostIP", false, 64);
  s.reason = r.str("reason", false, 128);
  s.message = r.str("message", false, 4096);
  s.startedAt = r.str("startedAt", false, 64);
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
  Json pods = Json::array();
  for (const auto& p : rep.pods) pods.push_back(toJson(p));
  Json j = {{"schema", kReportedSchema},
            {"deviceId", rep.deviceId},
            {"seq", rep.seq},
            {"reportedAt", rep.reportedAt},
            {"appliedVersion", rep.appliedVersion},
            {"pods", pods},
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
  std::int64_t schema = r.integer("schema", 1, kReportedSchema, 0, true);
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
  if (const Json* ps = schema >= 2 ? r.array("pods", false, 256) : nullptr) {
    std::set<std::string> names;
    for (std::size_t i = 0; i < ps->size(); ++i) {
      auto s = podStatusFromJson((*ps)[i], indexPath("reported.pods", i));
      if (!s.isOk()) {
        r.fail(s.status());
        break;
      }
      if (!names.insert(s->name).second) {
        r.fail(invalidArgument(indexPath("reported.pods", i) + ".name: duplicate pod"));
        break;
      }
      rep.pods.push_back(std::move(*s));
    }
  }
  if (const Json* ms = r.array("modules", false, 1024)) {
    std::set<std::string> names;
    for (std::size_t i = 0; i < ms->size(); ++i) {
      auto s = moduleStatusFromJson((*ms)[i], indexPath("reported.modules", i));
      if (!s.isOk()) {
        r.fail(s.status());
        break;
      }
      if (schema == 1) {
        // A schema-1 agent runs each module alone: the pod of one container it would be now.
        s->name = legacyModuleName(s->name);
        rep.pods.push_back(legacyPodStatus(*s));
      }
      if (!names.insert(s->name).second) {
        r.fail(invalidArgument(indexPath("reported.modules", i) + ".name: duplicate module"));
        break;
      }
      rep.modules.push_back(std::move(*s));
    }
  }
  std::sort(rep.pods.begin(), rep.pods.end(),
            [](const PodStatus& a, const PodStatus& b) { return a.name < b.name; });
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
      u.name = ur.str("name", true, 317);
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

Result<Json> parsePayload(std::string_view payload, int minSchema, int maxSchema) {
  if (payload.size() > kMaxPayloadBytes) {
    return resourceExhausted("payload of " + std::to_string(payload.size()) +
                             " bytes exceeds the limit of " + std::to_string(kMaxPayloadBytes));
  }
  SKIFF_ASSIGN_OR_RETURN(Json j, parseJson(payload, kMaxPayloadBytes));
  if (!j.is_object()) return invalidArgument("payload: expected a JSON object");
  auto it = j.find("schema");
  if (it == j.end()) return invalidArgument("payload: schema: required value");
  if (!it->is_number_integer() || it->get<std::int64_t>() < minSchema ||
      it->get<std::int64_t>() > maxSchema) {
    std::string speaks = minSchema == maxSchema
                             ? std::to_string(minSchema)
                             : std::to_string(minSchema) + "-" + std::to_string(maxSchema);
    return invalidArgument("payload: schema: unsupported schema " + it->dump() +
                           " (this build speaks schema " + speaks + ")");
  }
  return j;
}

std::string_view toString(ModuleState s) { return kStateNames[static_cast<int>(s)]; }
std::string_view toString(ContainerKind k) { return kKindNames[static_cast<int>(k)]; }
std::string_view toString(Health h) { return kHealthNames[static_cast<int>(h)]; }

}  // namespace skiff::common::protocol
