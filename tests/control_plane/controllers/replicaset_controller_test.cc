// ReplicaSet controller, one reconcile pass at a time against FakeKubeClient: the informers hold
// what the API server would have shown, the assertions are the exact API actions taken
// (sample-controller's style). The whole system's behaviour is in
// controllers_integration_test.cc; these pin down the controller's own decisions.
#include "control_plane/controllers/replicaset_controller.h"

#include <gtest/gtest.h>

#include "common/kube/objects.h"
#include "control_plane/apiserver/resources.h"
#include "tests/support/fake_kube_client.h"

namespace skiff::control_plane::controllers {
namespace {

using common::Json;

const apiserver::ResourceInfo& rsRes() {
  return *apiserver::findResource("apps", "v1", "replicasets");
}
const apiserver::ResourceInfo& podRes() { return *apiserver::findResource("", "v1", "pods"); }

Json replicaSet(const std::string& name, long long replicas) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "ReplicaSet"},
          {"metadata",
           {{"name", name}, {"namespace", "default"}, {"uid", "uid-" + name}, {"generation", 2}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", "web"}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", "web"}}}}},
              {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", "nginx"}}})}}}}}}}};
}

Json podOf(const Json& rs, const std::string& name, bool ready, const std::string& created) {
  Json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata",
             {{"name", name},
              {"namespace", "default"},
              {"uid", "uid-" + name},
              {"creationTimestamp", created},
              {"labels", {{"app", "web"}}},
              {"ownerReferences", Json::array({kube::ObjectView(rs).ownerRefJson()})}}},
            {"spec", {{"nodeName", "node-1"}}},
            {"status", {{"phase", "Running"}}}};
  p["status"]["conditions"] =
      Json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}});
  return p;
}

class ReplicaSetControllerTest : public ::testing::Test {
 protected:
  void add(const apiserver::ResourceInfo& r, Informer& inf, const Json& obj) {
    test::seedInformer(client, r, inf, obj);
  }

  test::FakeKubeClient client;
  Informer replicaSets{rsRes()};
  Informer pods{podRes()};
  ReplicaSetController controller{client, replicaSets, pods};
};

TEST_F(ReplicaSetControllerTest, CreatesMissingPodsFromTheTemplateOwnedByTheReplicaSet) {
  Json rs = replicaSet("web-abc", 2);
  add(rsRes(), replicaSets, rs);
  ASSERT_TRUE(controller.sync("default/web-abc").isOk());

  auto writes = client.writes();
  ASSERT_EQ(writes.size(), 3u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(writes[i].verb, "create");
    EXPECT_EQ(writes[i].resource, "pods");
    EXPECT_EQ(writes[i].ns, "default");
    const Json& meta = writes[i].body["metadata"];
    EXPECT_EQ(meta["generateName"], "web-abc-");
    EXPECT_FALSE(meta.contains("name"));
    EXPECT_EQ(meta["labels"]["app"], "web");
    EXPECT_EQ(meta["ownerReferences"][0]["uid"], "uid-web-abc");
    EXPECT_EQ(meta["ownerReferences"][0]["controller"], true);
    EXPECT_EQ(writes[i].body["spec"]["containers"][0]["image"], "nginx");
  }
  // Status from what the cache shows now (no pods yet).
  EXPECT_EQ(writes[2].verb, "update");
  EXPECT_EQ(writes[2].subresource, "status");
  EXPECT_EQ(writes[2].body["status"]["replicas"], 0);
  EXPECT_EQ(writes[2].body["status"]["observedGeneration"], 2);
}

TEST_F(ReplicaSetControllerTest, WaitsForItsOwnCreatesBeforeActingAgain) {
  add(rsRes(), replicaSets, replicaSet("web-abc", 2));
  ASSERT_TRUE(controller.sync("default/web-abc").isOk());
  client.clearActions();
  // The creates are not in the pod cache yet: a second pass must not create two more.
  ASSERT_TRUE(controller.sync("default/web-abc").isOk());
  for (const auto& w : client.writes()) EXPECT_NE(w.verb, "create");
}

TEST_F(ReplicaSetControllerTest, ScalesDownTheLeastUsefulPodsFirst) {
  Json rs = replicaSet("web-abc", 1);
  add(rsRes(), replicaSets, rs);
  add(podRes(), pods, podOf(rs, "old-ready", true, "2026-01-01T00:00:00Z"));
  add(podRes(), pods, podOf(rs, "new-ready", true, "2026-01-02T00:00:00Z"));
  add(podRes(), pods, podOf(rs, "not-ready", false, "2025-12-31T00:00:00Z"));
  ASSERT_TRUE(controller.sync("default/web-abc").isOk());

  auto writes = client.writes();
  ASSERT_GE(writes.size(), 2u);
  EXPECT_EQ(writes[0].verb, "delete");
  EXPECT_EQ(writes[0].name, "not-ready");
  EXPECT_EQ(writes[1].verb, "delete");
  EXPECT_EQ(writes[1].name, "new-ready");  // then the newest
  EXPECT_TRUE(client.object(podRes(), "default", "old-ready").has_value());
}

TEST_F(ReplicaSetControllerTest, CountsOnlyItsOwnActivePodsInStatus) {
  Json rs = replicaSet("web-abc", 2);
  add(rsRes(), replicaSets, rs);
  add(podRes(), pods, podOf(rs, "a", true, "2026-01-01T00:00:00Z"));
  add(podRes(), pods, podOf(rs, "b", false, "2026-01-01T00:00:00Z"));
  Json other = replicaSet("other", 1);
  add(podRes(), pods, podOf(other, "foreign", true, "2026-01-01T00:00:00Z"));
  Json done = podOf(rs, "finished", true, "2026-01-01T00:00:00Z");
  done["status"]["phase"] = "Succeeded";
  add(podRes(), pods, done);
  ASSERT_TRUE(controller.sync("default/web-abc").isOk());

  auto writes = client.writes();
  ASSERT_EQ(writes.size(), 1u);  // two active pods: nothing to create or delete
  EXPECT_EQ(writes[0].subresource, "status");
  const Json& st = writes[0].body["status"];
  EXPECT_EQ(st["replicas"], 2);
  EXPECT_EQ(st["readyReplicas"], 1);
  EXPECT_EQ(st["availableReplicas"], 1);
  EXPECT_EQ(st["fullyLabeledReplicas"], 2);
}

TEST_F(ReplicaSetControllerTest, AFailedCreateIsAnErrorSoTheKeyIsRetried) {
  add(rsRes(), replicaSets, replicaSet("web-abc", 1));
  client.failNext("create", "pods", common::permissionDenied("quota"));
  auto s = controller.sync("default/web-abc");
  EXPECT_EQ(s.code(), common::StatusCode::kPermissionDenied);
  // The failed create is not waited for: the retry creates again.
  client.clearActions();
  ASSERT_TRUE(controller.sync("default/web-abc").isOk());
  ASSERT_FALSE(client.writes().empty());
  EXPECT_EQ(client.writes()[0].verb, "create");
}

TEST_F(ReplicaSetControllerTest, AGoneReplicaSetIsNoWork) {
  ASSERT_TRUE(controller.sync("default/nope").isOk());
  EXPECT_TRUE(client.writes().empty());
}

}  // namespace
}  // namespace skiff::control_plane::controllers
