// The agent's reconciler: level-triggered, one work queue keyed by module name (CONVENTIONS.md 5),
// against the ContainerEngine seam.
//
//   setDesired(doc) ─┐                 ┌─ reconcile(module): list the module's containers (by
//   relist (2 s) ────┼─▶ WorkQueue ──▶ │  label), remove outdated spec hashes, pull (backoff),
//   probe changes ───┘  (dedup,        │  create + start, restart exited ones per restartPolicy
//                        backoff)      └─ (CrashLoopBackOff), liveness restarts, status
//
// Nothing happens before the first setDesired(): with no known desired state (first boot, or a
// corrupt state file) running containers are left alone. Only containers labelled with this
// agent's id are ever listed, stopped or removed. Restart counts and the last termination are
// kept in <stateDir>/runtime.json so they survive an agent restart.
//
// Threading: `workers` threads process keys (a key is never processed by two at once, and a
// per-module lock serializes RPC restarts with reconciling); one relist thread polls the engine.
// Public methods are thread-safe and non-blocking except restartModule() and stop().
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/protocol/protocol.h"
#include "common/status.h"
#include "edge_agent/engine/container_engine.h"
#include "edge_agent/prober.h"
#include "edge_agent/work_queue.h"

namespace skiff::edge_agent {

struct ReconcilerOptions {
  std::string agentId;  // device id: the io.skiff.agent label value
  std::string stateDir;
  std::chrono::milliseconds crashLoopInitial{10000};  // kubelet: 10 s doubling to 5 min
  std::chrono::milliseconds crashLoopMax{300000};
  std::chrono::milliseconds crashLoopReset{600000};  // backoff forgotten after 10 min running
  std::chrono::milliseconds pullBackoffInitial{10000};
  std::chrono::milliseconds pullBackoffMax{300000};
  std::chrono::milliseconds relistInterval{2000};
  std::chrono::milliseconds fullResyncInterval{30000};
  std::chrono::milliseconds errorBackoffBase{500};  // engine errors: rate-limited requeue
  int workers = 4;
};

class Reconciler {
 public:
  // Called (from worker, relist or probe threads) whenever a module status may have changed.
  using OnChange = std::function<void()>;

  Reconciler(ReconcilerOptions opts, engine::ContainerEngine& engine, engine::ContainerIo& io,
             OnChange onChange);
  ~Reconciler();
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  void start();
  // Stops workers, probes and the relist loop. Containers keep running. Idempotent.
  void stop();

  // Replaces the desired module set (level-triggered: every affected module is re-queued).
  void setDesired(const common::protocol::DesiredState& desired);
  bool hasDesired() const;

  // Status of every desired module, sorted by name.
  std::vector<common::protocol::ModuleStatus> statuses() const;
  // Restarts the module's container (stop with its grace period, start) and counts it as a
  // restart. NotFound for an unknown module or one without a container. Blocks.
  common::Status restartModule(const std::string& module);
  // The module's current container id (NotFound if none).
  common::Result<std::string> containerOf(const std::string& module) const;
  // module → container id of every running module (for metrics).
  std::map<std::string, std::string> runningContainers() const;
  // True once the engine answered the last relist.
  bool engineReachable() const { return engineReachable_.load(); }

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;
  struct Module {
    std::optional<common::protocol::ModuleSpec> spec;  // nullopt: no longer desired
    std::string hash;
    common::protocol::ModuleStatus status;
    std::string containerId;
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
  struct Outcome {
    common::Status status;
    std::optional<std::chrono::milliseconds> requeueAfter;
  };

  void workerLoop();
  void relistLoop(std::stop_token stop);
  Outcome reconcile(const std::string& key);
  Outcome createAndStart(const std::string& key, const common::protocol::ModuleSpec& spec,
                         const std::string& hash);
  Outcome sync(const std::string& key, const common::protocol::ModuleSpec& spec,
               const std::string& containerId);
  common::Status stopAndRemove(const engine::ContainerInfo& c);
  std::shared_ptr<std::mutex> lockFor(const std::string& key);
  void forgetObserved(const std::string& key);
  // Applies fn to the module's record under the lock; notifies if its status changed.
  void update(const std::string& key, const std::function<void(Module&)>& fn);
  void loadRuntime();
  void saveRuntime();
  void notify();

  const ReconcilerOptions opts_;
  engine::ContainerEngine& engine_;
  engine::ContainerIo& io_;
  OnChange onChange_;
  Prober prober_;
  WorkQueue queue_;

  mutable std::mutex mu_;
  bool desiredKnown_ = false;
  std::map<std::string, Module> modules_;
  std::vector<common::protocol::RegistryCredential> credentials_;
  std::map<std::string, std::string> observed_;  // module → relist fingerprint
  struct Persisted {
    std::string specHash;
    int restartCount = 0;
    std::optional<common::protocol::Termination> lastTermination;
  };
  std::map<std::string, Persisted> persisted_;
  std::map<std::string, std::shared_ptr<std::mutex>> keyLocks_;

  std::mutex saveMu_;
  std::atomic<bool> engineReachable_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::vector<std::thread> workers_;
  std::jthread relister_;
  std::mutex relistMu_;
  std::condition_variable_any relistCv_;
  bool relistNow_ = false;
};

}  // namespace skiff::edge_agent
