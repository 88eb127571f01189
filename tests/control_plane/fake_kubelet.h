// A stand-in for kubelets in control-plane integration tests (no containers run): for every
// node it serves it renews the node's Lease in kube-node-lease and posts Ready=True status (as a
// kubelet's heartbeat), marks the pods bound to it Running+Ready, and completes their graceful
// deletions with gracePeriodSeconds=0 — as a kubelet does once the containers stopped. A node
// can be taken down (no heartbeat, pods left as they are) and brought back at any time.
// Polls every 20 ms; heartbeats every 200 ms.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/json.h"
#include "tests/control_plane/https_client.h"
#include "tests/support/process.h"

namespace skiff::test {

struct FakeKubeletOptions {
  // Nodes that get heartbeats (Lease + Ready status). Pods are handled on every node that is
  // not down, so tests without node lifecycle need not list their nodes.
  std::set<std::string> heartbeatNodes;
  std::string trackedApp = "web";  // maxActive() counts pods labelled app=<trackedApp>
};

class FakeKubelet {
 public:
  explicit FakeKubelet(HttpsClient client, FakeKubeletOptions opts = {});
  ~FakeKubelet();
  int forceDeleted() const { return forceDeleted_; }
  // Most pods labelled app=<trackedApp> without a deletionTimestamp seen in one poll since the
  // last reset.
  int maxActive() const { return maxActive_; }
  void resetMaxActive() { maxActive_ = 0; }
  // A down node's kubelet is gone: no heartbeats, its pods are neither updated nor deleted.
  void setDown(const std::string& node, bool down);

 private:
  void loop();
  void handle(const common::Json& pod);
  void heartbeat(const std::string& node);
  bool isDown(const std::string& node);

  HttpsClient client_;
  FakeKubeletOptions opts_;
  std::mutex mu_;
  std::set<std::string> down_;
  std::atomic<bool> stop_{false};
  std::atomic<int> forceDeleted_{0};
  std::atomic<int> maxActive_{0};
  std::thread thread_;
};

// Polls pred every 50 ms until it holds or the call's timeout passes.
inline const Eventually waitFor{std::chrono::seconds(10), std::chrono::milliseconds(50)};

}  // namespace skiff::test
