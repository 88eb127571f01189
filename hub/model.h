// The hub's durable records (devices, deployments, enrollment tokens, published desired state,
// device twins, revoked certificates) as plain values, with their JSON form in the Store and
// the validation of operator input (ids, labels, selectors, pod specs, credentials). Every
// function is pure and thread-safe; validation errors are InvalidArgument naming the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/label_selector.h"
#include "common/protocol/protocol.h"
#include "common/status.h"

namespace skiff::hub {

using common::Json;
using common::Labels;
using common::Result;
using common::Status;

// Labels the hub sets on every device; operators cannot set keys under skiff.io/.
inline constexpr std::string_view kLabelDeviceId = "skiff.io/device-id";
inline constexpr std::string_view kLabelArch = "skiff.io/arch";
inline constexpr std::string_view kReservedLabelPrefix = "skiff.io/";

// Store key layout (docs/hub.md "Store layout").
namespace keys {
inline constexpr std::string_view kRoot = "/skiff/hub/";
inline constexpr std::string_view kDevices = "/skiff/hub/devices/";
inline constexpr std::string_view kDeployments = "/skiff/hub/deployments/";
inline constexpr std::string_view kTokens = "/skiff/hub/enrollment-tokens/";
inline constexpr std::string_view kDesired = "/skiff/hub/desired/";
inline constexpr std::string_view kTwins = "/skiff/hub/twins/";
inline constexpr std::string_view kLastSeen = "/skiff/hub/last-seen/";
inline constexpr std::string_view kRevoked = "/skiff/hub/revoked/";
inline constexpr std::string_view kVersionCeiling = "/skiff/hub/meta/version-ceiling";
std::string device(std::string_view id);
std::string deployment(std::string_view id);
std::string token(std::string_view tokenHash);
std::string desired(std::string_view deviceId);
std::string twin(std::string_view deviceId);
std::string lastSeenShard(int shard);
std::string revoked(std::string_view serialHex);
}  // namespace keys

// ---- Devices ---------------------------------------------------------------------------------

struct DeviceRecord {
  std::string id;
  Labels labels;  // operator labels only
  std::int64_t createdAtMs = 0;
  bool enrolled = false;
  std::string certSerial;  // lower-case hex; "" until enrolled
  std::int64_t certNotAfterMs = 0;
  // The certificate a renewal replaced: still valid until it expires, so an agent that lost
  // the renewal response can retry with it.
  std::string previousCertSerial;
  std::int64_t previousCertNotAfterMs = 0;
  bool operator==(const DeviceRecord&) const = default;
};
Json toJson(const DeviceRecord& d);
Result<DeviceRecord> deviceRecordFromJson(const Json& j);

// Certificate CNs the hub uses itself ("hub" has broker-wide rights): never device ids.
bool isReservedDeviceId(std::string_view id);

// Operator labels of a device: valid Kubernetes keys/values, nothing under skiff.io/ (the hub's
// implicit device labels live there). `field` prefixes errors.
Status validateOperatorLabels(const Labels& labels, std::string_view field = "labels");
// Deployment labels: valid Kubernetes keys/values, at most 64. skiff.io/ keys are allowed: the hub
// sets no implicit deployment labels, and Skiff's own clients mark their deployments with them
// (the edge provider's skiff.io/managed-by and skiff.io/virtual-node, docs/pod-mapping.md).
Status validateDeploymentLabels(const Labels& labels, std::string_view field = "labels");

// ---- Deployments -----------------------------------------------------------------------------

struct DeploymentSpec {
  std::string id;
  Labels labels;
  Labels annotations;
  std::string targetSelector;  // canonical form (LabelSelector::toString)
  std::int32_t priority = 0;
  std::vector<common::protocol::PodSpec> pods;  // deploymentId set to id
  std::vector<common::protocol::RegistryCredential> registryCredentials;
  bool operator==(const DeploymentSpec&) const = default;
};

struct DeploymentRecord {
  DeploymentSpec spec;
  std::int64_t generation = 1;
  std::int64_t createdAtMs = 0;
  std::int64_t updatedAtMs = 0;
};
Json toJson(const DeploymentRecord& d);
Result<DeploymentRecord> deploymentRecordFromJson(const Json& j);

// Deployment ids: 1-63 of [a-z0-9.-], alphanumeric at both ends (the edge provider's ids fit).
Status validateDeploymentId(std::string_view id);

// Operator input, as it arrives from gRPC/REST/skiffctl: validates every field and returns a
// normalized spec (selector canonical, pods' deploymentId filled in). `podsJson`, the legacy
// `modulesJson` (schema-1 modules, converted to pods; one of the two) and `credentialsJson` are
// JSON arrays given as text ("" = absent; empty for credentials).
struct DeploymentInput {
  std::string id;
  Labels labels;
  Labels annotations;
  std::string targetSelector;
  std::int32_t priority = 0;
  std::string podsJson;
  std::string modulesJson;
  std::string registryCredentialsJson;
};
Result<DeploymentSpec> validateDeployment(const DeploymentInput& in);

Json credentialsToJson(const std::vector<common::protocol::RegistryCredential>& creds,
                       bool withPasswords);
Result<std::vector<common::protocol::RegistryCredential>> credentialsFromJson(
    const Json& j, const std::string& path = "registryCredentials");

// ---- Enrollment tokens -------------------------------------------------------------------------

struct EnrollmentTokenRecord {
  std::string deviceId;
  std::int64_t createdAtMs = 0;
  std::int64_t expiresAtMs = 0;
  std::int64_t usedAtMs = 0;  // 0 = unused
};
Json toJson(const EnrollmentTokenRecord& t);
Result<EnrollmentTokenRecord> enrollmentTokenFromJson(const Json& j);

// ---- Published desired state -------------------------------------------------------------------

// What the broker holds (retained) for a device. Written only after the broker acknowledged the
// publish, so a restart compares against what devices can really see.
struct DesiredRecord {
  std::int64_t version = 0;
  std::string contentHash;  // hex SHA-256 over pods + credentials (desired.h)
  std::string issuedAt;
  bool operator==(const DesiredRecord&) const = default;
};
Json toJson(const DesiredRecord& d);
Result<DesiredRecord> desiredRecordFromJson(const Json& j);

// ---- Twins
// ---------------------------------------------------------------------------------------

struct TwinRecord {
  std::string reportedJson;  // the device's last accepted `reported` payload ("" = none)
  bool online = false;
  std::int64_t presenceAtMs = 0;
  std::int64_t lastSeenMs = 0;
};
Json toJson(const TwinRecord& t);
Result<TwinRecord> twinRecordFromJson(const Json& j);

// ---- Revoked certificates ----------------------------------------------------------------------

struct RevokedRecord {
  std::string serial;  // lower-case hex
  std::string deviceId;
  std::int64_t revokedAtMs = 0;
  std::int64_t notAfterMs = 0;  // the entry may leave the CRL once the certificate expired
};
Json toJson(const RevokedRecord& r);
Result<RevokedRecord> revokedRecordFromJson(const Json& j);

// Parses a stored value; InvalidArgument names the key on corrupt data.
Result<Json> parseStored(std::string_view key, std::string_view value);

}  // namespace skiff::hub
