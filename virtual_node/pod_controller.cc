// Pod sync between the API and the provider.
#include "virtual_node/pod_controller.h"

#include "common/daemon.h"
#include "common/kube/objects.h"
#include "common/log.h"

namespace skiff::virtual_node {

using common::Status;
using namespace std::chrono_literals;
using common::StatusCode;
namespace res = kube::resources;

namespace {

using common::jsonField;
using PodView = skiff::kube::PodView;  // (kube:: here is the virtual node's API client)

std::string keyOf(const std::string& ns, const std::string& name) { return ns + "/" + name; }

// Status fields the provider owns (as a kubelet does); any other field (qosClass, ...) is left
// alone.
constexpr const char* kStatusFields[] = {"phase",
                                         "conditions",
                                         "containerStatuses",
                                         "initContainerStatuses",
                                         "message",
                                         "reason",
                                         "startTime",
                                         "podIP",
                                         "podIPs",
                                         "hostIP",
                                         "hostIPs"};

}  // namespace

PodController::PodController(kube::KubeClient& client, PodLifecycleHandler& provider,
                             PodNotifier& notifier,
                             std::function<bool(const std::string&)> ownsNode,
                             PodControllerOptions opts, VirtualNodeMetrics* metrics)
    : client_(client),
      provider_(provider),
      ownsNode_(std::move(ownsNode)),
      opts_(std::move(opts)),
      metrics_(metrics),
      informer_(client, res::kPods, kube::InformerOptions{.fieldSelector = opts_.fieldSelector}) {
  notifier.notifyPods(
      [this](const std::string& ns, const std::string& name) { queue_.add(keyOf(ns, name)); });
  auto enqueue = [this](const kube::ObjectPtr& p) { queue_.add(kube::objectKeyOf(*p)); };
  informer_.addHandlers(
      {enqueue, [enqueue](const kube::ObjectPtr&, const kube::ObjectPtr& n) { enqueue(n); },
       enqueue});
}

PodController::~PodController() { stop(); }

void PodController::start() {
  started_ = true;
  informer_.start();
  for (int i = 0; i < std::max(1, opts_.workers); ++i) {
    workers_.emplace_back([this] { worker(); });
  }
  resync_ = std::jthread([this](std::stop_token st) { resyncLoop(st); });
}

void PodController::stop() {
  if (!started_) return;
  started_ = false;
  if (resync_.joinable()) {
    resync_.request_stop();
    resync_.join();
  }
  queue_.shutDown();
  for (auto& t : workers_) t.join();
  workers_.clear();
  informer_.stop();
}

bool PodController::waitForSync(std::chrono::milliseconds timeout) const {
  return informer_.waitForSync(timeout);
}

kube::ObjectPtr PodController::boundPod(const std::string& ns, const std::string& name) const {
  auto pod = informer_.get(keyOf(ns, name));
  if (!pod || !ownsNode_(PodView(*pod).nodeName())) return nullptr;
  return pod;
}

void PodController::worker() {
  while (auto key = queue_.get()) {
    Status s = reconcile(*key);
    if (s.isOk()) {
      queue_.forget(*key);
      if (metrics_) metrics_->podSyncOk.Increment();
    } else {
      if (metrics_) metrics_->podSyncError.Increment();
      auto level = s.code() == StatusCode::kInvalidArgument ? common::log::Level::kInfo
                                                            : common::log::Level::kWarn;
      common::log::write(level, "pod sync failed", {{"pod", *key}, {"error", s.toString()}});
      queue_.addRateLimited(*key);
    }
    queue_.done(*key);
  }
}

void PodController::resyncLoop(std::stop_token st) {
  while (!informer_.waitForSync(std::chrono::milliseconds(200))) {
    if (st.stop_requested()) return;
  }
  do {
    if (!resync()) {
      // The provider is not synced yet: sweep again soon rather than a whole period later.
      if (!common::sleepFor(st, std::min<std::chrono::milliseconds>(opts_.resyncPeriod, 1s))) {
        return;
      }
      continue;
    }
  } while (common::sleepFor(st, opts_.resyncPeriod));
}

bool PodController::resync() {
  double bound = 0;
  for (const auto& p : informer_.list()) {
    if (!ownsNode_(PodView(*p).nodeName())) continue;
    ++bound;
    queue_.add(kube::objectKeyOf(*p));
  }
  if (metrics_) metrics_->pods.Set(bound);
  return sweepOrphans();
}

bool PodController::sweepOrphans() {
  auto pods = provider_.getPods();
  if (!pods.isOk()) {
    common::log::debug("orphan sweep skipped", {{"error", pods.status().toString()}});
    return false;
  }
  for (const auto& p : *pods) {
    std::string key = keyOf(PodView(p).ns(), PodView(p).name());
    auto live = informer_.get(key);
    if (live && PodView(*live).uid() == PodView(p).uid()) continue;
    if (live) {
      queue_.add(key);  // same name, new pod: reconcile replaces it
      continue;
    }
    common::log::info("removing orphaned pod from the provider",
                      {{"pod", key}, {"uid", PodView(p).uid()}});
    if (Status s = provider_.deletePod(p); !s.isOk()) {
      common::log::warn("removing orphan failed", {{"pod", key}, {"error", s.toString()}});
    } else if (metrics_) {
      metrics_->orphansRemoved.Increment();
    }
  }
  return true;
}

Status PodController::reconcile(const std::string& key) {
  auto [ns, name] = kube::splitKey(key);
  kube::ObjectPtr pod = informer_.get(key);
  if (pod && !ownsNode_(PodView(*pod).nodeName())) pod = nullptr;
  auto running = provider_.getPod(ns, name);
  if (!running.isOk() && running.status().code() != StatusCode::kNotFound) {
    return running.status();
  }
  if (!pod) {
    // Gone from the API (or not ours): make sure the provider does not keep running it.
    if (running.isOk()) {
      common::log::info("pod no longer exists, removing it from the provider", {{"pod", key}});
      SKIFF_RETURN_IF_ERROR(provider_.deletePod(*running));
      if (metrics_) metrics_->orphansRemoved.Increment();
    }
    return Status::ok();
  }
  if (running.isOk() && PodView(*running).uid() != PodView(*pod).uid()) {
    // A new pod took the name: the old one's containers go first.
    SKIFF_RETURN_IF_ERROR(provider_.deletePod(*running));
    running = common::notFound("replaced");
  }
  if (PodView(*pod).deleting()) return finishDeletion(*pod);

  if (!running.isOk()) {
    Status s = provider_.createPod(*pod);
    if (!s.isOk()) {
      (void)syncStatus(*pod);  // the provider's status explains the failure
      return s;
    }
    common::log::debug("pod created in provider", {{"pod", key}});
  } else if (changedForProvider(*running, *pod)) {
    Status s = provider_.updatePod(*pod);
    if (!s.isOk()) {
      (void)syncStatus(*pod);
      return s;
    }
    common::log::info("pod updated in provider", {{"pod", key}});
  }
  return syncStatus(*pod);
}

bool PodController::changedForProvider(const Json& running, const Json& pod) {
  if (jsonField(running, "spec") != jsonField(pod, "spec")) return true;
  const Json& was = jsonField(running, "metadata");
  const Json& now = jsonField(pod, "metadata");
  if (jsonField(was, "labels") != jsonField(now, "labels")) return true;
  // Annotations choose things after creation (the edge provider's logs device, target
  // selector, priority); the ones the provider owns change with every status and are not input.
  Json a =
      jsonField(was, "annotations").is_object() ? jsonField(was, "annotations") : Json::object();
  Json b =
      jsonField(now, "annotations").is_object() ? jsonField(now, "annotations") : Json::object();
  auto report = provider_.getPodStatus(PodView(pod).ns(), PodView(pod).name());
  if (report.isOk()) {
    for (const auto& [k, v] : report->annotations) {
      a.erase(k);
      b.erase(k);
    }
  }
  return a != b;
}

Status PodController::finishDeletion(const Json& pod) {
  std::string ns = PodView(pod).ns();
  std::string name = PodView(pod).name();
  SKIFF_RETURN_IF_ERROR(provider_.deletePod(pod));
  auto still = provider_.getPod(ns, name);
  if (still.isOk()) {
    // Containers are still being removed; the provider notifies when done.
    queue_.addAfter(keyOf(ns, name), opts_.deletionRecheck);
    return Status::ok();
  }
  if (still.status().code() != StatusCode::kNotFound) return still.status();
  Json opts = {{"gracePeriodSeconds", 0}, {"preconditions", {{"uid", PodView(pod).uid()}}}};
  auto r = client_.remove(res::kPods.path(ns, name), opts);
  if (!r.isOk() && r.status().code() != StatusCode::kNotFound &&
      r.status().code() != StatusCode::kConflict) {
    return r.status();
  }
  common::log::info("pod deletion completed", {{"pod", keyOf(ns, name)}});
  if (metrics_) metrics_->podDeletionsCompleted.Increment();
  return Status::ok();
}

Status PodController::syncStatus(const Json& pod) {
  std::string ns = PodView(pod).ns();
  std::string name = PodView(pod).name();
  auto report = provider_.getPodStatus(ns, name);
  if (!report.isOk()) {
    return report.status().code() == StatusCode::kNotFound ? Status::ok() : report.status();
  }
  const Json& current = jsonField(pod, "status");
  Json next = report->status;
  // Keep the times Kubernetes already shows for unchanged conditions and the start time, so a
  // restarted provider does not rewrite history.
  if (next.contains("conditions") && next["conditions"].is_array() &&
      jsonField(current, "conditions").is_array()) {
    for (auto& c : next["conditions"]) {
      for (const auto& old : current["conditions"]) {
        if (common::jsonString(old, "type") == common::jsonString(c, "type") &&
            common::jsonString(old, "status") == common::jsonString(c, "status") &&
            old.contains("lastTransitionTime")) {
          c["lastTransitionTime"] = old["lastTransitionTime"];
        }
      }
    }
  }
  if (jsonField(current, "startTime").is_string()) next["startTime"] = current["startTime"];
  // Annotations first: whoever sees the new status then also sees the summary it came with.
  Json annPatch = Json::object();
  const Json& anns = jsonField(jsonField(pod, "metadata"), "annotations");
  for (const auto& [k, v] : report->annotations) {
    const Json& have = jsonField(anns, k.c_str());
    if (!have.is_string() || have.get<std::string>() != v) annPatch[k] = v;
  }
  if (!annPatch.empty()) {
    auto r =
        client_.patch(res::kPods.path(ns, name), Json{{"metadata", {{"annotations", annPatch}}}});
    if (!r.isOk()) return r.status();
  }
  Json patch = Json::object();
  for (const char* f : kStatusFields) {
    const Json& want = jsonField(next, f);
    if (want != jsonField(current, f)) patch[f] = want;  // null removes
  }
  if (!patch.empty()) {
    auto r = client_.patch(res::kPods.path(ns, name, "status"), Json{{"status", patch}});
    if (!r.isOk()) return r.status();
    if (metrics_) metrics_->podStatusPatches.Increment();
  }
  return Status::ok();
}

void PodController::onNodeRemoved(const std::string& node) {
  for (const auto& p : informer_.list()) {
    if (PodView(*p).nodeName() != node) continue;
    std::string ns = PodView(*p).ns();
    std::string name = PodView(*p).name();
    if (Status s = provider_.deletePod(*p); !s.isOk()) {
      common::log::warn("removing pod of a removed node from the provider failed",
                        {{"pod", keyOf(ns, name)}, {"error", s.toString()}});
    }
    Json opts = {{"gracePeriodSeconds", 0}, {"preconditions", {{"uid", PodView(*p).uid()}}}};
    auto r = client_.remove(res::kPods.path(ns, name), opts);
    if (!r.isOk() && r.status().code() != StatusCode::kNotFound) {
      common::log::warn("deleting pod of a removed node failed",
                        {{"pod", keyOf(ns, name)}, {"error", r.status().toString()}});
    } else {
      common::log::info("deleted pod of a removed node",
                        {{"pod", keyOf(ns, name)}, {"node", node}});
    }
  }
}

}  // namespace skiff::virtual_node
