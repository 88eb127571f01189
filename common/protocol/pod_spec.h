// The pod spec of the hub ⇄ agent protocol (docs/protocol.md "Pod spec", schema 2): what a
// device runs for one pod — one sandbox (network namespace, IPC, optionally PID), pod-scoped
// volumes, init containers run in order, native sidecars (init containers with restartPolicy
// Always) and app containers — as plain values with strict parsing and canonical serialization.
// The hub stores deployments as pods, the edge provider writes them from Kubernetes pods and
// the agent runs them; all three validate with the same functions, so a pod one accepts the
// others accept too.
//
// Every container of a pod is also a *module* named "<pod>/<container>" (moduleName()): the
// device-wide name used in reports, metrics, logs and restart requests.
//
// Parsing never throws: bad input is an InvalidArgument naming the field path
// ("pods[0].containers[1].ports[0].containerPort: ..."). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace skiff::common::protocol {

struct EnvVar {
  std::string name;
  std::string value;
  bool operator==(const EnvVar&) const = default;
};

struct PortMapping {
  int containerPort = 0;         // 1-65535
  int hostPort = 0;              // 0: not published
  std::string protocol = "TCP";  // TCP | UDP
  std::string hostIp;            // "" = all addresses
  bool operator==(const PortMapping&) const = default;
};

struct Resources {
  std::int64_t cpuMillis = 0;    // 0 = unlimited
  std::int64_t memoryBytes = 0;  // 0 = unlimited
  bool operator==(const Resources&) const = default;
};

struct FileItem {
  std::string path;     // relative, no "..", e.g. "app.conf" or "sub/key"
  std::string content;  // raw bytes (base64 on the wire)
  int mode = 0644;
  bool operator==(const FileItem&) const = default;
};

// A pod volume. Every container of the pod that mounts it sees the same directory.
struct Volume {
  enum class Kind { kFiles, kEmptyDir, kHostPath };
  std::string name;
  Kind kind = Kind::kEmptyDir;
  std::vector<FileItem> files;      // kFiles (ConfigMap/Secret/downwardAPI contents)
  std::string hostPath;             // kHostPath, absolute
  std::string medium;               // kEmptyDir: "" (the device's disk) | "Memory" (tmpfs)
  std::int64_t sizeLimitBytes = 0;  // kEmptyDir: 0 = no limit
  bool operator==(const Volume&) const = default;
};

struct Mount {
  std::string volume;  // a volume's name in the same pod
  std::string mountPath;
  bool readOnly = false;
  std::string subPath;
  bool operator==(const Mount&) const = default;
};

struct Probe {
  enum class Kind { kExec, kHttpGet, kTcpSocket };
  Kind kind = Kind::kExec;
  std::vector<std::string> command;  // kExec
  std::string path = "/";            // kHttpGet
  std::string scheme = "HTTP";       // kHttpGet: HTTP | HTTPS
  std::string host;                  // kHttpGet / kTcpSocket: "" = the pod's IP
  int port = 0;                      // kHttpGet / kTcpSocket
  std::vector<std::pair<std::string, std::string>> httpHeaders;
  int initialDelaySeconds = 0;
  int periodSeconds = 10;
  int timeoutSeconds = 1;
  int successThreshold = 1;
  int failureThreshold = 3;
  bool operator==(const Probe&) const = default;
};

// A lifecycle hook's action (postStart / preStop): exactly one of exec, httpGet, sleep.
struct Handler {
  enum class Kind { kExec, kHttpGet, kSleep };
  Kind kind = Kind::kExec;
  std::vector<std::string> command;  // kExec
  std::string path = "/";            // kHttpGet
  std::string scheme = "HTTP";
  std::string host;  // "" = the pod's IP
  int port = 0;
  std::vector<std::pair<std::string, std::string>> httpHeaders;
  int sleepSeconds = 0;  // kSleep
  bool operator==(const Handler&) const = default;
};

struct Lifecycle {
  std::optional<Handler> postStart;
  std::optional<Handler> preStop;
  bool operator==(const Lifecycle&) const = default;
};

// Container-level security settings; unset optionals inherit the pod's (as in Kubernetes).
struct SecurityContext {
  bool privileged = false;
  std::optional<std::int64_t> runAsUser;
  std::optional<std::int64_t> runAsGroup;
  std::optional<bool> runAsNonRoot;
  bool readOnlyRootFilesystem = false;
  std::optional<bool> allowPrivilegeEscalation;
  std::vector<std::string> capabilitiesAdd;  // "NET_ADMIN" (no CAP_ prefix), or "ALL"
  std::vector<std::string> capabilitiesDrop;
  std::string seccompProfile;  // "" (inherit) | RuntimeDefault | Unconfined
  bool operator==(const SecurityContext&) const = default;
};

struct Sysctl {
  std::string name;
  std::string value;
  bool operator==(const Sysctl&) const = default;
};

struct PodSecurityContext {
  std::optional<std::int64_t> runAsUser;
  std::optional<std::int64_t> runAsGroup;
  std::optional<bool> runAsNonRoot;
  std::vector<std::int64_t> supplementalGroups;
  std::optional<std::int64_t> fsGroup;
  std::vector<Sysctl> sysctls;  // namespaced sysctls of the pod's sandbox
  std::string seccompProfile;   // "" (the engine's default) | RuntimeDefault | Unconfined
  bool operator==(const PodSecurityContext&) const = default;
};

enum class RestartPolicy { kAlways, kOnFailure, kNever };
enum class PullPolicy { kIfNotPresent, kAlways, kNever };

struct ContainerSpec {
  std::string name;  // DNS label, unique in the pod (init and app containers together)
  std::string image;
  PullPolicy pullPolicy = PullPolicy::kIfNotPresent;
  std::vector<std::string> command;  // entrypoint override (Kubernetes `command`)
  std::vector<std::string> args;     // Kubernetes `args`
  std::string workingDir;
  std::vector<EnvVar> env;
  std::vector<PortMapping> ports;  // they belong to the pod's sandbox
  Resources resources;
  std::vector<Mount> mounts;
  // Init containers only: Always makes a native sidecar (started in order, kept running).
  std::optional<RestartPolicy> restartPolicy;
  std::optional<Probe> livenessProbe;
  std::optional<Probe> readinessProbe;
  std::optional<Probe> startupProbe;
  Lifecycle lifecycle;
  SecurityContext securityContext;
  bool operator==(const ContainerSpec&) const = default;
};

struct PodSpec {
  std::string name;          // unique on the device: 1-253 of [a-z0-9.-], alphanumeric at both ends
  std::string deploymentId;  // the hub deployment that defines it
  RestartPolicy restartPolicy = RestartPolicy::kAlways;
  int terminationGracePeriodSeconds = 30;  // preStop hooks + SIGTERM, then SIGKILL
  bool hostNetwork = false;
  bool hostPID = false;
  bool hostIPC = false;
  bool shareProcessNamespace = false;
  std::string hostname;  // "" = the pod's name (ignored with hostNetwork)
  PodSecurityContext securityContext;
  std::vector<Volume> volumes;
  std::vector<ContainerSpec> initContainers;
  std::vector<ContainerSpec> containers;
  bool operator==(const PodSpec&) const = default;
};

// True for a native sidecar: an init container with restartPolicy Always.
bool isSidecar(const ContainerSpec& c);

// "<pod>/<container>": the container's device-wide module name.
std::string moduleName(std::string_view pod, std::string_view container);
// The pod part of a module name (before the first '/'); the name itself when it has none.
std::string_view podOfModule(std::string_view module);

// Pod names: 1-253 of [a-z0-9.-], alphanumeric at both ends (Kubernetes' DNS subdomain).
Status validatePodName(std::string_view name);
// Container names: 1-63 of [a-z0-9-], alphanumeric at both ends (a DNS label).
Status validateContainerName(std::string_view name);
// Module names: 1-317 of [a-z0-9._/-], alphanumeric at both ends ("web/nginx").
Status validateModuleName(std::string_view name);

Json toJson(const PodSpec& p);
Json toJson(const ContainerSpec& c);
Json toJson(const PodSecurityContext& s);
// Validates everything the protocol defines: names, unique container names and volume names,
// mounts naming pod volumes, one owner per (containerPort, protocol) and per host port in the
// pod, fields init containers may not have, ranges. `path` prefixes errors.
Result<PodSpec> podSpecFromJson(const Json& j, const std::string& path = "pod");
// A JSON array of pod specs (a hub deployment's `pods`). Names must be unique.
Result<std::vector<PodSpec>> podSpecsFromJson(const Json& j, const std::string& path = "pods");
// Hex SHA-256 of the pod's canonical JSON: equal specs hash equal, any change differs.
std::string specHash(const PodSpec& p);

// Schema 1 described flat "modules" (one container each, volumes and restart policy per
// module). Each legacy module becomes a pod of one container: pod name = the module name with
// '/' and '_' as '-', container name = the module name's last '/' element made a DNS label
// ("main" when nothing is left). Used for schema-1 desired documents, hub deployments stored or
// applied with `modules`, and skiffctl manifests with `modules:`.
Result<Json> podsJsonFromLegacyModules(const Json& modules, const std::string& path = "modules");
std::string legacyPodName(std::string_view module);
// moduleName(legacyPodName(m), <its container name>): what a legacy module is called now.
std::string legacyModuleName(std::string_view module);

std::string_view toString(RestartPolicy p);
std::string_view toString(PullPolicy p);

}  // namespace skiff::common::protocol
