// Pod spec → what the engine creates for it: the sandbox's infra container, each member
// container joining the sandbox's namespaces, and the pod's volumes on the device
// (docs/agent.md "Pod sandboxes").
//
// Every container the agent creates carries these labels, and the agent only ever lists, stops
// or removes containers whose io.skiff.agent label is its own device id:
//   io.skiff.managed-by=skiff-agent, io.skiff.agent=<deviceId>, io.skiff.pod=<pod>,
//   io.skiff.deployment=<deploymentId>, io.skiff.kind=infra|init|sidecar|container,
//   io.skiff.spec-hash=<sandbox hash (infra) or container hash>, io.skiff.stop-timeout=<s>,
//   and on members io.skiff.module=<pod>/<container>, io.skiff.sandbox-id=<infra container id>.
//
// Volumes live under <stateDir>/pods/<pod>/<identity>/<volume> (identity: 12 hex of the pod's
// deployment id, so a re-created pod of the same name starts with fresh emptyDirs): emptyDir
// directories (mode 0777, like the kubelet's), `files` volumes written with their modes, fsGroup
// applied (group ownership + setgid). medium: Memory emptyDirs are engine tmpfs volumes shared by
// the pod's containers. Blocking file I/O; thread-safe for distinct pods.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/protocol/protocol.h"
#include "common/status.h"
#include "edge_agent/engine/container_engine.h"
#include "edge_agent/pod/pause_image.h"

namespace skiff::edge_agent::pod {

inline constexpr std::string_view kLabelManagedBy = "io.skiff.managed-by";
inline constexpr std::string_view kLabelAgent = "io.skiff.agent";
inline constexpr std::string_view kLabelPod = "io.skiff.pod";
inline constexpr std::string_view kLabelModule = "io.skiff.module";
inline constexpr std::string_view kLabelDeployment = "io.skiff.deployment";
inline constexpr std::string_view kLabelKind = "io.skiff.kind";
inline constexpr std::string_view kLabelSpecHash = "io.skiff.spec-hash";
inline constexpr std::string_view kLabelStopTimeout = "io.skiff.stop-timeout";
inline constexpr std::string_view kLabelSandboxId = "io.skiff.sandbox-id";

inline constexpr std::string_view kKindInfra = "infra";

// The pod a listed container belongs to: its io.skiff.pod label, or for a container of the
// schema-1 layout (one module, no pod) the pod that module is now (legacyPodName). "" if neither.
std::string podKeyOf(const engine::ContainerInfo& c);

// Changes that need a new sandbox (and so every container anew): namespaces, hostname, sysctls,
// the pod's ports (published by the infra container), its volumes' shape, its init containers,
// its identity (deployment id).
std::string sandboxHash(const common::protocol::PodSpec& pod);
// Changes that need a new container: its own spec and the pod-level security settings it
// inherits.
std::string containerHash(const common::protocol::PodSpec& pod,
                          const common::protocol::ContainerSpec& c);

// The kind label value of a member.
std::string_view kindLabel(common::protocol::ContainerKind kind);

// Where a pod's volumes live, and the directory of its current identity.
std::string podRoot(std::string_view stateDir, std::string_view pod);
std::string podVolumeRoot(std::string_view stateDir, const common::protocol::PodSpec& pod);

struct PreparedVolumes {
  // volume name → host directory (emptyDir on disk, files) or engine volume name (Memory).
  std::map<std::string, std::string> sources;
  std::map<std::string, bool> engineVolume;
  // Disk usage limits the agent enforces itself (volume name → bytes → host directory).
  struct Limit {
    std::string path;
    std::int64_t bytes = 0;
  };
  std::map<std::string, Limit> limits;
};

// Creates the pod's volume directories and engine volumes, (re)writes `files` volumes whose
// content changed, applies fsGroup, and removes directories of the pod's earlier identities.
// Idempotent; Internal on I/O errors, engine errors as they come.
common::Result<PreparedVolumes> preparePodVolumes(const common::protocol::PodSpec& pod,
                                                  std::string_view agentId,
                                                  std::string_view stateDir,
                                                  engine::EngineResources& resources);
// Removes everything preparePodVolumes made for the pod (directories, engine volumes).
common::Status removePodVolumes(std::string_view pod, std::string_view agentId,
                                std::string_view stateDir, engine::EngineResources& resources);

// The infra container of the pod's sandbox: namespaces (network: `podNetwork`, or the host's
// with hostNetwork), hostname, sysctls, every port of the pod published.
engine::ContainerConfig infraConfig(const common::protocol::PodSpec& pod,
                                    std::string_view sandboxHash, std::string_view agentId,
                                    std::string_view podNetwork, const InfraImage& image);

// A member container joining the sandbox `infraId`. InvalidArgument names what makes it
// impossible (runAsNonRoot with a root image, an unknown volume); the reconciler reports it as
// CreateContainerConfigError, as the kubelet does.
common::Result<engine::ContainerConfig> memberConfig(
    const common::protocol::PodSpec& pod, const common::protocol::ContainerSpec& c,
    common::protocol::ContainerKind kind, std::string_view hash, std::string_view agentId,
    std::string_view infraId, const PreparedVolumes& volumes, const engine::ImageInfo& image);

// The credential that applies to image, if any.
std::optional<engine::RegistryAuth> credentialFor(
    std::string_view image, const std::vector<common::protocol::RegistryCredential>& creds);

}  // namespace skiff::edge_agent::pod
