// The ContainerEngine seam (docs/agent.md "The ContainerEngine seam"): what the agent needs from
// the local container engine, split in three small interfaces: ContainerEngine (image + container
// lifecycle, used by the reconciler), ContainerIo (engine version, logs, stats, exec, used by
// probes, hooks, RPC and metrics) and EngineResources (local images and volumes for pod
// sandboxes). The first implementation is the Docker Engine API over a unix socket
// (docker_engine.h), which serves Docker, Moby, Podman's compat API and balenaEngine; a CRI
// implementation can follow behind the same interfaces. tests/mocks/ has gmock versions and
// tests/edge_agent/engine/ a typed conformance suite every implementation must pass.
//
// Threading: every method is thread-safe and blocking (it waits for the engine). Errors:
// Unavailable when the engine cannot be reached, NotFound for an unknown container/image,
// Conflict for a name in use, InvalidArgument for a request the engine refuses as malformed,
// Internal for other engine failures; messages carry the engine's own text.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/protocol/protocol.h"
#include "common/status.h"

namespace skiff::edge_agent::engine {

using TimePoint = std::chrono::system_clock::time_point;

struct RegistryAuth {
  std::string server;  // "127.0.0.1:5000", "registry.example.com", "docker.io"
  std::string username;
  std::string password;
};

struct PortBinding {
  int containerPort = 0;
  std::string protocol = "tcp";  // tcp | udp
  int hostPort = 0;              // > 0: published
  std::string hostIp;
};

struct BindMount {
  std::string source;  // host path, or an engine volume's name when `volume` is set
  std::string target;  // path in the container
  bool readOnly = false;
  bool volume = false;  // source names an engine volume (EngineResources::createVolume)
};

struct DeviceMapping {
  std::string hostPath;       // a character device, e.g. /dev/gpiomem
  std::string containerPath;  // usually the same
};

// Everything a container is created from. The engine's own restart policy is always "no": the
// agent restarts containers itself (CrashLoopBackOff, restart counts).
struct ContainerConfig {
  std::string name;  // engine container name; unique per engine
  std::string image;
  std::vector<std::string> entrypoint;  // empty: the image's
  std::vector<std::string> cmd;         // empty: the image's (none when entrypoint is set)
  std::vector<std::string> env;         // "NAME=value"
  std::string workingDir;
  std::map<std::string, std::string> labels;
  std::vector<PortBinding> ports;
  std::vector<BindMount> mounts;
  std::vector<DeviceMapping> devices;
  std::int64_t memoryBytes = 0;  // 0: unlimited
  std::int64_t nanoCpus = 0;     // 0: unlimited
  bool privileged = false;
  int stopTimeoutSeconds = 10;
  // Namespaces: "" (the engine's default), "host", "container:<id>"; networkMode may also be
  // "bridge", "none" or a network's name, ipcMode "shareable" (others may join it).
  std::string networkMode;
  std::string ipcMode;
  std::string pidMode;
  std::string hostname;  // "" = the engine's choice
  std::string user;      // "uid[:gid]"; "" = the image's
  std::vector<std::int64_t> groupAdd;
  std::vector<std::string> capAdd;  // "NET_ADMIN", "ALL"
  std::vector<std::string> capDrop;
  bool readonlyRootfs = false;
  bool noNewPrivileges = false;
  bool seccompUnconfined = false;
  std::map<std::string, std::string> sysctls;
};

enum class ContainerStatus { kCreated, kRunning, kPaused, kRestarting, kExited, kDead, kUnknown };

struct ContainerInfo {
  std::string id;
  std::string name;
  std::string image;    // the reference it was created from
  std::string imageId;  // "sha256:…"
  std::map<std::string, std::string> labels;
  ContainerStatus status = ContainerStatus::kUnknown;
  // The following are filled by inspect() only (list() leaves them at their defaults).
  int exitCode = 0;
  bool oomKilled = false;
  std::string error;      // engine's error for a container that failed to start
  std::string ipAddress;  // in its own network namespace; "" for host networking
  int pid = 0;            // of its main process while running
  std::optional<TimePoint> startedAt;
  std::optional<TimePoint> finishedAt;
};

struct LogOptions {
  int tailLines = -1;  // -1: all
  std::optional<TimePoint> since;
  bool follow = false;
  bool timestamps = false;
};

// Receives log data as it arrives (stdout and stderr separately); false stops the stream.
using LogSink = std::function<bool(std::string_view data, bool isStderr)>;

struct ContainerStats {
  TimePoint at;
  std::uint64_t cpuTotalNanos = 0;  // cumulative CPU time of the container
  std::int64_t memoryBytes = 0;
};

struct ExecResult {
  int exitCode = -1;
  std::string output;  // stdout + stderr, truncated to a few KiB
};

struct ImageInfo {
  std::string id;    // "sha256:…"
  std::string user;  // the image's USER ("" = root), e.g. "1000", "nobody", "1000:1000"
};

// An engine-managed volume (Docker/Podman local driver), e.g. a tmpfs shared by a pod.
struct VolumeConfig {
  std::string name;
  std::map<std::string, std::string> labels;
  bool tmpfs = false;
  std::int64_t sizeBytes = 0;  // tmpfs size; 0 = the engine's default
};

struct VolumeInfo {
  std::string name;
  std::string mountpoint;    // on the host (the engine's mount namespace)
  bool sizeApplied = false;  // the tmpfs size limit is enforced by the engine
};

struct EngineVersion {
  std::string name;        // "docker", "podman", "balena-engine"
  std::string version;     // "4.3.1"
  std::string apiVersion;  // "1.41"
};

class ContainerEngine {
 public:
  virtual ~ContainerEngine() = default;
  // Makes the image available according to policy and returns its id ("sha256:…"):
  // IfNotPresent pulls only when missing, Always pulls every time (cheap when unchanged), Never
  // only looks (NotFound when missing). Pull failures are Unavailable/NotFound/Unauthenticated
  // with the registry's message. Idempotent; may block for minutes on a slow network.
  virtual common::Result<ImageInfo> ensureImage(const std::string& image,
                                                common::protocol::PullPolicy policy,
                                                const RegistryAuth* auth) = 0;
  // Creates (does not start) a container; returns its id. Conflict if the name is taken.
  virtual common::Result<std::string> create(const ContainerConfig& config) = 0;
  // Starts a created or exited container. Idempotent for a running one.
  virtual common::Status start(const std::string& id) = 0;
  // SIGTERM, then SIGKILL after timeout. Idempotent for a stopped container; NotFound if gone.
  virtual common::Status stop(const std::string& id, std::chrono::seconds timeout) = 0;
  // Force-removes the container (and its anonymous volumes). Idempotent: Ok if already gone.
  virtual common::Status remove(const std::string& id) = 0;
  virtual common::Result<ContainerInfo> inspect(const std::string& id) = 0;
  // Containers (running or not) carrying every one of the given labels.
  virtual common::Result<std::vector<ContainerInfo>> list(
      const std::map<std::string, std::string>& labels) = 0;
};

class ContainerIo {
 public:
  virtual ~ContainerIo() = default;
  // Engine name, version and API version (device facts).
  virtual common::Result<EngineVersion> version() = 0;
  // Streams a container's logs into sink until the end (or, when following, until the container
  // stops, sink returns false or cancelled() turns true). Blocks for the whole stream.
  virtual common::Status logs(const std::string& id, const LogOptions& options, const LogSink& sink,
                              const std::function<bool()>& cancelled) = 0;
  // One usage sample. Unavailable when the engine cannot report stats for the container.
  virtual common::Result<ContainerStats> stats(const std::string& id) = 0;
  // Runs command inside the running container and waits for it (DeadlineExceeded after
  // timeout, the command is then left to the engine).
  virtual common::Result<ExecResult> exec(const std::string& id,
                                          const std::vector<std::string>& command,
                                          std::chrono::milliseconds timeout) = 0;
};

// Local images and engine volumes (pod sandboxes: the pause image, memory-backed emptyDirs).
class EngineResources {
 public:
  virtual ~EngineResources() = default;
  // Imports a root file system tarball as image `reference` ("localhost/skiff-pause:<tag>") and
  // returns its id. Idempotent (re-importing replaces the tag).
  virtual common::Result<std::string> importImage(const std::string& reference,
                                                  const std::string& rootfsTar) = 0;
  // Creates the volume, or returns the existing one of that name. A tmpfs size the engine cannot
  // apply (Podman 4.3 refuses "size") is dropped and reported as sizeApplied = false: the agent
  // then enforces the limit by usage, as it does for disk-backed emptyDirs.
  virtual common::Result<VolumeInfo> createVolume(const VolumeConfig& config) = 0;
  // Removes the volume; Ok if absent. Conflict while a container still uses it.
  virtual common::Status removeVolume(const std::string& name) = 0;
  // Names of the volumes carrying every one of the labels.
  virtual common::Result<std::vector<std::string>> listVolumes(
      const std::map<std::string, std::string>& labels) = 0;
};

std::string_view toString(ContainerStatus s);

}  // namespace skiff::edge_agent::engine
