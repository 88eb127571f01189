// Pod → hub deployment (docs/pod-mapping.md): one pod is one deployment (id from
// deploymentIdFor) holding that pod — init containers, sidecars, containers, pod-level volumes,
// namespaces and security context — as the protocol's PodSpec; on a device each container is the
// module "<pod>/<container>". Resolves everything that
// needs the Kubernetes API at conversion time — env valueFrom (ConfigMap/Secret keys, field and
// resource refs), envFrom, ConfigMap/Secret/downwardAPI volumes shipped as files, and
// imagePullSecrets as registry credentials — and derives the device selector from nodeSelector /
// required node affinity keys under device.skiff.io/ and the skiff.io/target-selector annotation.
// Fields devices cannot honour are listed as warnings (the provider turns them into a Warning
// Event), never silently dropped. Pure apart from the ObjectReader calls; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/protocol/protocol.h"
#include "common/status.h"
#include "skiff/v1/hub.pb.h"
#include "virtual_node/provider.h"

namespace skiff::edge_provider {

using common::Json;
namespace protocol = common::protocol;

// Pod annotations the mapping reads.
inline constexpr std::string_view kTargetSelectorAnnotation = "skiff.io/target-selector";
inline constexpr std::string_view kPriorityAnnotation = "skiff.io/priority";
// Node label prefix of device labels (device mode Nodes; selector keys in pods).
inline constexpr std::string_view kDeviceLabelPrefix = "device.skiff.io/";
// The hub's implicit label naming a device.
inline constexpr std::string_view kDeviceIdLabel = "skiff.io/device-id";
// Deployment labels and annotations the edge provider sets.
inline constexpr std::string_view kVirtualNodeLabel = "skiff.io/virtual-node";
inline constexpr std::string_view kManagedByLabel = "skiff.io/managed-by";
inline constexpr std::string_view kPodNamespaceAnnotation = "skiff.io/pod-namespace";
inline constexpr std::string_view kPodNameAnnotation = "skiff.io/pod-name";
inline constexpr std::string_view kPodUidAnnotation = "skiff.io/pod-uid";
inline constexpr std::string_view kNodeAnnotation = "skiff.io/node";
inline constexpr std::string_view kPodSpecHashAnnotation = "skiff.io/pod-spec-hash";

struct MappingContext {
  virtual_node::ObjectReader* reader = nullptr;  // ConfigMaps, Secrets
  std::string owner;                             // the virtual node's name
  std::optional<std::string> deviceId;           // device mode: the pod's device
};

struct PodMapping {
  ::skiff::v1::Deployment deployment;  // ready for ApplyDeployment
  protocol::PodSpec pod;
  std::vector<protocol::RegistryCredential> credentials;
  std::string selector;               // the deployment's target selector (canonical form)
  std::vector<std::string> warnings;  // "<field>: <why it is not applied>"
};

// "<pod>/<container>".
std::string moduleNameFor(std::string_view pod, std::string_view container);

// Hash of everything in the pod that shapes its deployment (spec, the annotations the mapping
// reads, identity). Recorded on the deployment (skiff.io/pod-spec-hash) so a restarted provider
// can adopt an existing deployment without re-resolving it.
std::string podMappingHash(const Json& pod);

// The device selector of a pod (see docs/pod-mapping.md). Device mode: exactly that device.
// InvalidArgument names the offending field or annotation. warnings collects ignored terms.
common::Result<std::string> targetSelectorFor(const Json& pod,
                                              const std::optional<std::string>& deviceId,
                                              std::vector<std::string>* warnings);

// Converts a pod. Errors name the field path: InvalidArgument for pods that cannot be expressed
// (bad quantity, unknown named port, invalid selector or priority, ...), NotFound for a missing
// ConfigMap/Secret or key that is not optional; PermissionDenied/Unavailable from the reader.
common::Result<PodMapping> mapPod(const Json& pod, const MappingContext& ctx);

}  // namespace skiff::edge_provider
