// One pass of bringing one pod on the device to its desired state, the way the kubelet's
// SyncPod does it (docs/agent.md "Pod sandboxes"):
//
//   1. sandbox: the infra container of the current sandbox hash must run; if it died or the
//      pod's sandbox-level spec changed, every container of the pod is killed (preStop, grace)
//      and the sandbox is created anew — init containers then run again;
//   2. volumes: pod-scoped directories / tmpfs volumes, `files` rewritten when changed,
//      emptyDir sizeLimit enforced by eviction;
//   3. containers that no longer match (another sandbox, a changed spec) are killed and removed;
//   4. init containers one at a time, each to completion (a failure is retried with back-off, or
//      fails the pod under restartPolicy Never); native sidecars are started in order, each
//      waited for until started (startup probe, postStart), and kept running;
//   5. app containers, restarted per restartPolicy with CrashLoopBackOff; liveness and startup
//      probe failures restart them; when they are all done (Never/OnFailure) the sidecars are
//      stopped in reverse order and the pod is terminal;
//   6. a pod no longer desired is terminated: app containers' preStop hooks and SIGTERM at once,
//      sidecars after them in reverse order, all within terminationGracePeriodSeconds (at least
//      2 s after a preStop hook), then the sandbox, the containers and the volumes are removed.
//
// Every step records what it saw in the pod's record (PodRecords), so statuses are current
// while a pass is still running. Blocking (engine calls, hooks, grace periods). The caller
// serializes passes per pod; passes of different pods may run concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "edge_agent/engine/container_engine.h"
#include "edge_agent/pod/pause_image.h"
#include "edge_agent/pod/pod_state.h"
#include "edge_agent/prober.h"

namespace skiff::edge_agent::pod {

struct SyncOptions {
  std::string agentId;
  std::string stateDir;
  std::string podNetwork = "bridge";  // the engine network pods join (hostNetwork aside)
  std::string hostIP;                 // the device's address (status.hostIP, hostNetwork pods)
  std::chrono::milliseconds crashLoopInitial{10000};
  std::chrono::milliseconds crashLoopMax{300000};
  std::chrono::milliseconds crashLoopReset{600000};
  std::chrono::milliseconds pullBackoffInitial{10000};
  std::chrono::milliseconds pullBackoffMax{300000};
  std::chrono::milliseconds recheckInterval{2000};
  std::chrono::seconds postStartTimeout{120};
};

// The reconciler's records, as a pass sees them. Each call takes the reconciler's lock.
class PodRecords {
 public:
  virtual ~PodRecords() = default;
  virtual std::optional<PodRecord> get(const std::string& pod) const = 0;
  // Applies fn to the pod's record if it exists; reports a change of any status.
  virtual void update(const std::string& pod, const std::function<void(PodRecord&)>& fn) = 0;
  // The pod is gone from the device (and no longer desired).
  virtual void erase(const std::string& pod) = 0;
  // Restart counts or last terminations changed: persist them.
  virtual void persist() = 0;
  virtual std::vector<common::protocol::RegistryCredential> credentials() const = 0;
  // The engine state of the pod changed because of this pass (the relist must not miss a
  // quick exit that follows).
  virtual void touched(const std::string& pod) = 0;
};

class PodSync {
 public:
  struct Outcome {
    common::Status status;
    std::optional<std::chrono::milliseconds> requeueAfter;
  };

  PodSync(SyncOptions opts, engine::ContainerEngine& engine, engine::ContainerIo& io,
          engine::EngineResources& resources, Prober& prober, PauseImage& pause,
          PodRecords& records);

  // One pass for the pod; `listed` is every container of this agent that belongs to it
  // (podKeyOf). Ok with an optional recheck delay, or the error to retry with back-off.
  Outcome sync(const std::string& pod, const std::vector<engine::ContainerInfo>& listed);
  // Restarts one container (RPC): preStop, stop within the grace period, start; counted as a
  // restart. NotFound when the pod or container is unknown or has no running container.
  common::Status restart(const std::string& pod, const std::string& container,
                         const std::vector<engine::ContainerInfo>& listed);
  // Makes passes cut hooks and grace periods short (agent shutdown). Containers keep running.
  void cancel() { cancelled_ = true; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Ctx;  // one pass's view of the pod

  Outcome terminate(const std::string& pod, const std::vector<engine::ContainerInfo>& listed,
                    const std::optional<PodRecord>& rec);
  common::Result<bool> ensureSandbox(Ctx& ctx, const std::vector<engine::ContainerInfo>& listed);
  // Creates the infra container and starts it in the background (see awaitSandbox).
  common::Status createSandbox(Ctx& ctx);
  common::Status sandboxFailed(Ctx& ctx, const common::Status& s);
  // Waits for a sandbox createSandbox started and records it (pod IP); Ok when there is none.
  common::Status awaitSandbox(Ctx& ctx);
  // Starts a container of the pod once its sandbox runs (RunContainerError when it fails).
  common::Status startMember(Ctx& ctx, const std::string& name, const std::string& id);
  common::Status prepareVolumes(Ctx& ctx);
  bool evictIfOverLimit(Ctx& ctx, const std::vector<engine::ContainerInfo>& members);
  void classifyMembers(Ctx& ctx, const std::vector<engine::ContainerInfo>& members);
  Outcome syncInit(Ctx& ctx, bool& blocked);
  Outcome syncApps(Ctx& ctx);
  // Brings one container to running per policy (creating, starting, restarting with back-off).
  Outcome ensureRunning(Ctx& ctx, const std::string& name, bool restartOnSuccess,
                        bool restartOnFailure);
  // An exited container: terminated for good, or restarted (at once or after its back-off).
  Outcome afterExit(Ctx& ctx, const std::string& name, const std::string& id,
                    const engine::ContainerInfo& exited, bool restartOnSuccess,
                    bool restartOnFailure);
  Outcome createAndStart(Ctx& ctx, const std::string& name);
  // Pulls (per pull policy) and creates one container; reads ctx only, so containers of one
  // pass can be created concurrently. No id: the status says why (and `wake` when to retry).
  struct Created {
    common::Status status;
    std::optional<std::string> id;
    std::optional<std::chrono::milliseconds> wake;
  };
  Created createMember(const Ctx& ctx, const std::string& name);
  // createMember for each name at once; the created ones join ctx.current (to be started), the
  // others are listed in notCreated. Returns the first error.
  common::Status precreate(Ctx& ctx, const std::vector<std::string>& names,
                           std::set<std::string>& notCreated);
  Outcome afterStart(Ctx& ctx, const std::string& name, const std::string& id);
  // preStop (bounded by deadline), then SIGTERM → SIGKILL within what is left (≥ 2 s after a
  // hook). A container that is not running is left as it is.
  common::Status kill(const Ctx* ctx, const engine::ContainerInfo& c, Clock::time_point deadline);
  // Kills the listed containers in the kubelet's order (app containers together, then sidecars
  // in reverse, then the rest) and removes them, infra last.
  common::Status killAndRemove(const Ctx* ctx, std::vector<engine::ContainerInfo> containers,
                               int gracePeriodSeconds);
  void stopSidecars(Ctx& ctx);
  void track(Ctx& ctx, const std::string& name, const std::string& id);
  void setStatus(const std::string& pod, const std::string& name,
                 const std::function<void(ContainerRecord&)>& fn);

  const SyncOptions opts_;
  engine::ContainerEngine& engine_;
  engine::ContainerIo& io_;
  engine::EngineResources& resources_;
  Prober& prober_;
  PauseImage& pause_;
  PodRecords& records_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace skiff::edge_agent::pod
