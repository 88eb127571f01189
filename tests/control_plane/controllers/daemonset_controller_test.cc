// DaemonSet controller, one reconcile pass at a time against FakeKubeClient (see
// replicaset_controller_test.cc for the style): one pod per eligible node, pinned to it by
// node affinity as Kubernetes does, misscheduled and orphaned pods removed, rolling updates
// within maxUnavailable.
#include "control_plane/controllers/daemonset_controller.h"

#include <gtest/gtest.h>

#include <set>

#include "common/kube/objects.h"
#include "control_plane/apiserver/resources.h"
#include "control_plane/controllers/deployment_controller.h"
#include "tests/support/fake_kube_client.h"

namespace skiff::control_plane::controllers {
namespace {

using common::Json;

const apiserver::ResourceInfo& dsRes() {
  return *apiserver::findResource("apps", "v1", "daemonsets");
}
const apiserver::ResourceInfo& podRes() { return *apiserver::findResource("", "v1", "pods"); }
const apiserver::ResourceInfo& nodeRes() { return *apiserver::findResource("", "v1", "nodes"); }

Json podTemplate() {
  return {{"metadata", {{"labels", {{"app", "agent"}}}}},
          {"spec",
           {{"nodeSelector", {{"role", "edge"}}},
            {"containers", Json::array({{{"name", "c"}, {"image", "agent:1"}}})}}}};
}

Json daemonSet(long long maxUnavailable = 1) {
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "DaemonSet"},
      {"metadata", {{"name", "agent"}, {"namespace", "default"}, {"uid", "uid-agent"}}},
      {"spec",
       {{"selector", {{"matchLabels", {{"app", "agent"}}}}},
        {"template", podTemplate()},
        {"updateStrategy",
         {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxUnavailable", maxUnavailable}}}}}}}};
}

Json node(const std::string& name, const std::string& role, const Json& taints = Json::array()) {
  return {{"metadata", {{"name", name}, {"labels", {{"role", role}}}}},
          {"spec", {{"taints", taints}}},
          {"status", {{"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
}

// A daemon pod on `nodeName`, of the current template or an older one.
Json daemonPod(const std::string& name, const std::string& nodeName, bool current) {
  Json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata",
             {{"name", name},
              {"namespace", "default"},
              {"labels",
               {{"app", "agent"},
                {"controller-revision-hash", current ? podTemplateHash(podTemplate()) : "old"}}},
              {"ownerReferences", Json::array({kube::ObjectView(daemonSet()).ownerRefJson()})}}},
            {"spec", {{"nodeName", nodeName}}},
            {"status",
             {{"phase", "Running"},
              {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
  return p;
}

class DaemonSetControllerTest : public ::testing::Test {
 protected:
  void add(const apiserver::ResourceInfo& r, Informer& inf, const Json& obj) {
    test::seedInformer(client, r, inf, obj);
  }
  std::vector<test::KubeAction> creates() const {
    std::vector<test::KubeAction> out;
    for (const auto& w : client.writes()) {
      if (w.verb == "create") out.push_back(w);
    }
    return out;
  }

  test::FakeKubeClient client;
  Informer daemonSets{dsRes()};
  Informer nodes{nodeRes()};
  Informer pods{podRes()};
  DaemonSetController controller{client, daemonSets, nodes, pods};
};

TEST_F(DaemonSetControllerTest, OnePodPinnedToEachEligibleNode) {
  add(dsRes(), daemonSets, daemonSet());
  add(nodeRes(), nodes, node("pi-1", "edge"));
  add(nodeRes(), nodes, node("pi-2", "edge"));
  add(nodeRes(), nodes, node("server", "core"));  // nodeSelector does not match
  add(nodeRes(), nodes,
      node("pi-3", "edge", Json::array({{{"key", "dedicated"}, {"effect", "NoSchedule"}}})));
  ASSERT_TRUE(controller.sync("default/agent").isOk());

  auto made = creates();
  ASSERT_EQ(made.size(), 2u);
  std::set<std::string> pinned;
  for (const auto& c : made) {
    const Json& pod = c.body;
    EXPECT_EQ(pod["metadata"]["generateName"], "agent-");
    EXPECT_EQ(pod["metadata"]["labels"]["controller-revision-hash"],
              podTemplateHash(podTemplate()));
    EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["uid"], "uid-agent");
    const Json& term =
        pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
           ["nodeSelectorTerms"][0];
    EXPECT_EQ(term["matchFields"][0]["key"], "metadata.name");
    pinned.insert(term["matchFields"][0]["values"][0].get<std::string>());
    // Daemon pods tolerate not-ready, unreachable and unschedulable nodes, as Kubernetes adds.
    std::set<std::string> tolerated;
    for (const auto& t : pod["spec"]["tolerations"]) tolerated.insert(t["key"].get<std::string>());
    EXPECT_EQ(tolerated, (std::set<std::string>{"node.kubernetes.io/not-ready",
                                                "node.kubernetes.io/unreachable",
                                                "node.kubernetes.io/unschedulable"}));
  }
  EXPECT_EQ(pinned, (std::set<std::string>{"pi-1", "pi-2"}));
  const auto writes = client.writes();
  ASSERT_EQ(writes.back().subresource, "status");
  EXPECT_EQ(writes.back().body["status"]["desiredNumberScheduled"], 2);
  EXPECT_EQ(writes.back().body["status"]["currentNumberScheduled"], 0);
}

TEST_F(DaemonSetControllerTest, MisscheduledOrphanedAndDuplicatePodsAreRemoved) {
  add(dsRes(), daemonSets, daemonSet());
  add(nodeRes(), nodes, node("pi-1", "edge"));
  add(nodeRes(), nodes, node("server", "core"));
  add(podRes(), pods, daemonPod("on-pi-1", "pi-1", true));
  add(podRes(), pods, daemonPod("twin-on-pi-1", "pi-1", true));
  add(podRes(), pods, daemonPod("on-server", "server", true));  // the node no longer matches
  add(podRes(), pods, daemonPod("on-gone", "gone", true));      // the node was deleted
  ASSERT_TRUE(controller.sync("default/agent").isOk());

  std::set<std::string> deleted;
  for (const auto& w : client.writes()) {
    if (w.verb == "delete") deleted.insert(w.name);
  }
  EXPECT_EQ(deleted.size(), 3u);
  EXPECT_FALSE(deleted.contains("on-pi-1") && deleted.contains("twin-on-pi-1"));  // one stays
  EXPECT_TRUE(deleted.contains("on-server"));
  EXPECT_TRUE(deleted.contains("on-gone"));
  EXPECT_TRUE(creates().empty());
  EXPECT_EQ(client.writes().back().body["status"]["numberMisscheduled"], 1);
}

TEST_F(DaemonSetControllerTest, RollingUpdateReplacesAtMostMaxUnavailableAtOnce) {
  add(dsRes(), daemonSets, daemonSet(/*maxUnavailable=*/1));
  for (const char* n : {"pi-1", "pi-2", "pi-3"}) {
    add(nodeRes(), nodes, node(n, "edge"));
    add(podRes(), pods, daemonPod(std::string("old-") + n, n, /*current=*/false));
  }
  ASSERT_TRUE(controller.sync("default/agent").isOk());
  int deletes = 0;
  for (const auto& w : client.writes()) deletes += w.verb == "delete" ? 1 : 0;
  EXPECT_EQ(deletes, 1);
  EXPECT_EQ(client.writes().back().body["status"]["updatedNumberScheduled"], 0);
  EXPECT_EQ(client.writes().back().body["status"]["numberReady"], 3);
}

TEST_F(DaemonSetControllerTest, AFailedCreateIsAnErrorSoTheKeyIsRetried) {
  add(dsRes(), daemonSets, daemonSet());
  add(nodeRes(), nodes, node("pi-1", "edge"));
  client.failNext("create", "pods", common::unavailable("not the leader"));
  EXPECT_EQ(controller.sync("default/agent").code(), common::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace skiff::control_plane::controllers
