// Hub records: JSON form in the Store and validation of operator input.
#include "hub/model.h"

#include <set>

namespace skiff::hub {

namespace proto = common::protocol;

namespace keys {
std::string device(std::string_view id) { return std::string(kDevices) + std::string(id); }
std::string deployment(std::string_view id) { return std::string(kDeployments) + std::string(id); }
std::string token(std::string_view tokenHash) {
  return std::string(kTokens) + std::string(tokenHash);
}
std::string desired(std::string_view deviceId) {
  return std::string(kDesired) + std::string(deviceId);
}
std::string twin(std::string_view deviceId) { return std::string(kTwins) + std::string(deviceId); }
std::string lastSeenShard(int shard) { return std::string(kLastSeen) + std::to_string(shard); }
std::string revoked(std::string_view serialHex) {
  return std::string(kRevoked) + std::string(serialHex);
}
}  // namespace keys

namespace {

Json labelsToJson(const Labels& l) {
  Json j = Json::object();
  for (const auto& [k, v] : l) j[k] = v;
  return j;
}

Result<Labels> labelsFromJson(const Json& j, const std::string& path) {
  Labels out;
  if (j.is_null()) return out;
  if (!j.is_object()) return common::invalidArgument(path + ": expected object");
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) return common::invalidArgument(path + "." + k + ": expected string");
    out[k] = v.get<std::string>();
  }
  return out;
}

Result<std::int64_t> intField(const common::JsonFields& f, std::string_view key) {
  SKIFF_ASSIGN_OR_RETURN(auto v, f.optionalInt(key));
  return v.value_or(0);
}

Result<std::string> strField(const common::JsonFields& f, std::string_view key) {
  SKIFF_ASSIGN_OR_RETURN(auto v, f.optionalString(key));
  return v.value_or("");
}

}  // namespace

Result<Json> parseStored(std::string_view key, std::string_view value) {
  auto j = common::parseJson(value, 64 * 1024 * 1024);
  if (!j.isOk())
    return common::internalError("corrupt store value at " + std::string(key) + ": " +
                                 j.status().message());
  if (!j->is_object()) return common::internalError("corrupt store value at " + std::string(key));
  return j;
}

// ---- Devices ---------------------------------------------------------------------------------

Json toJson(const DeviceRecord& d) {
  return {{"id", d.id},
          {"labels", labelsToJson(d.labels)},
          {"createdAtMs", d.createdAtMs},
          {"enrolled", d.enrolled},
          {"certSerial", d.certSerial},
          {"certNotAfterMs", d.certNotAfterMs},
          {"previousCertSerial", d.previousCertSerial},
          {"previousCertNotAfterMs", d.previousCertNotAfterMs}};
}

Result<DeviceRecord> deviceRecordFromJson(const Json& j) {
  common::JsonFields f(j, "device");
  DeviceRecord d;
  SKIFF_ASSIGN_OR_RETURN(d.id, f.requireString("id"));
  if (j.contains("labels")) {
    SKIFF_ASSIGN_OR_RETURN(d.labels, labelsFromJson(j["labels"], "device.labels"));
  }
  SKIFF_ASSIGN_OR_RETURN(d.createdAtMs, intField(f, "createdAtMs"));
  SKIFF_ASSIGN_OR_RETURN(auto enrolled, f.optionalBool("enrolled"));
  d.enrolled = enrolled.value_or(false);
  SKIFF_ASSIGN_OR_RETURN(d.certSerial, strField(f, "certSerial"));
  SKIFF_ASSIGN_OR_RETURN(d.certNotAfterMs, intField(f, "certNotAfterMs"));
  SKIFF_ASSIGN_OR_RETURN(d.previousCertSerial, strField(f, "previousCertSerial"));
  SKIFF_ASSIGN_OR_RETURN(d.previousCertNotAfterMs, intField(f, "previousCertNotAfterMs"));
  return d;
}

bool isReservedDeviceId(std::string_view id) {
  return id == "hub" || id == "skiff-hub" || id == "skiff-broker" || id == "skiff-revocation-probe";
}

Status validateDeploymentLabels(const Labels& labels, std::string_view field) {
  if (labels.size() > 64) return common::invalidArgument(std::string(field) + ": more than 64");
  for (const auto& [k, v] : labels) {
    std::string path = std::string(field) + "[\"" + k + "\"]";
    if (auto s = common::validateLabelKey(k); !s.isOk()) return s.withContext(path);
    if (auto s = common::validateLabelValue(v); !s.isOk()) return s.withContext(path);
  }
  return Status::ok();
}

Status validateOperatorLabels(const Labels& labels, std::string_view field) {
  SKIFF_RETURN_IF_ERROR(validateDeploymentLabels(labels, field));
  for (const auto& kv : labels) {
    const std::string& k = kv.first;
    std::string path = std::string(field) + "[\"" + k + "\"]";
    if (k.starts_with(kReservedLabelPrefix)) {
      return common::invalidArgument(path + ": keys under " + std::string(kReservedLabelPrefix) +
                                     " are set by the hub");
    }
  }
  return Status::ok();
}

// ---- Deployments -----------------------------------------------------------------------------

Status validateDeploymentId(std::string_view id) {
  if (id.empty() || id.size() > 63) return common::invalidArgument("id: must be 1-63 characters");
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : id) {
    if (!alnum(c) && c != '-' && c != '.') {
      return common::invalidArgument("id \"" + std::string(id) +
                                     "\": only lower-case letters, digits, '-' and '.'");
    }
  }
  if (!alnum(id.front()) || !alnum(id.back())) {
    return common::invalidArgument("id \"" + std::string(id) +
                                   "\": must start and end with a letter or digit");
  }
  return Status::ok();
}

Json credentialsToJson(const std::vector<proto::RegistryCredential>& creds, bool withPasswords) {
  Json out = Json::array();
  for (const auto& c : creds) {
    Json e = {{"server", c.server}, {"username", c.username}};
    if (withPasswords) e["password"] = c.password;
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<proto::RegistryCredential>> credentialsFromJson(const Json& j,
                                                                   const std::string& path) {
  if (!j.is_array()) {
    return common::invalidArgument(path + ": expected array, got " +
                                   std::string(common::jsonTypeName(j)));
  }
  if (j.size() > 64) return common::invalidArgument(path + ": more than 64 entries");
  std::vector<proto::RegistryCredential> out;
  std::set<std::string> servers;
  for (std::size_t i = 0; i < j.size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    const Json& e = j[i];
    if (!e.is_object()) return common::invalidArgument(p + ": expected object");
    for (const auto& [k, v] : e.items()) {
      if (k != "server" && k != "username" && k != "password") {
        return common::invalidArgument(p + "." + k + ": unknown field");
      }
      if (!v.is_string()) return common::invalidArgument(p + "." + k + ": expected string");
    }
    proto::RegistryCredential c;
    c.server = e.value("server", "");
    c.username = e.value("username", "");
    c.password = e.value("password", "");
    if (c.server.empty() || c.server.size() > 253) {
      return common::invalidArgument(p + ".server: required, at most 253 characters");
    }
    if (c.username.size() > 1024) return common::invalidArgument(p + ".username: too long");
    if (c.password.size() > 16 * 1024) return common::invalidArgument(p + ".password: too long");
    if (!servers.insert(c.server).second) {
      return common::invalidArgument(p + ".server: duplicate \"" + c.server + "\"");
    }
    out.push_back(std::move(c));
  }
  return out;
}

Result<DeploymentSpec> validateDeployment(const DeploymentInput& in) {
  DeploymentSpec spec;
  SKIFF_RETURN_IF_ERROR(validateDeploymentId(in.id));
  spec.id = in.id;
  SKIFF_RETURN_IF_ERROR(validateDeploymentLabels(in.labels, "labels"));
  spec.labels = in.labels;
  if (in.annotations.size() > 64) return common::invalidArgument("annotations: more than 64");
  std::size_t annotationBytes = 0;
  for (const auto& [k, v] : in.annotations) {
    if (auto s = common::validateLabelKey(k); !s.isOk()) {
      return s.withContext("annotations[\"" + k + "\"]");
    }
    annotationBytes += k.size() + v.size();
  }
  if (annotationBytes > 256 * 1024) return common::invalidArgument("annotations: above 256 KiB");
  spec.annotations = in.annotations;
  if (in.targetSelector.empty()) {
    return common::invalidArgument(
        "targetSelector: required (a label selector such as \"site=a,skiff.io/arch in "
        "(arm64)\"; use \"skiff.io/device-id\" to target every device)");
  }
  auto sel = common::LabelSelector::parse(in.targetSelector);
  if (!sel.isOk()) return sel.status().withContext("targetSelector");
  spec.targetSelector = sel->toString();
  spec.priority = in.priority;
  if (!in.podsJson.empty() && !in.modulesJson.empty()) {
    return common::invalidArgument("pods: give pods or (schema 1) modules, not both");
  }
  const bool legacy = in.podsJson.empty() && !in.modulesJson.empty();
  const std::string field = legacy ? "modules" : "pods";
  if (in.podsJson.empty() && in.modulesJson.empty()) {
    return common::invalidArgument("pods: at least one pod is required");
  }
  auto specJson = common::parseJson(legacy ? in.modulesJson : in.podsJson, proto::kMaxPayloadBytes);
  if (!specJson.isOk()) return specJson.status().withContext(field);
  if (legacy) {
    SKIFF_ASSIGN_OR_RETURN(*specJson, proto::podsJsonFromLegacyModules(*specJson, "modules"));
  }
  SKIFF_ASSIGN_OR_RETURN(spec.pods, proto::podSpecsFromJson(*specJson, field));
  if (spec.pods.empty()) return common::invalidArgument(field + ": at least one pod is required");
  for (std::size_t i = 0; i < spec.pods.size(); ++i) {
    auto& p = spec.pods[i];
    if (!p.deploymentId.empty() && p.deploymentId != spec.id) {
      return common::invalidArgument(field + "[" + std::to_string(i) +
                                     "].deploymentId: must be empty or \"" + spec.id + "\"");
    }
    p.deploymentId = spec.id;
  }
  if (!in.registryCredentialsJson.empty()) {
    auto credsJson = common::parseJson(in.registryCredentialsJson, 1024 * 1024);
    if (!credsJson.isOk()) return credsJson.status().withContext("registryCredentials");
    SKIFF_ASSIGN_OR_RETURN(spec.registryCredentials, credentialsFromJson(*credsJson));
  }
  return spec;
}

Json toJson(const DeploymentRecord& d) {
  Json pods = Json::array();
  for (const auto& p : d.spec.pods) pods.push_back(proto::toJson(p));
  return {{"id", d.spec.id},
          {"labels", labelsToJson(d.spec.labels)},
          {"annotations", labelsToJson(d.spec.annotations)},
          {"targetSelector", d.spec.targetSelector},
          {"priority", d.spec.priority},
          {"pods", pods},
          {"registryCredentials", credentialsToJson(d.spec.registryCredentials, true)},
          {"generation", d.generation},
          {"createdAtMs", d.createdAtMs},
          {"updatedAtMs", d.updatedAtMs}};
}

Result<DeploymentRecord> deploymentRecordFromJson(const Json& j) {
  common::JsonFields f(j, "deployment");
  DeploymentRecord d;
  SKIFF_ASSIGN_OR_RETURN(d.spec.id, f.requireString("id"));
  if (j.contains("labels")) {
    SKIFF_ASSIGN_OR_RETURN(d.spec.labels, labelsFromJson(j["labels"], "deployment.labels"));
  }
  if (j.contains("annotations")) {
    SKIFF_ASSIGN_OR_RETURN(d.spec.annotations,
                           labelsFromJson(j["annotations"], "deployment.annotations"));
  }
  SKIFF_ASSIGN_OR_RETURN(d.spec.targetSelector, f.requireString("targetSelector"));
  SKIFF_ASSIGN_OR_RETURN(auto prio, intField(f, "priority"));
  d.spec.priority = static_cast<std::int32_t>(prio);
  SKIFF_ASSIGN_OR_RETURN(const Json* pods, f.optionalArray("pods"));
  if (pods != nullptr) {
    SKIFF_ASSIGN_OR_RETURN(d.spec.pods, proto::podSpecsFromJson(*pods, "deployment.pods"));
  } else {
    // Stored by a hub of schema 1: its modules become pods of one container.
    SKIFF_ASSIGN_OR_RETURN(const Json* modules, f.optionalArray("modules"));
    if (modules == nullptr) return common::invalidArgument("deployment.pods: required");
    SKIFF_ASSIGN_OR_RETURN(Json converted,
                           proto::podsJsonFromLegacyModules(*modules, "deployment.modules"));
    SKIFF_ASSIGN_OR_RETURN(d.spec.pods, proto::podSpecsFromJson(converted, "deployment.modules"));
  }
  SKIFF_ASSIGN_OR_RETURN(const Json* creds, f.optionalArray("registryCredentials"));
  if (creds != nullptr) {
    SKIFF_ASSIGN_OR_RETURN(d.spec.registryCredentials, credentialsFromJson(*creds));
  }
  SKIFF_ASSIGN_OR_RETURN(d.generation, intField(f, "generation"));
  SKIFF_ASSIGN_OR_RETURN(d.createdAtMs, intField(f, "createdAtMs"));
  SKIFF_ASSIGN_OR_RETURN(d.updatedAtMs, intField(f, "updatedAtMs"));
  return d;
}

// ---- Enrollment tokens -------------------------------------------------------------------------

Json toJson(const EnrollmentTokenRecord& t) {
  return {{"deviceId", t.deviceId},
          {"createdAtMs", t.createdAtMs},
          {"expiresAtMs", t.expiresAtMs},
          {"usedAtMs", t.usedAtMs}};
}

Result<EnrollmentTokenRecord> enrollmentTokenFromJson(const Json& j) {
  common::JsonFields f(j, "token");
  EnrollmentTokenRecord t;
  SKIFF_ASSIGN_OR_RETURN(t.deviceId, f.requireString("deviceId"));
  SKIFF_ASSIGN_OR_RETURN(t.createdAtMs, intField(f, "createdAtMs"));
  SKIFF_ASSIGN_OR_RETURN(t.expiresAtMs, intField(f, "expiresAtMs"));
  SKIFF_ASSIGN_OR_RETURN(t.usedAtMs, intField(f, "usedAtMs"));
  return t;
}

// ---- Desired -----------------------------------------------------------------------------------

Json toJson(const DesiredRecord& d) {
  return {{"version", d.version}, {"contentHash", d.contentHash}, {"issuedAt", d.issuedAt}};
}

Result<DesiredRecord> desiredRecordFromJson(const Json& j) {
  common::JsonFields f(j, "desired");
  DesiredRecord d;
  SKIFF_ASSIGN_OR_RETURN(d.version, f.requireInt("version"));
  SKIFF_ASSIGN_OR_RETURN(d.contentHash, f.requireString("contentHash"));
  SKIFF_ASSIGN_OR_RETURN(d.issuedAt, strField(f, "issuedAt"));
  return d;
}

// ---- Twins
// ---------------------------------------------------------------------------------------

Json toJson(const TwinRecord& t) {
  return {{"reported", t.reportedJson},
          {"online", t.online},
          {"presenceAtMs", t.presenceAtMs},
          {"lastSeenMs", t.lastSeenMs}};
}

Result<TwinRecord> twinRecordFromJson(const Json& j) {
  common::JsonFields f(j, "twin");
  TwinRecord t;
  SKIFF_ASSIGN_OR_RETURN(t.reportedJson, strField(f, "reported"));
  SKIFF_ASSIGN_OR_RETURN(auto online, f.optionalBool("online"));
  t.online = online.value_or(false);
  SKIFF_ASSIGN_OR_RETURN(t.presenceAtMs, intField(f, "presenceAtMs"));
  SKIFF_ASSIGN_OR_RETURN(t.lastSeenMs, intField(f, "lastSeenMs"));
  return t;
}

// ---- Revoked
// -------------------------------------------------------------------------------------

Json toJson(const RevokedRecord& r) {
  return {{"serial", r.serial},
          {"deviceId", r.deviceId},
          {"revokedAtMs", r.revokedAtMs},
          {"notAfterMs", r.notAfterMs}};
}

Result<RevokedRecord> revokedRecordFromJson(const Json& j) {
  common::JsonFields f(j, "revoked");
  RevokedRecord r;
  SKIFF_ASSIGN_OR_RETURN(r.serial, f.requireString("serial"));
  SKIFF_ASSIGN_OR_RETURN(r.deviceId, strField(f, "deviceId"));
  SKIFF_ASSIGN_OR_RETURN(r.revokedAtMs, intField(f, "revokedAtMs"));
  SKIFF_ASSIGN_OR_RETURN(r.notAfterMs, intField(f, "notAfterMs"));
  return r;
}

}  // namespace skiff::hub
