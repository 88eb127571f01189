// What the agent knows about each pod on the device, and the pure rules that turn it into the
// statuses Kubernetes users read (docs/agent.md "Pod status"): the container states and reasons
// the kubelet reports, the pod phase (kubelet's getPhase, sidecars included), Initialized and
// Ready. Plain values; the reconciler owns them under its lock.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/protocol/protocol.h"
#include "edge_agent/engine/container_engine.h"
#include "edge_agent/pod/pod_config.h"

namespace skiff::edge_agent::pod {

using SteadyTime = std::chrono::steady_clock::time_point;

// One container of a pod (init, sidecar or app).
struct ContainerRecord {
  common::protocol::ContainerSpec spec;
  common::protocol::ContainerKind kind = common::protocol::ContainerKind::kContainer;
  std::string hash;  // containerHash(): a different one means a new container
  common::protocol::ModuleStatus status;
  std::string containerId;
  bool postStartDone = false;  // postStart ran (or there is none) for containerId's current run
  // CrashLoopBackOff: the delay before the next restart, and when it may happen.
  std::chrono::milliseconds crashBackoff{0};    // the delay after the next exit
  std::chrono::milliseconds appliedBackoff{0};  // the delay applied to the last exit
  std::optional<SteadyTime> restartNotBefore;
  std::optional<std::chrono::system_clock::time_point> handledFinishedAt;
  // Image pull backoff (ErrImagePull → ImagePullBackOff).
  std::chrono::milliseconds pullBackoff{0};
  std::optional<SteadyTime> pullNotBefore;
  std::string pullError;
};

struct PodRecord {
  // The last desired spec; it stays after the pod is removed from the desired state, because
  // termination still needs its grace period and preStop hooks.
  std::optional<common::protocol::PodSpec> spec;
  bool desired = false;         // false: removed from the desired state (terminating)
  int gracePeriodSeconds = 30;  // of the last spec
  std::string hash;             // specHash(spec)
  std::string sandboxHash;
  common::protocol::PodStatus status;
  std::string infraId;                                // the running sandbox ("" = none yet)
  std::vector<std::string> order;                     // container names: init ones, then apps
  std::map<std::string, ContainerRecord> containers;  // by container name
  PreparedVolumes volumes;
  // Succeeded/Failed reached (restartPolicy Never/OnFailure, an init failure with Never, an
  // eviction): nothing is started or restarted any more until the spec changes.
  bool terminal = false;
};

// Waiting with a reason: clears running/terminated details.
void setWaiting(common::protocol::ModuleStatus& s, std::string reason, std::string message);
// Terminated as `term` says (reason, exit code, times), not ready or started; `message` is the
// engine's error, if any.
void setTerminated(common::protocol::ModuleStatus& s, const common::protocol::Termination& term,
                   std::string message);
// The waiting reason of a container not created yet (PodInitializing when the pod has init
// containers, else ContainerCreating).
std::string notCreatedReason(const common::protocol::PodSpec& pod);

// The termination an exited container reports (Completed / Error / OOMKilled).
common::protocol::Termination terminationOf(const engine::ContainerInfo& info);

// Fills the record's container records from its spec: new containers start waiting, changed
// ones start over, containers the spec no longer names are dropped from the records (their
// engine containers are removed by the next sync). `persisted` restores restart counts of an
// unchanged container after an agent restart.
struct PersistedContainer {
  std::string hash;
  int restartCount = 0;
  std::optional<common::protocol::Termination> lastTermination;
};
void applySpec(PodRecord& rec, const common::protocol::PodSpec& spec,
               const std::map<std::string, PersistedContainer>& persisted);

// Phase, Initialized and Ready from the container statuses (readiness/started already merged
// in), following the kubelet. A terminal phase stays.
void computePodConditions(PodRecord& rec);

// Regular (non-sidecar) init containers have all completed, or an app container was created
// (the kubelet's "pod has initialized": completed init containers are never re-run).
bool initDone(const PodRecord& rec);

}  // namespace skiff::edge_agent::pod
