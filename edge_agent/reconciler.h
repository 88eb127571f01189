// The agent's reconciler: level-triggered, one work queue keyed by pod name (the controller
// shape of docs/architecture.md "Conventions"), against the ContainerEngine seam.
//
//   setDesired(doc) ─┐                 ┌─ PodSync::sync(pod) (edge_agent/pod/pod_sync.h):
//   relist (2 s) ────┼─▶ WorkQueue ──▶ │  sandbox, volumes, init containers, sidecars, app
//   probe changes ───┘  (dedup,        │  containers, restarts with back-off, termination;
//                        backoff)      └─ statuses recorded as it goes
//
// Nothing happens before the first setDesired(): with no known desired state (first boot, or a
// corrupt state file) running containers are left alone. Only containers labelled with this
// agent's id are ever listed, stopped or removed. Restart counts and last terminations are kept
// in <stateDir>/runtime.json so they survive an agent restart.
//
// Threading: `workers` threads process keys (a key is never processed by two at once, and a
// per-pod lock serializes RPC restarts with passes); one relist thread polls the engine. Public
// methods are thread-safe and non-blocking except restartModule() and stop().
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/protocol/protocol.h"
#include "common/status.h"
#include "common/work_queue.h"
#include "edge_agent/engine/container_engine.h"
#include "edge_agent/pod/pause_image.h"
#include "edge_agent/pod/pod_state.h"
#include "edge_agent/pod/pod_sync.h"
#include "edge_agent/prober.h"

namespace skiff::edge_agent {

struct ReconcilerOptions {
  std::string agentId;  // device id: the io.skiff.agent label value
  std::string stateDir;
  std::string podNetwork = "bridge";
  std::string hostIP;                                 // "" = 127.0.0.1
  std::string pauseBinary;                            // "" = next to the agent (pod/pause_image.h)
  std::string podInfraImage;                          // "" = the built-in skiff-pause image
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

class Reconciler : private pod::PodRecords {
 public:
  // Called (from worker, relist or probe threads) whenever a status may have changed.
  using OnChange = std::function<void()>;

  Reconciler(ReconcilerOptions opts, engine::ContainerEngine& engine, engine::ContainerIo& io,
             engine::EngineResources& resources, OnChange onChange);
  ~Reconciler() override;
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  void start();
  // Stops workers, probes and the relist loop; a pass in a grace period ends it early.
  // Containers keep running. Idempotent.
  void stop();

  // Replaces the desired pod set (level-triggered: every affected pod is re-queued).
  void setDesired(const common::protocol::DesiredState& desired);
  bool hasDesired() const;

  struct Statuses {
    std::vector<common::protocol::PodStatus> pods;        // sorted by name
    std::vector<common::protocol::ModuleStatus> modules;  // sorted by name
  };
  // Every pod on the device (desired ones and those still terminating) and its containers.
  Statuses statuses() const;
  // Restarts a module's container (preStop, stop with its grace period, start) and counts it
  // as a restart. NotFound for an unknown module or one without a container. Blocks.
  common::Status restartModule(const std::string& module);
  // The module's current container id (NotFound if none).
  common::Result<std::string> containerOf(const std::string& module) const;
  // module → container id of every running container (for metrics).
  std::map<std::string, std::string> runningContainers() const;
  // True once the engine answered the last relist.
  bool engineReachable() const { return engineReachable_.load(); }

 private:
  // pod::PodRecords
  std::optional<pod::PodRecord> get(const std::string& pod) const override;
  void update(const std::string& pod, const std::function<void(pod::PodRecord&)>& fn) override;
  void erase(const std::string& pod) override;
  void persist() override;
  std::vector<common::protocol::RegistryCredential> credentials() const override;
  void touched(const std::string& pod) override;

  void workerLoop();
  void relistSoon();  // wakes the relist loop now
  void relistLoop(std::stop_token stop);
  void removeLegacyFiles();
  pod::PodSync::Outcome reconcile(const std::string& key);
  common::Result<std::vector<engine::ContainerInfo>> listPod(const std::string& pod);
  std::shared_ptr<std::mutex> lockFor(const std::string& key);
  void loadRuntime();
  void notify();

  const ReconcilerOptions opts_;
  engine::ContainerEngine& engine_;
  OnChange onChange_;
  Prober prober_;
  common::WorkQueue queue_;
  pod::PauseImage pause_;
  pod::PodSync sync_;

  mutable std::mutex mu_;
  bool desiredKnown_ = false;
  bool relisted_ = false;         // a relist completed since start
  std::set<std::string> passed_;  // pods that had a pass since start
  std::map<std::string, pod::PodRecord> pods_;
  std::vector<common::protocol::RegistryCredential> credentials_;
  std::map<std::string, std::string> observed_;               // pod → relist fingerprint
  std::map<std::string, pod::PersistedContainer> persisted_;  // module → restart count etc.
  std::map<std::string, std::shared_ptr<std::mutex>> keyLocks_;

  std::mutex saveMu_;
  std::atomic<bool> engineReachable_{false};
  bool legacyFilesGone_ = false;  // relist thread only
  // Containers of a pre-pod (schema 1) agent may exist: true until a relist found none.
  std::atomic<bool> legacyContainers_{true};
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::vector<std::thread> workers_;
  std::jthread relister_;
  std::mutex relistMu_;
  std::condition_variable_any relistCv_;
  bool relistNow_ = false;
  // A new document may have orphaned containers: relist once its pods' passes are done (a list
  // of every container, run beside their creates, would slow them down in the engine).
  std::atomic<bool> relistWhenIdle_{false};
  std::atomic<int> passing_{0};  // passes in progress
};

}  // namespace skiff::edge_agent
