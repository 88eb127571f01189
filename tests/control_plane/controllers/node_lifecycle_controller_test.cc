// Node lifecycle controller, one pass at a time against FakeKubeClient and a manual clock (see
// replicaset_controller_test.cc for the style): a node whose heartbeat stops for the grace
// period becomes Unknown and its pods lose Ready; Ready=Unknown taints it unreachable; pods are
// evicted at once without a toleration and after tolerationSeconds with one.
#include "control_plane/controllers/node_lifecycle_controller.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "control_plane/apiserver/resources.h"
#include "tests/support/fake_kube_client.h"

namespace skiff::control_plane::controllers {
namespace {

using common::Json;
using namespace std::chrono_literals;

const apiserver::ResourceInfo& nodeRes() { return *apiserver::findResource("", "v1", "nodes"); }
const apiserver::ResourceInfo& podRes() { return *apiserver::findResource("", "v1", "pods"); }
const apiserver::ResourceInfo& leaseRes() {
  return *apiserver::findResource("coordination.k8s.io", "v1", "leases");
}

Json node(const std::string& ready, const Json& taints = Json::array()) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", "pi-1"}, {"uid", "uid-pi-1"}}},
          {"spec", {{"taints", taints}}},
          {"status",
           {{"conditions", Json::array({{{"type", "Ready"},
                                         {"status", ready},
                                         {"lastHeartbeatTime", "2026-12-07T00:00:00Z"}}})}}}};
}

Json pod(const std::string& name, const Json& tolerations = Json::array()) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"uid", "uid-" + name}}},
          {"spec", {{"nodeName", "pi-1"}, {"tolerations", tolerations}}},
          {"status",
           {{"phase", "Running"},
            {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
}

class NodeLifecycleControllerTest : public ::testing::Test {
 protected:
  void SetUp() override { controller.registerHandlers(); }
  void add(const apiserver::ResourceInfo& r, Informer& inf, const Json& obj) {
    test::seedInformer(client, r, inf, obj);
  }
  std::vector<test::KubeAction> writesOf(const std::string& verb, const std::string& resource) {
    std::vector<test::KubeAction> out;
    for (const auto& w : client.writes()) {
      if (w.verb == verb && w.resource == resource) out.push_back(w);
    }
    return out;
  }

  common::ManualClock clock;
  test::FakeKubeClient client;
  Informer nodes{nodeRes()};
  Informer leases{leaseRes()};
  Informer pods{podRes()};
  EventRecorder events{client, clock, "node-controller"};
  NodeLifecycleController controller{client, nodes, leases, pods, events, clock, {1h, 40s}};
};

TEST_F(NodeLifecycleControllerTest, AStaleHeartbeatMakesTheNodeUnknownAndItsPodsNotReady) {
  add(nodeRes(), nodes, node("True"));
  add(podRes(), pods, pod("web"));
  ASSERT_TRUE(controller.sync("pi-1").isOk());  // first sight counts as a heartbeat
  EXPECT_TRUE(client.writes().empty());
  clock.advance(39s);
  ASSERT_TRUE(controller.sync("pi-1").isOk());
  EXPECT_TRUE(client.writes().empty());
  clock.advance(2s);
  ASSERT_TRUE(controller.sync("pi-1").isOk());

  auto statusWrites = writesOf("update", "nodes");
  ASSERT_EQ(statusWrites.size(), 1u);
  EXPECT_EQ(statusWrites[0].subresource, "status");
  const Json& ready = statusWrites[0].body["status"]["conditions"][0];
  EXPECT_EQ(ready["status"], "Unknown");
  EXPECT_EQ(ready["reason"], "NodeStatusUnknown");
  EXPECT_EQ(ready["message"], "Kubelet stopped posting node status.");
  auto podWrites = writesOf("update", "pods");
  ASSERT_EQ(podWrites.size(), 1u);
  EXPECT_EQ(podWrites[0].body["status"]["conditions"][0]["status"], "False");
  ASSERT_EQ(writesOf("create", "events").size(), 1u);
  EXPECT_EQ(writesOf("create", "events")[0].body["reason"], "NodeNotReady");
}

TEST_F(NodeLifecycleControllerTest, ReadyUnknownTaintsTheNodeUnreachable) {
  add(nodeRes(), nodes, node("Unknown"));
  ASSERT_TRUE(controller.sync("pi-1").isOk());
  auto updates = writesOf("update", "nodes");
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].subresource, "");
  const Json& taints = updates[0].body["spec"]["taints"];
  ASSERT_EQ(taints.size(), 2u);
  EXPECT_EQ(taints[0]["key"], "node.kubernetes.io/unreachable");
  EXPECT_EQ(taints[0]["effect"], "NoSchedule");
  EXPECT_EQ(taints[1]["effect"], "NoExecute");
  EXPECT_EQ(taints[1]["timeAdded"], common::formatRfc3339(clock.now()));
}

TEST_F(NodeLifecycleControllerTest, PodsAreEvictedAtOnceOrAfterTheirTolerationSeconds) {
  Json unreachable =
      Json::array({{{"key", "node.kubernetes.io/unreachable"}, {"effect", "NoSchedule"}},
                   {{"key", "node.kubernetes.io/unreachable"},
                    {"effect", "NoExecute"},
                    {"timeAdded", common::formatRfc3339(clock.now())}}});
  add(nodeRes(), nodes, node("Unknown", unreachable));
  add(podRes(), pods, pod("intolerant"));
  add(podRes(), pods,
      pod("patient", Json::array({{{"key", "node.kubernetes.io/unreachable"},
                                   {"operator", "Exists"},
                                   {"effect", "NoExecute"},
                                   {"tolerationSeconds", 300}}})));
  add(podRes(), pods,
      pod("forever", Json::array({{{"operator", "Exists"}, {"effect", "NoExecute"}}})));
  ASSERT_TRUE(controller.sync("pi-1").isOk());
  auto deletes = writesOf("delete", "pods");
  ASSERT_EQ(deletes.size(), 1u);
  EXPECT_EQ(deletes[0].name, "intolerant");

  client.clearActions();
  pods.remove("default/intolerant");
  clock.advance(301s);
  ASSERT_TRUE(controller.sync("pi-1").isOk());
  deletes = writesOf("delete", "pods");
  ASSERT_EQ(deletes.size(), 1u);
  EXPECT_EQ(deletes[0].name, "patient");  // "forever" tolerates without seconds: it stays
}

}  // namespace
}  // namespace skiff::control_plane::controllers
