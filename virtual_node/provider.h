// The provider seam between the virtual node (the generic virtual-kubelet: Nodes, Leases, pod
// sync, kubelet endpoint) and what actually runs pods (the edge provider: hub deployments on
// devices). Mirrors virtual-kubelet's PodLifecycleHandler / PodNotifier / NodeProvider /
// logs contract, split into small interfaces so an implementation states its capabilities.
//
// Pods travel as Kubernetes JSON objects (v1.Pod) exactly as the API server returns them.
// Threading: the virtual node calls every method from its own worker threads, several at a
// time, but never concurrently for the same pod. Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace skiff::virtual_node {

using common::Json;

// What the provider reports about one pod: a v1.PodStatus and the annotations it owns on the pod
// (e.g. skiff.io/devices); the virtual node writes both to the API when they differ.
struct PodStatusReport {
  Json status = Json::object();
  std::map<std::string, std::string> annotations;
};

class PodLifecycleHandler {
 public:
  virtual ~PodLifecycleHandler() = default;
  // Starts running a pod bound to one of the provider's nodes. Idempotent: a pod the provider
  // already runs with this spec changes nothing. Blocks on the provider's backend. Errors:
  // Unavailable (backend unreachable; retried with backoff), InvalidArgument (the pod cannot run
  // as specified; the provider keeps reporting why through getPodStatus; retried slowly, since
  // e.g. a missing ConfigMap may appear).
  virtual common::Status createPod(const Json& pod) = 0;
  // Applies a changed pod in place: its spec (an image update), labels or annotations (those the
  // provider reports as its own excepted). Same contract as createPod.
  virtual common::Status updatePod(const Json& pod) = 0;
  // Starts removing the pod's containers. Idempotent: Ok when removal is under way or done.
  // Completion is seen through getPod answering NotFound (and a notification).
  virtual common::Status deletePod(const Json& pod) = 0;
  // The pod as the provider runs it (the spec it last applied), NotFound when it runs nothing
  // for it — for a deleted pod, only once every container is gone. Non-blocking.
  virtual common::Result<Json> getPod(const std::string& ns, const std::string& name) = 0;
  // The pod's current status. NotFound for pods the provider does not know. Non-blocking.
  virtual common::Result<PodStatusReport> getPodStatus(const std::string& ns,
                                                       const std::string& name) = 0;
  // Every pod the provider runs or is removing, with at least metadata namespace/name/uid —
  // after a restart this is what its backend still holds. Used to remove orphans (pods deleted
  // from the API while the virtual node was away). Blocks; Unavailable before it has synced.
  virtual common::Result<std::vector<Json>> getPods() = 0;
};

class PodNotifier {
 public:
  virtual ~PodNotifier() = default;
  // Registers the callback the provider invokes (from any of its threads) whenever anything the
  // virtual node reads about a pod may have changed: status, annotations, removal progress. The
  // callback only enqueues and never blocks. Call once, before the provider starts.
  virtual void notifyPods(
      std::function<void(const std::string& ns, const std::string& name)> cb) = 0;
};

struct NodeCondition {
  std::string type;    // Ready, MemoryPressure, ...
  std::string status;  // True | False | Unknown
  std::string reason;
  std::string message;
  bool operator==(const NodeCondition&) const = default;
};

// One Node the provider backs (fleet mode: one for the whole hub; device mode: one per device).
struct VirtualNodeSpec {
  std::string name;
  std::map<std::string, std::string> labels;
  Json taints = Json::array();                  // v1.Taint objects the node must carry
  std::map<std::string, std::string> capacity;  // resource name → quantity ("cpu": "4")
  std::map<std::string, std::string> allocatable;
  std::vector<NodeCondition> conditions;
  // Addresses besides the virtual node's own InternalIP, which it always lists first.
  std::vector<std::pair<std::string, std::string>> addresses;  // type, address
  Json nodeInfo = Json::object();                              // v1.NodeSystemInfo fields
  bool operator==(const VirtualNodeSpec&) const = default;
};

class NodeProvider {
 public:
  virtual ~NodeProvider() = default;
  // The nodes the provider backs right now. Non-blocking (cached); Unavailable until the
  // provider has synced with its backend.
  virtual common::Result<std::vector<VirtualNodeSpec>> nodes() = 0;
  // Registers a callback invoked (from any thread, must not block) whenever nodes() would
  // answer differently. Call once, before the provider starts.
  virtual void notifyNodes(std::function<void()> cb) = 0;
};

struct LogOptions {
  bool follow = false;
  bool timestamps = false;
  bool previous = false;
  std::optional<std::int64_t> tailLines;
  std::optional<std::int64_t> sinceSeconds;
};

class ContainerLogProvider {
 public:
  virtual ~ContainerLogProvider() = default;
  // Streams a container's log into write, which returns false once the reader has gone (then
  // stop). Blocks while following. Errors before the first write: NotFound (pod or container
  // unknown), InvalidArgument (unsupported option, e.g. previous), Unavailable (the device or
  // backend cannot be reached).
  virtual common::Status getContainerLogs(const std::string& ns, const std::string& pod,
                                          const std::string& container, const LogOptions& opts,
                                          const std::function<bool(std::string_view)>& write) = 0;
};

// Services the virtual node offers its provider.
class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  // Records a core/v1 Event about obj (a Pod or Node). type is Normal or Warning. Non-blocking
  // (queued and written in the background); repeats of the same event on the same object are
  // aggregated into one Event with a count. Thread-safe.
  virtual void event(const Json& obj, std::string_view type, std::string_view reason,
                     std::string_view message) = 0;
};

class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  // Reads a ConfigMap / Secret from the API. Blocks; NotFound, PermissionDenied, Unavailable.
  virtual common::Result<Json> getConfigMap(const std::string& ns, const std::string& name) = 0;
  virtual common::Result<Json> getSecret(const std::string& ns, const std::string& name) = 0;
};

}  // namespace skiff::virtual_node
