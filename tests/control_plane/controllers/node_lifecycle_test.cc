// Node lifecycle inside the real skiff-control-plane with short periods (monitor 200 ms, grace
// 2 s, default unreachable toleration 3 s), observed with the real kubectl. A FakeKubelet
// heartbeats node-a and node-b (Lease renewals + Ready status) and runs their pods; taking
// node-b's kubelet down must make node-b NotReady (Ready=Unknown), taint it
// unreachable:NoSchedule+NoExecute, mark its pods not Ready, and evict the Deployment's pods
// there only after their 3 s toleration (the ReplicaSet recreates them on node-a), while a pod
// tolerating the taint forever stays. Bringing the kubelet back makes the node Ready and
// removes the taints.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iostream>

#include "common/clock.h"
#include "common/fs.h"
#include "common/json.h"
#include "tests/control_plane/control_plane_process.h"
#include "tests/control_plane/fake_kubelet.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

std::string nodeYaml(const std::string& name) {
  return "apiVersion: v1\nkind: Node\nmetadata:\n  name: " + name +
         "\n  labels:\n    kubernetes.io/hostname: " + name + R"(
status:
  conditions:
  - type: Ready
    status: "True"
  allocatable:
    cpu: "4"
    memory: 8Gi
    pods: "110"
)";
}

Json taintsOf(const Json& node) {
  if (!node.is_object() || !node.contains("spec") || !node["spec"].is_object()) {
    return Json::array();
  }
  return node["spec"].value("taints", Json::array());
}

constexpr const char* kWeb = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: ScheduleAnyway
        labelSelector:
          matchLabels:
            app: web
      containers:
      - name: web
        image: nginx:1.25
)";

constexpr const char* kPinned = R"(apiVersion: v1
kind: Pod
metadata:
  name: pinned
spec:
  nodeName: node-b
  tolerations:
  - key: node.kubernetes.io/unreachable
    operator: Exists
    effect: NoExecute
  containers:
  - name: agent
    image: busybox
)";

class NodeLifecycleTest : public ControlPlaneKubectlTest {
 protected:
  std::vector<std::string> extraArgs() const override {
    return {"--node-monitor-period=200ms", "--node-monitor-grace-period=2s",
            "--default-unreachable-toleration-seconds=3",
            "--default-not-ready-toleration-seconds=3"};
  }

  void SetUp() override {
    ControlPlaneKubectlTest::SetUp();
    if (HasFatalFailure()) return;
    SKIFF_ASSERT_OK(kubectl_->ok(
        {"apply", "-f", file("nodes.yaml", nodeYaml("node-a") + "---\n" + nodeYaml("node-b"))}));
    FakeKubeletOptions ko;
    ko.heartbeatNodes = {"node-a", "node-b"};
    kubelet_.emplace(cp_->adminClient(), ko);
  }

  void TearDown() override {
    kubelet_.reset();
    ControlPlaneKubectlTest::TearDown();
  }

  // STATUS column of `kubectl get node <name>`.
  std::string nodeStatus(const std::string& name) {
    auto out = kubectl_->ok({"get", "node", name});
    if (!out.isOk()) return "";
    auto t = parseKubectlTable(*out);
    return t.rows.empty() ? "" : t.rows[0]["STATUS"];
  }

  std::optional<FakeKubelet> kubelet_;
};

TEST_F(NodeLifecycleTest, UnreachableNodeIsTaintedAndItsPodsEvictedAfterToleration) {
  SKIFF_ASSERT_OK(kubectl_->ok({"apply", "-f", file("web.yaml", kWeb)}));
  SKIFF_ASSERT_OK(kubectl_->ok({"apply", "-f", file("pinned.yaml", kPinned)}));
  SKIFF_ASSERT_OK(kubectl_->ok({"rollout", "status", "deploy/web", "--timeout=60s"}, 65s));
  // The heartbeats keep both nodes Ready well past the grace period.
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(nodeStatus("node-a"), "Ready");
  EXPECT_EQ(nodeStatus("node-b"), "Ready");
  Json pods = getJson({"get", "pods", "-l", "app=web"});
  std::set<std::string> onB;
  for (const auto& p : pods["items"]) {
    if (p["spec"].value("nodeName", "") == "node-b") onB.insert(p["metadata"].value("name", ""));
    // DefaultTolerationSeconds applied the flag's value.
    bool found = false;
    for (const auto& t : p["spec"]["tolerations"]) {
      if (t.value("key", "") == "node.kubernetes.io/unreachable") {
        EXPECT_EQ(t.value("tolerationSeconds", 0), 3);
        found = true;
      }
    }
    EXPECT_TRUE(found);
  }
  ASSERT_EQ(onB.size(), 2u) << pods.dump();

  kubelet_->setDown("node-b", true);
  auto downAt = std::chrono::steady_clock::now();
  ASSERT_TRUE(waitFor([&] { return nodeStatus("node-b") == "NotReady"; }, 10s));
  auto notReadyAfter = std::chrono::steady_clock::now() - downAt;
  std::cout << "node-b NotReady after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(notReadyAfter).count()
            << " ms (grace 2 s)\n";
  // The last heartbeat may have been up to 200 ms before the kubelet went down.
  EXPECT_GE(notReadyAfter, 1750ms);

  Json node = getJson({"get", "node", "node-b"});
  for (const auto& c : node["status"]["conditions"]) {
    if (c.value("type", "") == "Ready") {
      EXPECT_EQ(c.value("status", ""), "Unknown");
      EXPECT_EQ(c.value("reason", ""), "NodeStatusUnknown");
      EXPECT_EQ(c.value("message", ""), "Kubelet stopped posting node status.");
    }
  }
  std::string timeAdded;
  ASSERT_TRUE(waitFor(
      [&] {
        node = getJson({"get", "node", "node-b"});
        bool noSchedule = false;
        for (const auto& t : taintsOf(node)) {
          if (t.value("key", "") != "node.kubernetes.io/unreachable") continue;
          if (t.value("effect", "") == "NoSchedule") noSchedule = true;
          if (t.value("effect", "") == "NoExecute") timeAdded = t.value("timeAdded", "");
        }
        return noSchedule && !timeAdded.empty();
      },
      5s))
      << node.dump();
  EXPECT_EQ(taintsOf(getJson({"get", "node", "node-a"})).size(), 0u);

  // Pods on node-b lose Ready at once; they are evicted 3 s after the taint, not before.
  ASSERT_TRUE(waitFor(
      [&] {
        Json p = getJson({"get", "pod", *onB.begin()});
        for (const auto& c : p["status"].value("conditions", Json::array())) {
          if (c.value("type", "") == "Ready") return c.value("status", "") == "False";
        }
        return false;
      },
      5s));
  ASSERT_TRUE(waitFor(
      [&] {
        Json list = getJson({"get", "pods", "-l", "app=web"});
        int evicted = 0;
        for (const auto& p : list["items"]) {
          if (onB.contains(p["metadata"].value("name", "")) &&
              p["metadata"].contains("deletionTimestamp")) {
            ++evicted;
          }
        }
        return evicted == 2;
      },
      15s));
  auto tainted = common::parseRfc3339(timeAdded);
  ASSERT_TRUE(tainted.has_value());
  for (const auto& name : onB) {
    Json p = getJson({"get", "pod", name});
    auto deleted = common::parseRfc3339(p["metadata"].value("deletionTimestamp", ""));
    ASSERT_TRUE(deleted.has_value());
    // deletionTimestamp = eviction time + the pod's grace period (30 s); whole seconds.
    auto evictedAt = *deleted - 30s;
    EXPECT_GE(evictedAt - *tainted, 2s) << "evicted before tolerationSeconds elapsed";
  }
  // Replacements run on node-a; the rollout is complete again.
  SKIFF_EXPECT_OK(kubectl_->ok({"rollout", "status", "deploy/web", "--timeout=30s"}, 35s));
  Json list = getJson({"get", "pods", "-l", "app=web"});
  int activeOnA = 0;
  for (const auto& p : list["items"]) {
    if (!p["metadata"].contains("deletionTimestamp")) {
      EXPECT_EQ(p["spec"].value("nodeName", ""), "node-a");
      ++activeOnA;
    }
  }
  EXPECT_EQ(activeOnA, 4);
  // The pod tolerating the taint forever stays.
  Json pinned = getJson({"get", "pod", "pinned"});
  EXPECT_FALSE(pinned["metadata"].contains("deletionTimestamp"));
  auto events = kubectl_->ok({"get", "events", "--field-selector", "reason=TaintManagerEviction"});
  ASSERT_TRUE(events.isOk());
  for (const auto& name : onB) {
    EXPECT_NE(events->find("Marking for deletion Pod default/" + name), std::string::npos)
        << *events;
  }
  auto nodeEvents = kubectl_->ok({"get", "events", "--field-selector", "reason=NodeNotReady"});
  ASSERT_TRUE(nodeEvents.isOk());
  EXPECT_NE(nodeEvents->find("Node node-b status is now: NodeNotReady"), std::string::npos);

  // The kubelet comes back: Ready again, taints gone, the terminating pods finish.
  kubelet_->setDown("node-b", false);
  ASSERT_TRUE(waitFor([&] { return nodeStatus("node-b") == "Ready"; }, 10s));
  ASSERT_TRUE(waitFor([&] { return taintsOf(getJson({"get", "node", "node-b"})).empty(); }, 5s));
  EXPECT_TRUE(waitFor(
      [&] {
        return getJson({"get", "pods", "-l", "app=web"})["items"].size() == 4;
      },
      10s));
}

TEST_F(NodeLifecycleTest, BadDurationFlagsAreRejected) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--node-monitor-grace-period", "forty"},
           {"--node-monitor-period", "-1s"},
           {"--leader-elect-lease-duration", "0s"},
           {"--node-monitor-period", "5s", "--node-monitor-grace-period", "2s"},
           {"--leader-elect-renew-deadline", "20s"},
           {"--default-unreachable-toleration-seconds", "-3"}}) {
    std::vector<std::string> argv = {SKIFF_CONTROL_PLANE_BIN, "--data-dir", dir_->file("bad")};
    argv.insert(argv.end(), args.begin(), args.end());
    SKIFF_ASSERT_OK_AND_ASSIGN(auto r, runCommand(argv, {}, 10s));
    EXPECT_EQ(r.exitCode, 2) << args[0] << ": " << r.output;
    EXPECT_NE(r.output.find(args[args.size() - 2]), std::string::npos) << r.output;
  }
}

}  // namespace
}  // namespace skiff::test
