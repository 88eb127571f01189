// PodController: syncs the pods bound to this virtual node's nodes with the provider, as
// virtual-kubelet's pod controller does — level-triggered (docs/conventions.md #5): a pod informer
// and provider notifications only enqueue "namespace/name" keys; workers reconcile(key):
// - a live pod the provider does not run → createPod; one whose spec changed (image) → updatePod;
//   then the provider's status and annotations are written when they differ (pods/status);
// - a pod with a deletionTimestamp → deletePod, and only once the provider reports it gone
//   (every container removed) the API deletion is completed with gracePeriodSeconds=0;
// - a pod that vanished from the API while the provider still runs it (force deletion, or
//   while the virtual node was down) → deletePod (orphan).
// A full resync and an orphan sweep over provider.getPods() run at start and every resyncPeriod.
// Failures re-queue with exponential backoff. Nothing is kept that cannot be derived from the
// API and the provider, so a restart resumes exactly where it stopped.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/work_queue.h"
#include "virtual_node/kube/informer.h"
#include "virtual_node/metrics.h"
#include "virtual_node/provider.h"

namespace skiff::virtual_node {

struct PodControllerOptions {
  // Which pods to watch: "spec.nodeName=<node>" for one node, "spec.nodeName!=" for many (then
  // ownsNode filters).
  std::string fieldSelector;
  int workers = 4;
  std::chrono::milliseconds resyncPeriod{60000};
  // While a deleted pod's containers are still being removed, re-check this often in addition
  // to the provider's notifications.
  std::chrono::milliseconds deletionRecheck{5000};
};

class PodController {
 public:
  PodController(kube::KubeClient& client, PodLifecycleHandler& provider, PodNotifier& notifier,
                std::function<bool(const std::string& node)> ownsNode, PodControllerOptions opts,
                VirtualNodeMetrics* metrics = nullptr);
  ~PodController();

  void start();
  void stop();
  bool waitForSync(std::chrono::milliseconds timeout) const;

  // The pod from the cache if it is bound to one of this virtual node's nodes.
  kube::ObjectPtr boundPod(const std::string& ns, const std::string& name) const;
  // Pods bound to a node the provider no longer backs (device removed): removes them from the
  // provider and deletes them from the API at once (nothing can confirm their removal any more).
  void onNodeRemoved(const std::string& node);
  // Enqueues every cached pod (resync) and sweeps orphans; false if the sweep has to be
  // retried because the provider has not synced yet. Exposed for tests.
  bool resync();

 private:
  common::Status reconcile(const std::string& key);
  common::Status syncStatus(const Json& pod);
  // Whether the provider must see `pod` again: its spec, labels or annotations differ from what
  // the provider runs (as virtual-kubelet's podsEqual), ignoring the annotations the provider
  // writes itself (its status summary).
  bool changedForProvider(const Json& running, const Json& pod);
  common::Status finishDeletion(const Json& pod);
  void worker();
  void resyncLoop(std::stop_token st);
  // False when the provider could not list its pods yet (not synced): try again soon.
  bool sweepOrphans();

  kube::KubeClient& client_;
  PodLifecycleHandler& provider_;
  std::function<bool(const std::string&)> ownsNode_;
  PodControllerOptions opts_;
  VirtualNodeMetrics* metrics_;
  kube::Informer informer_;
  common::WorkQueue queue_{std::chrono::milliseconds(200), std::chrono::seconds(60)};
  std::vector<std::thread> workers_;
  std::jthread resync_;
  bool started_ = false;
};

}  // namespace skiff::virtual_node
