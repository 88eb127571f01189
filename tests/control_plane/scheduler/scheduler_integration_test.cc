// The scheduler inside the real skiff-control-plane (scheduler and controllers enabled), driven by
// the real kubectl: five registered Nodes (one tainted dedicated=gpu:NoSchedule, one cordoned, one
// labelled zone=b); a Deployment spreads over the feasible nodes only; nodeSelector/toleration
// pods land where Kubernetes would put them; an impossible pod stays Pending with
// kube-scheduler's exact message (condition and FailedScheduling Event) and is scheduled once a
// node change makes it feasible. No kubelet runs: pods stay Pending after binding, which is all
// the scheduler needs.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "common/fs.h"
#include "common/json.h"
#include "tests/control_plane/control_plane_process.h"
#include "tests/control_plane/fake_kubelet.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

std::string nodeYaml(const std::string& name, const std::string& extraLabels,
                     const std::string& spec) {
  return "apiVersion: v1\nkind: Node\nmetadata:\n  name: " + name +
         "\n  labels:\n    kubernetes.io/hostname: " + name + "\n" + extraLabels + spec +
         R"(status:
  conditions:
  - type: Ready
    status: "True"
    reason: KubeletReady
    message: kubelet is posting ready status
  capacity:
    cpu: "4"
    memory: 8Gi
    pods: "110"
  allocatable:
    cpu: "4"
    memory: 8Gi
    pods: "110"
)";
}

class SchedulerIntegrationTest : public ControlPlaneKubectlTest {
 protected:
  std::string nodeOf(const std::string& pod) {
    Json p = getJson({"get", "pod", pod});
    if (!p.is_object()) return "";
    return p["spec"].value("nodeName", "");
  }

  void registerNodes() {
    std::string all = nodeYaml("node-1", "", "") + "---\n" +
                      nodeYaml("node-2", "    zone: b\n", "") + "---\n" +
                      nodeYaml("node-3", "    accelerator: gpu\n",
                               "spec:\n  taints:\n  - key: dedicated\n    value: gpu\n"
                               "    effect: NoSchedule\n") +
                      "---\n" + nodeYaml("node-4", "", "") + "---\n" + nodeYaml("node-5", "", "");
    SKIFF_ASSERT_OK(kubectl_->ok({"apply", "-f", file("nodes.yaml", all)}));
    SKIFF_ASSERT_OK(kubectl_->ok({"cordon", "node-4"}));
  }
};

constexpr const char* kDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 6
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
)";

constexpr const char* kPods = R"(apiVersion: v1
kind: Pod
metadata:
  name: in-zone-b
spec:
  nodeSelector:
    zone: b
  containers:
  - name: c
    image: busybox
---
apiVersion: v1
kind: Pod
metadata:
  name: on-gpu
spec:
  nodeSelector:
    accelerator: gpu
  tolerations:
  - key: dedicated
    operator: Equal
    value: gpu
    effect: NoSchedule
  containers:
  - name: c
    image: busybox
---
apiVersion: v1
kind: Pod
metadata:
  name: impossible
spec:
  nodeSelector:
    nope: nope
  containers:
  - name: c
    image: busybox
)";

// Filters in order NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, ...; the first
// failing filter names each node's reason: node-4 cordoned, node-3 untolerated taint (checked
// before affinity), node-1/2/5 affinity. Parts sorted as strings, as kube-scheduler does.
constexpr const char* kImpossibleMessage =
    "0/5 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were "
    "unschedulable, 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/5 nodes "
    "are available: 5 Preemption is not helpful for scheduling.";

TEST_F(SchedulerIntegrationTest, PlacesPodsWhereKubernetesWould) {
  registerNodes();
  ASSERT_FALSE(HasFailure());
  SKIFF_ASSERT_OK(kubectl_->ok({"apply", "-f", file("deploy.yaml", kDeployment)}));
  SKIFF_ASSERT_OK(kubectl_->ok({"apply", "-f", file("pods.yaml", kPods)}));

  // The Deployment: 6 pods, bound only to feasible nodes, every feasible node used.
  std::map<std::string, int> perNode;
  bool bound = waitFor(
      [&] {
        perNode.clear();
        Json pods = getJson({"get", "pods", "-l", "app=web"});
        if (!pods.is_object() || pods["items"].size() != 6) return false;
        for (const auto& p : pods["items"]) {
          std::string n = p["spec"].value("nodeName", "");
          if (n.empty()) return false;
          ++perNode[n];
        }
        return true;
      },
      15s);
  ASSERT_TRUE(bound) << kubectl_->ok({"get", "pods", "-o", "wide"}).valueOr("");
  EXPECT_EQ(perNode.count("node-3"), 0u) << "pod on the tainted node";
  EXPECT_EQ(perNode.count("node-4"), 0u) << "pod on the cordoned node";
  for (const char* n : {"node-1", "node-2", "node-5"}) {
    EXPECT_GE(perNode[n], 1) << n << " got no pod";
  }

  EXPECT_TRUE(waitFor([&] { return nodeOf("in-zone-b") == "node-2"; }, 10s))
      << "in-zone-b on '" << nodeOf("in-zone-b") << "'";
  EXPECT_TRUE(waitFor([&] { return nodeOf("on-gpu") == "node-3"; }, 10s))
      << "on-gpu on '" << nodeOf("on-gpu") << "'";

  // The impossible pod: Pending, PodScheduled=False with the exact message, and an Event.
  std::string condMessage;
  ASSERT_TRUE(waitFor(
      [&] {
        Json p = getJson({"get", "pod", "impossible"});
        if (!p.is_object() || !p["status"].contains("conditions")) return false;
        for (const auto& c : p["status"]["conditions"]) {
          if (c.value("type", "") == "PodScheduled" && c.value("status", "") == "False" &&
              c.value("reason", "") == "Unschedulable") {
            condMessage = c.value("message", "");
            return true;
          }
        }
        return false;
      },
      10s));
  EXPECT_EQ(condMessage, kImpossibleMessage);
  EXPECT_EQ(nodeOf("impossible"), "");
  Json ev;
  ASSERT_TRUE(waitFor(
      [&] {
        Json evs = getJson({"get", "events", "--field-selector",
                            "involvedObject.name=impossible,reason=FailedScheduling"});
        if (!evs.is_object() || evs["items"].empty()) return false;
        ev = evs["items"][0];
        return true;
      },
      10s));
  EXPECT_EQ(ev.value("message", ""), kImpossibleMessage);
  EXPECT_EQ(ev.value("type", ""), "Warning");
  auto events = kubectl_->ok({"get", "events"});
  ASSERT_TRUE(events.isOk());
  EXPECT_NE(events->find(kImpossibleMessage), std::string::npos) << *events;
  auto describe = kubectl_->ok({"describe", "pod", "impossible"});
  ASSERT_TRUE(describe.isOk());
  EXPECT_NE(squeezeSpaces(*describe).find("\nStatus: Pending\n"), std::string::npos) << *describe;
  EXPECT_NE(describe->find("FailedScheduling"), std::string::npos) << *describe;
  EXPECT_NE(describe->find(kImpossibleMessage), std::string::npos) << *describe;

  // A node change makes it feasible: retried and bound there.
  SKIFF_ASSERT_OK(kubectl_->ok({"label", "node", "node-5", "nope=nope"}));
  EXPECT_TRUE(waitFor([&] { return nodeOf("impossible") == "node-5"; }, 10s))
      << "impossible on '" << nodeOf("impossible") << "'";

  // Cordon stops new placements: with node-1 and node-5 also cordoned, a new pod goes to node-2.
  SKIFF_ASSERT_OK(kubectl_->ok({"cordon", "node-1"}));
  SKIFF_ASSERT_OK(kubectl_->ok({"cordon", "node-5"}));
  SKIFF_ASSERT_OK(kubectl_->ok({"run", "late", "--image=busybox"}));
  EXPECT_TRUE(waitFor([&] { return nodeOf("late") == "node-2"; }, 10s))
      << "late on '" << nodeOf("late") << "'";
}

}  // namespace
}  // namespace skiff::test
