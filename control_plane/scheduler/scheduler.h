// The scheduler: watches unscheduled pods, runs the filter and score plugins over a cache of
// nodes and bound pods, and binds through pods/binding. Pods that fit nowhere get
// PodScheduled=False with kube-scheduler's message and a FailedScheduling Event, and are retried
// when nodes change (or after a minute). One scheduling thread (decisions are sequential, so the
// cache is always exact); bindings are written by a small worker pool and "assumed" meanwhile.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "control_plane/controllers/client.h"
#include "control_plane/controllers/event_recorder.h"
#include "control_plane/controllers/informer.h"
#include "control_plane/controllers/work_queue.h"
#include "control_plane/scheduler/framework.h"

namespace skiff::control_plane::scheduler {

struct SchedulerOptions {
  std::string schedulerName = "default-scheduler";
  int percentageOfNodesToScore = 0;  // 0 = adaptive, as kube-scheduler
  int bindWorkers = 8;
  std::chrono::seconds unschedulableRetry{60};
  // Counters skiff_scheduler_{scheduled,unschedulable,bind_errors}_total (optional).
  std::shared_ptr<prometheus::Registry> metrics;
};

struct SchedulerStats {
  std::uint64_t scheduled = 0;
  std::uint64_t unschedulable = 0;
  std::uint64_t bindErrors = 0;
};

class Scheduler {
 public:
  Scheduler(controllers::Client& client, controllers::Informer& pods, controllers::Informer& nodes,
            controllers::EventRecorder& events, SchedulerOptions opts = {});
  ~Scheduler();
  // Registers informer handlers; call before the informers start.
  void registerHandlers();
  void start();
  void stop();
  // Leader election: an inactive scheduler keeps its cache and queue current but places nothing.
  void setActive(bool active) { queue_.setActive(active); }
  SchedulerStats stats() const;

 private:
  struct BoundPod {
    std::string node;
    PodInfo info;
  };
  void schedulingLoop();
  void scheduleOne(const std::string& key);
  void bindLoop();
  bool isUnscheduled(const Json& pod) const;
  void podChanged(const controllers::ObjectPtr& pod);
  void podDeleted(const controllers::ObjectPtr& pod);
  void nodeChanged(const controllers::ObjectPtr& node, bool deleted);
  void addBoundLocked(const std::string& key, const std::string& node, PodInfo info);
  void removeBoundLocked(const std::string& key);
  void markUnschedulable(const Json& pod, const std::string& message);
  std::string failureMessage(std::size_t nodes, const std::map<std::string, int>& reasons) const;

  controllers::Client& client_;
  controllers::Informer& pods_;
  controllers::Informer& nodes_;
  controllers::EventRecorder& events_;
  SchedulerOptions opts_;

  mutable std::mutex mu_;
  std::map<std::string, NodeInfo> nodeInfos_;
  std::unordered_map<std::string, BoundPod> bound_;  // assigned or assumed pods by key
  std::set<std::string> unschedulable_;
  std::size_t nextStart_ = 0;
  SchedulerStats stats_;

  controllers::WorkQueue queue_{std::chrono::seconds(1), std::chrono::seconds(10)};
  std::mutex bindMu_;
  std::condition_variable bindCv_;
  std::deque<std::tuple<std::string, std::string, std::string>> bindQueue_;  // key, ns/name, node
  std::atomic<bool> stopping_{false};
  std::thread loop_;
  std::vector<std::thread> binders_;
  std::vector<std::unique_ptr<FilterPlugin>> filters_;
  std::vector<std::unique_ptr<ScorePlugin>> scorers_;
  prometheus::Counter* scheduledTotal_ = nullptr;
  prometheus::Counter* unschedulableTotal_ = nullptr;
  prometheus::Counter* bindErrorsTotal_ = nullptr;
};

}  // namespace skiff::control_plane::scheduler
