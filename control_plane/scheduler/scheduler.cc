// Scheduler implementation (see scheduler.h).
#include "control_plane/scheduler/scheduler.h"

#include <algorithm>
#include <random>

#include "common/log.h"
#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::scheduler {

using controllers::ObjectPtr;

Scheduler::Scheduler(controllers::Client& client, controllers::Informer& pods,
                     controllers::Informer& nodes, controllers::EventRecorder& events,
                     SchedulerOptions opts)
    : client_(client), pods_(pods), nodes_(nodes), events_(events), opts_(std::move(opts)) {
  for (const auto& n : defaultFilterPlugins()) filters_.push_back(makeFilterPlugin(n));
  for (const auto& n : defaultScorePlugins()) scorers_.push_back(makeScorePlugin(n));
  if (opts_.metrics) {
    auto counter = [&](const char* name, const char* help) {
      return &prometheus::BuildCounter().Name(name).Help(help).Register(*opts_.metrics).Add({});
    };
    scheduledTotal_ = counter("skiff_scheduler_scheduled_total", "Pods placed on a node");
    unschedulableTotal_ =
        counter("skiff_scheduler_unschedulable_total", "Scheduling attempts that found no node");
    bindErrorsTotal_ = counter("skiff_scheduler_bind_errors_total", "Failed pods/binding calls");
  }
}

Scheduler::~Scheduler() { stop(); }

bool Scheduler::isUnscheduled(const Json& pod) const {
  const Json spec = pod.value("spec", Json::object());
  if (!common::jsonString(spec, "nodeName").empty()) return false;
  if (!apiserver::metaString(pod, "deletionTimestamp").empty()) return false;
  std::string phase = common::jsonString(common::jsonField(pod, "status"), "phase");
  if (phase == "Succeeded" || phase == "Failed") return false;
  return spec.value("schedulerName", "default-scheduler") == opts_.schedulerName;
}

void Scheduler::registerHandlers() {
  pods_.addHandlers({[this](const ObjectPtr& p) { podChanged(p); },
                     [this](const ObjectPtr& oldPod, const ObjectPtr& p) {
                       // A changed spec (e.g. a new toleration) may fit now: retry at once.
                       if (oldPod->value("spec", Json()) != p->value("spec", Json()) ||
                           oldPod->value("metadata", Json::object()).value("labels", Json()) !=
                               p->value("metadata", Json::object()).value("labels", Json())) {
                         std::lock_guard lock(mu_);
                         unschedulable_.erase(controllers::objectKeyOf(*p));
                       }
                       podChanged(p);
                     },
                     [this](const ObjectPtr& p) { podDeleted(p); }});
  nodes_.addHandlers({[this](const ObjectPtr& n) { nodeChanged(n, false); },
                      [this](const ObjectPtr&, const ObjectPtr& n) { nodeChanged(n, false); },
                      [this](const ObjectPtr& n) { nodeChanged(n, true); }});
}

void Scheduler::addBoundLocked(const std::string& key, const std::string& node, PodInfo info) {
  removeBoundLocked(key);
  auto it = nodeInfos_.find(node);
  if (it != nodeInfos_.end()) it->second.addPod(info);
  bound_[key] = BoundPod{node, std::move(info)};
}

void Scheduler::removeBoundLocked(const std::string& key) {
  auto it = bound_.find(key);
  if (it == bound_.end()) return;
  auto n = nodeInfos_.find(it->second.node);
  if (n != nodeInfos_.end()) n->second.removePod(it->second.info);
  bound_.erase(it);
}

void Scheduler::podChanged(const ObjectPtr& pod) {
  std::string key = controllers::objectKeyOf(*pod);
  std::string node = common::jsonString(common::jsonField(*pod, "spec"), "nodeName");
  std::string phase = common::jsonString(common::jsonField(*pod, "status"), "phase");
  if (!node.empty()) {
    std::lock_guard lock(mu_);
    unschedulable_.erase(key);
    if (phase == "Succeeded" || phase == "Failed") {
      removeBoundLocked(key);  // terminal pods free their resources
      return;
    }
    auto it = bound_.find(key);
    if (it == bound_.end() || it->second.node != node) {
      auto info = PodInfo::fromPod(*pod);
      if (info.isOk()) addBoundLocked(key, node, std::move(*info));
    }
    return;
  }
  if (isUnscheduled(*pod)) {
    {
      std::lock_guard lock(mu_);
      // An assumed pod whose binding is in flight: wait for its informer update.
      if (bound_.contains(key)) return;
      if (unschedulable_.contains(key)) return;  // retried on node changes
    }
    queue_.add(key);
  }
}

void Scheduler::podDeleted(const ObjectPtr& pod) {
  std::string key = controllers::objectKeyOf(*pod);
  std::lock_guard lock(mu_);
  removeBoundLocked(key);
  unschedulable_.erase(key);
}

void Scheduler::nodeChanged(const ObjectPtr& node, bool deleted) {
  std::string name = apiserver::metaString(*node, "name");
  std::vector<std::string> retry;
  {
    std::lock_guard lock(mu_);
    if (deleted) {
      nodeInfos_.erase(name);
    } else {
      auto info = NodeInfo::fromNode(*node);
      if (!info.isOk()) {
        common::log::warn("scheduler: ignoring node with bad status",
                          {{"node", name}, {"error", info.status().toString()}});
        nodeInfos_.erase(name);
      } else {
        auto old = nodeInfos_.find(name);
        if (old != nodeInfos_.end()) {
          info->requested = old->second.requested;
          info->nonZeroRequested = old->second.nonZeroRequested;
          info->podLabels = std::move(old->second.podLabels);
          info->groupCounts = std::move(old->second.groupCounts);
        } else {
          for (const auto& [k, b] : bound_) {
            if (b.node == name) info->addPod(b.info);
          }
        }
        nodeInfos_[name] = std::move(*info);
      }
    }
    retry.assign(unschedulable_.begin(), unschedulable_.end());
    unschedulable_.clear();
  }
  for (const auto& k : retry) queue_.add(k);
}

void Scheduler::start() {
  loop_ = std::thread([this] { schedulingLoop(); });
  for (int i = 0; i < opts_.bindWorkers; ++i) binders_.emplace_back([this] { bindLoop(); });
}

void Scheduler::stop() {
  if (stopping_.exchange(true)) return;
  queue_.shutDown();
  bindCv_.notify_all();
  if (loop_.joinable()) loop_.join();
  for (auto& t : binders_) {
    if (t.joinable()) t.join();
  }
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Scheduler::schedulingLoop() {
  while (auto key = queue_.get()) {
    scheduleOne(*key);
    queue_.done(*key);
  }
}

std::string Scheduler::failureMessage(std::size_t nodes,
                                      const std::map<std::string, int>& reasons) const {
  std::vector<std::string> parts;
  for (const auto& [reason, count] : reasons) parts.push_back(std::to_string(count) + " " + reason);
  std::sort(parts.begin(), parts.end());
  std::string msg = "0/" + std::to_string(nodes) + " nodes are available";
  if (!parts.empty()) {
    msg += ": ";
    for (std::size_t i = 0; i < parts.size(); ++i) msg += (i ? ", " : "") + parts[i];
  }
  msg += ". preemption: 0/" + std::to_string(nodes) +
         " nodes are available: " + std::to_string(nodes) +
         " Preemption is not helpful for scheduling.";
  return msg;
}

void Scheduler::scheduleOne(const std::string& key) {
  ObjectPtr pod = pods_.get(key);
  if (!pod || !isUnscheduled(*pod)) return;
  auto info = PodInfo::fromPod(*pod);
  if (!info.isOk()) {
    markUnschedulable(*pod, "invalid pod: " + info.status().message());
    return;
  }
  std::string chosen;
  std::map<std::string, int> reasons;
  std::size_t total = 0;
  {
    std::lock_guard lock(mu_);
    if (bound_.contains(key)) return;
    std::vector<const NodeInfo*> all;
    all.reserve(nodeInfos_.size());
    for (const auto& [n, ni] : nodeInfos_) all.push_back(&ni);
    total = all.size();
    CycleState state;
    state.allNodes = &all;
    prepareCycle(state, *info);
    // How many feasible nodes are enough (kube-scheduler's adaptive percentageOfNodesToScore).
    std::size_t want = total;
    if (total > 100) {
      int pct = opts_.percentageOfNodesToScore > 0
                    ? opts_.percentageOfNodesToScore
                    : std::max(5, 50 - static_cast<int>(total / 125));
      want = std::max<std::size_t>(100, total * static_cast<std::size_t>(pct) / 100);
    }
    std::vector<const NodeInfo*> feasible;
    std::size_t start = total ? nextStart_ % total : 0;
    std::size_t visited = 0;
    for (; visited < total && feasible.size() < want; ++visited) {
      const NodeInfo* n = all[(start + visited) % total];
      bool ok = true;
      for (const auto& f : filters_) {
        FilterResult r = f->filter(state, *info, *n);
        if (!r.ok()) {
          ++reasons[r.reason];
          ok = false;
          break;
        }
      }
      if (ok) feasible.push_back(n);
    }
    nextStart_ = start + visited;
    if (!feasible.empty()) {
      std::vector<long long> totals(feasible.size(), 0);
      std::vector<int> raw(feasible.size());
      for (const auto& s : scorers_) {
        for (std::size_t i = 0; i < feasible.size(); ++i)
          raw[i] = s->score(state, *info, *feasible[i]);
        s->normalize(raw);
        for (std::size_t i = 0; i < feasible.size(); ++i) totals[i] += raw[i] * s->weight();
      }
      // Highest score; ties broken at random so equal nodes share the load.
      static thread_local std::mt19937 rng{std::random_device{}()};
      long long best = *std::max_element(totals.begin(), totals.end());
      std::vector<std::size_t> ties;
      for (std::size_t i = 0; i < totals.size(); ++i) {
        if (totals[i] == best) ties.push_back(i);
      }
      chosen = feasible[ties[rng() % ties.size()]]->name;
      addBoundLocked(key, chosen, *info);  // assume
      ++stats_.scheduled;
      if (scheduledTotal_) scheduledTotal_->Increment();
    } else {
      ++stats_.unschedulable;
      if (unschedulableTotal_) unschedulableTotal_->Increment();
      unschedulable_.insert(key);
    }
  }
  if (chosen.empty()) {
    markUnschedulable(*pod, failureMessage(total, reasons));
    queue_.addAfter(key, opts_.unschedulableRetry);
    return;
  }
  {
    std::lock_guard lock(bindMu_);
    bindQueue_.emplace_back(key, key, chosen);
  }
  bindCv_.notify_one();
}

void Scheduler::bindLoop() {
  for (;;) {
    std::tuple<std::string, std::string, std::string> job;
    {
      std::unique_lock lock(bindMu_);
      bindCv_.wait(lock, [this] { return stopping_ || !bindQueue_.empty(); });
      if (bindQueue_.empty()) return;
      job = std::move(bindQueue_.front());
      bindQueue_.pop_front();
    }
    auto& [key, nsName, node] = job;
    auto [ns, name] = controllers::splitKey(nsName);
    common::Status s = client_.bind(ns, name, node);
    if (!s.isOk()) {
      {
        std::lock_guard lock(mu_);
        removeBoundLocked(key);  // forget the assumption
        ++stats_.bindErrors;
        if (bindErrorsTotal_) bindErrorsTotal_->Increment();
      }
      if (s.code() != common::StatusCode::kNotFound) {
        common::log::warn("scheduler: binding failed",
                          {{"pod", key}, {"node", node}, {"error", s.toString()}});
        queue_.addRateLimited(key);
      }
    } else {
      queue_.forget(key);
      ObjectPtr pod = pods_.get(key);
      if (pod) {
        events_.record(*pod, "Normal", "Scheduled", "Successfully assigned " + key + " to " + node);
      }
    }
  }
}

void Scheduler::markUnschedulable(const Json& pod, const std::string& message) {
  const auto* pods = apiserver::findResource("", "v1", "pods");
  std::string ns = apiserver::metaString(pod, "namespace");
  std::string name = apiserver::metaString(pod, "name");
  // Only write when the condition changes, so retries don't churn the pod.
  const Json conds = pod.value("status", Json::object()).value("conditions", Json::array());
  bool same = false;
  for (const auto& c : conds) {
    if (common::jsonString(c, "type") == "PodScheduled" &&
        common::jsonString(c, "status") == "False" && common::jsonString(c, "message") == message) {
      same = true;
    }
  }
  if (!same) {
    Json patch = {{"status",
                   {{"conditions",
                     Json::array({{{"type", "PodScheduled"},
                                   {"status", "False"},
                                   {"reason", "Unschedulable"},
                                   {"message", message},
                                   {"lastProbeTime", nullptr},
                                   {"lastTransitionTime",
                                    common::formatRfc3339(std::chrono::system_clock::now())}}})}}}};
    auto r =
        client_.patch(*pods, ns, name, patch, "application/strategic-merge-patch+json", "status");
    if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) {
      common::log::warn("scheduler: status update failed",
                        {{"pod", ns + "/" + name}, {"error", r.status().toString()}});
    }
  }
  events_.record(pod, "Warning", "FailedScheduling", message);
}

}  // namespace skiff::control_plane::scheduler
