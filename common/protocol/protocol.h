// The hub ⇄ agent MQTT contract (docs/protocol.md): topic names and the versioned JSON payloads
// (schema 1) as C++ values, with strict parsing and canonical serialization. The hub, the agent
// and the edge provider all use these types, so a payload one of them writes is exactly what the
// others read. Parsing never throws: malformed, oversized, wrongly typed or out-of-range input is
// an InvalidArgument (or ResourceExhausted) naming the offending field path. Pure functions and
// plain values: thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/protocol/pod_spec.h"
#include "common/status.h"
#include "common/tls.h"

namespace skiff::common::protocol {

// Schema of presence, metrics and RPC payloads.
inline constexpr int kSchema = 1;
// Schema of desired and reported documents: 2 describes pods (docs/protocol.md "Schemas").
// Readers also accept schema 1 (flat modules).
inline constexpr int kDesiredSchema = 2;
inline constexpr int kReportedSchema = 2;
// Largest payload either side accepts on any topic (a desired document with shipped files).
inline constexpr std::size_t kMaxPayloadBytes = 1024 * 1024;
// An agent's default rhythm while nothing changes: metrics as often as the hub keeps history
// samples (more often would be parsed and thrown away) — they also keep the device's last-seen
// time fresh — and the unchanged full report every 5 minutes. That report is a resynchronisation
// safety net next to QoS 1 and the hub's persistent session, not the liveness signal (presence
// and its Last Will are); the kubelet resends an unchanged node status as rarely
// (nodeStatusReportFrequency, 5 min) and keeps liveness in a small Lease. 5,000 such devices send
// the hub ~183 messages/s.
inline constexpr std::chrono::seconds kDefaultMetricsInterval{30};
inline constexpr std::chrono::seconds kDefaultHeartbeatInterval{300};

// ---- Topics ---------------------------------------------------------------------------------

inline constexpr std::string_view kTopicRoot = "skiff/v1/devices/";
enum class Channel { kDesired, kReported, kPresence, kMetrics, kRpcRequest };
// "skiff/v1/devices/<deviceId>/<channel>".
std::string topicFor(std::string_view deviceId, Channel channel);
// "skiff/v1/devices/<deviceId>/rpc/response/<requestId>".
std::string rpcResponseTopic(std::string_view deviceId, std::string_view requestId);
// Subscription filter matching `channel` for every device ("skiff/v1/devices/+/reported").
std::string allDevicesFilter(Channel channel);
// "skiff/v1/devices/+/rpc/response/#".
std::string allRpcResponsesFilter();
struct ParsedTopic {
  std::string deviceId;
  std::string rest;  // "desired", "reported", "rpc/response/<id>", ...
};
// Splits a device topic; nullopt for anything else or an invalid device id.
std::optional<ParsedTopic> parseDeviceTopic(std::string_view topic);
// The broker ACL of the protocol, in Mosquitto's acl_file syntax (the client certificate's CN is
// the username, %u): a device reads only its own desired state and RPC requests and writes only
// its own reported state, presence, metrics and RPC responses; user "hub" reads and writes all.
std::string brokerAcl();

// Device ids are DNS labels: 1-63 of [a-z0-9-], starting and ending alphanumeric. They are
// MQTT topic levels and certificate CNs, so nothing else is allowed.
Status validateDeviceId(std::string_view id);

struct RegistryCredential {
  std::string server;  // "registry.example.com" or "127.0.0.1:5000"
  std::string username;
  std::string password;
  bool operator==(const RegistryCredential&) const = default;
};

// ---- Desired state (hub → agent; retained, signed) ------------------------------------------

struct DesiredState {
  std::string deviceId;
  std::int64_t version = 0;   // monotonic per device, > 0
  std::string issuedAt;       // RFC 3339
  std::vector<PodSpec> pods;  // sorted by name, names unique
  std::vector<RegistryCredential> registryCredentials;
  bool operator==(const DesiredState&) const = default;
};

Json toJson(const DesiredState& d);  // without signature; schema kDesiredSchema
// Schema 2, or schema 1 (flat modules, converted with podsJsonFromLegacyModules). A document of
// a newer schema, like any other violation, is InvalidArgument (the agent tells the two apart
// by the schema number the document claims, and reports UnsupportedSchema).
Result<DesiredState> desiredStateFromJson(const Json& j);

// The wire form: the document plus "signature": {"alg":"Ed25519","keyId":…,"value":base64},
// signed over the canonical JSON of the document without its signature.
Result<std::string> signDesired(const DesiredState& d, const tls::PrivateKey& key);
// The same with the key's id (keyIdOf its public key PEM) computed once by the caller: the hub
// signs thousands of documents per fan-out.
Result<std::string> signDesired(const DesiredState& d, const tls::PrivateKey& key,
                                std::string_view keyId);
// Signs a document already in its JSON form (toJson(DesiredState), e.g. assembled by the hub
// from cached module JSON). The signature object is appended after the canonical document (the
// verifier re-canonicalizes without it, so its position does not matter).
Result<std::string> signDesiredJson(const Json& document, const tls::PrivateKey& key,
                                    std::string_view keyId);
// Parses and verifies a wire document. Unauthenticated for a missing, malformed or forged
// signature (or one by another key); InvalidArgument for bad JSON or schema violations;
// ResourceExhausted above kMaxPayloadBytes. Stale versions are the caller's check.
Result<DesiredState> verifyDesired(std::string_view payload, std::string_view publicKeyPem);
// Short id of a public key (first 16 hex chars of SHA-256 of its PEM) used as keyId.
std::string keyIdOf(std::string_view publicKeyPem);

// ---- Reported state (agent → hub) ------------------------------------------------------------

enum class ModuleState { kWaiting, kRunning, kTerminated };
enum class Health { kUnknown, kHealthy, kUnhealthy };
// Which list of its pod a container belongs to.
enum class ContainerKind { kContainer, kInit, kSidecar };

struct Termination {
  int exitCode = 0;
  std::string reason;  // "Error", "Completed", "OOMKilled", ...
  std::string startedAt;
  std::string finishedAt;
  bool operator==(const Termination&) const = default;
};

// One container of a pod on the device ("module" <pod>/<container>).
struct ModuleStatus {
  std::string name;  // "<pod>/<container>"
  ContainerKind kind = ContainerKind::kContainer;
  std::string deploymentId;
  std::string specHash;
  std::string image;
  std::string imageId;  // "sha256:…" digest of the image actually running
  std::string containerId;
  ModuleState state = ModuleState::kWaiting;
  // Waiting: ContainerCreating | ImagePullBackOff | ErrImagePull | CrashLoopBackOff |
  // CreateContainerError | ...; terminated: Completed | Error | OOMKilled.
  std::string reason;
  std::string message;
  int restartCount = 0;
  std::optional<int> exitCode;  // terminated only
  std::string startedAt;
  std::string finishedAt;
  bool ready = false;
  // Running and past its startup probe and postStart hook (Kubernetes' containerStatus.started).
  bool started = false;
  Health health = Health::kUnknown;
  std::optional<Termination> lastTermination;
  bool operator==(const ModuleStatus&) const = default;
};

// One pod on the device, as the agent sees it.
struct PodStatus {
  std::string name;
  std::string deploymentId;
  std::string specHash;  // specHash(PodSpec) the pod runs
  // Kubernetes' phase on this device: Pending (sandbox or init containers not done, or an app
  // container never started), Running, Succeeded or Failed (every app container terminated and
  // none will restart).
  std::string phase = "Pending";
  bool initialized = false;  // every init container completed (sidecars started)
  bool ready = false;        // every app container and sidecar ready
  // No longer desired: preStop hooks, SIGTERM and the grace period are running; the pod leaves
  // the report once every container is gone.
  bool terminating = false;
  std::string podIP;   // the sandbox's address ("" until it has one)
  std::string hostIP;  // the device's address
  std::string reason;  // pod-level: SandboxCreateError, SandboxChanged, ...
  std::string message;
  std::string startedAt;  // when the current sandbox was created
  bool operator==(const PodStatus&) const = default;
};

struct DeviceFacts {
  std::string arch;  // GOARCH-style: amd64, arm64, arm
  std::string os = "linux";
  std::string osRelease;
  std::string kernel;
  std::string hostname;
  int cpus = 0;
  std::int64_t memoryBytes = 0;
  std::int64_t diskBytes = 0;
  std::string engine;  // "podman 4.3.1", "docker 24.0.5"
  std::string engineApiVersion;
  std::string agentVersion;
  bool operator==(const DeviceFacts&) const = default;
};

struct DesiredError {
  std::int64_t version = 0;  // the refused document's version (0 if unreadable)
  // SignatureInvalid | StaleVersion | Malformed | WrongDevice | UnsupportedSchema
  std::string reason;
  std::string message;
  bool operator==(const DesiredError&) const = default;
};

struct Reported {
  std::string deviceId;
  std::int64_t seq = 0;  // increases with every report of one agent process
  std::string reportedAt;
  std::int64_t appliedVersion = 0;  // last desired version accepted (0: none yet)
  std::optional<DesiredError> desiredError;
  std::vector<PodStatus> pods;        // sorted by name
  std::vector<ModuleStatus> modules;  // every container of every pod, sorted by name
  DeviceFacts facts;
  bool operator==(const Reported&) const = default;
};

Json toJson(const ModuleStatus& s);
Result<ModuleStatus> moduleStatusFromJson(const Json& j, const std::string& path = "module");
Json toJson(const PodStatus& s);
Result<PodStatus> podStatusFromJson(const Json& j, const std::string& path = "pod");
Json toJson(const DeviceFacts& f);
Result<DeviceFacts> deviceFactsFromJson(const Json& j, const std::string& path = "facts");
Json toJson(const Reported& r);
Result<Reported> reportedFromJson(const Json& j);

// ---- Presence (both; retained; "offline" is the agent's Last Will) --------------------------

struct Presence {
  bool online = false;
  std::string at;  // RFC 3339; "" in the Last Will (its time is unknown when it is set)
  std::string agentVersion;
  bool operator==(const Presence&) const = default;
};
Json toJson(const Presence& p);
Result<Presence> presenceFromJson(const Json& j);

// ---- Metrics (agent → hub; QoS 0) -----------------------------------------------------------

struct ModuleUsage {
  std::string name;
  double cpuPercent = 0;  // of one core
  std::int64_t memoryBytes = 0;
  bool operator==(const ModuleUsage&) const = default;
};

struct Metrics {
  std::string at;
  double cpuPercent = 0;  // whole device, 0-100
  std::int64_t memoryUsedBytes = 0;
  std::int64_t memoryTotalBytes = 0;
  std::int64_t diskUsedBytes = 0;
  std::int64_t diskTotalBytes = 0;
  std::optional<double> temperatureCelsius;
  double load1 = 0;
  std::vector<ModuleUsage> modules;
  bool operator==(const Metrics&) const = default;
};
Json toJson(const Metrics& m);
Result<Metrics> metricsFromJson(const Json& j);

// ---- RPC (MQTT v5 request/response) ----------------------------------------------------------

// Methods: "ping" {}; "logs" {module, tailLines?, sinceSeconds?, follow?, timestamps?};
// "restart" {module}; "cancel" {id} (ends a following logs request).
struct RpcRequest {
  std::string id;  // 1-64 of [A-Za-z0-9_-]; also the response topic's last level
  std::string method;
  Json params = Json::object();
};
// One message of the response stream; the last has final = true. Errors are final.
struct RpcResponse {
  std::string id;
  std::int64_t seq = 0;
  bool final = true;
  bool ok = true;
  std::string errorCode;  // a StatusCode name ("NotFound", ...) when !ok
  std::string errorMessage;
  Json result = Json::object();  // logs: {"data": "<text chunk>"}
};
Json toJson(const RpcRequest& r);
Result<RpcRequest> rpcRequestFromJson(const Json& j);
Json toJson(const RpcResponse& r);
Result<RpcResponse> rpcResponseFromJson(const Json& j);
// Builds a failed final response from a Status.
RpcResponse rpcError(std::string_view id, std::int64_t seq, const Status& s);
// The Status carried by a failed response (Ok for ok responses).
Status rpcStatus(const RpcResponse& r);

// Parses a payload into JSON with the protocol's size limit, checking that "schema" is between
// minSchema and maxSchema (by default: any schema some payload of this build uses; the parser of
// the payload's own type then checks its exact schema).
Result<Json> parsePayload(std::string_view payload, int minSchema = kSchema,
                          int maxSchema = kReportedSchema);

// Enum ⇄ wire strings (exposed for the hub API and the dashboard).
std::string_view toString(ModuleState s);
std::string_view toString(ContainerKind k);
std::string_view toString(Health h);

}  // namespace skiff::common::protocol
