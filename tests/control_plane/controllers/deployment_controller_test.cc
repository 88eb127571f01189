// Deployment controller, one reconcile pass at a time against FakeKubeClient (see
// replicaset_controller_test.cc for the style): the new ReplicaSet is created with the template
// hash and revision, rolling updates scale within maxSurge/maxUnavailable, Recreate waits for the
// old pods to go, and status/conditions follow kube-controller-manager.
#include "control_plane/controllers/deployment_controller.h"

#include <gtest/gtest.h>

#include "common/kube/objects.h"
#include "control_plane/apiserver/resources.h"
#include "tests/support/fake_kube_client.h"

namespace skiff::control_plane::controllers {
namespace {

using common::Json;

const apiserver::ResourceInfo& depRes() {
  return *apiserver::findResource("apps", "v1", "deployments");
}
const apiserver::ResourceInfo& rsRes() {
  return *apiserver::findResource("apps", "v1", "replicasets");
}

Json templateWithImage(const std::string& image) {
  return {{"metadata", {{"labels", {{"app", "web"}}}}},
          {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", image}}})}}}};
}

Json deployment(long long replicas, const std::string& image, const Json& strategy = nullptr) {
  Json d = {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata",
             {{"name", "web"}, {"namespace", "default"}, {"uid", "uid-web"}, {"generation", 3}}},
            {"spec",
             {{"replicas", replicas},
              {"selector", {{"matchLabels", {{"app", "web"}}}}},
              {"template", templateWithImage(image)}}}};
  if (!strategy.is_null()) d["spec"]["strategy"] = strategy;
  return d;
}

// A ReplicaSet the controller made earlier for dep with `image`, at `replicas`, `available` of
// them available, with revision `revision`.
Json ownedReplicaSet(const Json& dep, const std::string& image, long long replicas,
                     long long available, int revision) {
  Json tmpl = templateWithImage(image);
  std::string hash = podTemplateHash(tmpl);
  tmpl["metadata"]["labels"]["pod-template-hash"] = hash;
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "ReplicaSet"},
      {"metadata",
       {{"name", "web-" + hash},
        {"namespace", "default"},
        {"uid", "uid-web-" + hash},
        {"annotations", {{"deployment.kubernetes.io/revision", std::to_string(revision)}}},
        {"ownerReferences", Json::array({kube::ObjectView(dep).ownerRefJson()})}}},
      {"spec", {{"replicas", replicas}, {"template", tmpl}}},
      {"status",
       {{"replicas", replicas}, {"readyReplicas", available}, {"availableReplicas", available}}}};
}

class DeploymentControllerTest : public ::testing::Test {
 protected:
  void add(const apiserver::ResourceInfo& r, Informer& inf, const Json& obj) {
    test::seedInformer(client, r, inf, obj);
  }
  // dep (image nginx:2, revision 2) mid-rollout: its old ReplicaSet (nginx:1, revision 1) runs
  // `oldReplicas` available pods, the new one none yet. Returns {old, new}.
  std::pair<Json, Json> midRollout(Json dep, long long oldReplicas) {
    dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2";
    add(depRes(), deployments, dep);
    Json oldRs = ownedReplicaSet(dep, "nginx:1", oldReplicas, oldReplicas, 1);
    Json newRs = ownedReplicaSet(dep, "nginx:2", 0, 0, 2);
    add(rsRes(), replicaSets, oldRs);
    add(rsRes(), replicaSets, newRs);
    return {oldRs, newRs};
  }
  // The patches of spec.replicas sent to ReplicaSets, by name.
  std::map<std::string, long long> scaled() const {
    std::map<std::string, long long> out;
    for (const auto& w : client.writes()) {
      if (w.verb == "patch" && w.resource == "replicasets" && w.body.contains("spec")) {
        out[w.name] = w.body["spec"]["replicas"].get<long long>();
      }
    }
    return out;
  }

  test::FakeKubeClient client;
  Informer deployments{depRes()};
  Informer replicaSets{rsRes()};
  DeploymentController controller{client, deployments, replicaSets};
};

TEST_F(DeploymentControllerTest, ANewDeploymentGetsAReplicaSetNamedByItsTemplateHash) {
  Json dep = deployment(3, "nginx:1");
  add(depRes(), deployments, dep);
  ASSERT_TRUE(controller.sync("default/web").isOk());

  auto writes = client.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].verb, "create");
  EXPECT_EQ(writes[0].resource, "replicasets");
  const std::string hash = podTemplateHash(dep["spec"]["template"]);
  EXPECT_EQ(writes[0].name, "web-" + hash);
  const Json& rs = writes[0].body;
  EXPECT_EQ(rs["spec"]["replicas"], 0);  // scaled by the next pass, within the rollout's bounds
  EXPECT_EQ(rs["spec"]["selector"]["matchLabels"]["pod-template-hash"], hash);
  EXPECT_EQ(rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"], hash);
  EXPECT_EQ(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
  EXPECT_EQ(rs["metadata"]["ownerReferences"][0]["uid"], "uid-web");
}

TEST_F(DeploymentControllerTest, TheDeploymentCarriesItsNewReplicaSetsRevision) {
  Json dep = deployment(3, "nginx:1");
  add(depRes(), deployments, dep);
  add(rsRes(), replicaSets, ownedReplicaSet(dep, "nginx:1", 0, 0, 1));
  ASSERT_TRUE(controller.sync("default/web").isOk());
  auto writes = client.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].verb, "patch");
  EXPECT_EQ(writes[0].resource, "deployments");
  EXPECT_EQ(writes[0].body["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
}

TEST_F(DeploymentControllerTest, RollingUpdateStaysWithinSurgeAndUnavailable) {
  // 4 replicas, maxSurge 1, maxUnavailable 1: the new RS may go to 1 (4 + 1 - 4), the old one
  // down to 3 (4 - 1 available needed: 3 old available + 0 new).
  auto [oldRs, newRs] = midRollout(
      deployment(
          4, "nginx:2",
          {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 1}}}}),
      4);
  ASSERT_TRUE(controller.sync("default/web").isOk());

  auto s = scaled();
  EXPECT_EQ(s[newRs["metadata"]["name"]], 1);
  EXPECT_EQ(s[oldRs["metadata"]["name"]], 3);
  // Status: 4 pods, none updated yet, all available; Progressing while the rollout runs.
  const auto writes = client.writes();
  const test::KubeAction* status = nullptr;
  for (const auto& w : writes) {
    if (w.subresource == "status") status = &w;
  }
  ASSERT_NE(status, nullptr);
  const Json& st = status->body["status"];
  EXPECT_EQ(st["replicas"], 4);
  EXPECT_EQ(st["updatedReplicas"], 0);
  EXPECT_EQ(st["availableReplicas"], 4);
  EXPECT_EQ(st["observedGeneration"], 3);
  EXPECT_EQ(st["conditions"][0]["type"], "Available");
  EXPECT_EQ(st["conditions"][0]["status"], "True");
  EXPECT_EQ(st["conditions"][1]["reason"], "ReplicaSetUpdated");
}

TEST_F(DeploymentControllerTest, RecreateScalesTheOldToZeroBeforeTheNewGrows) {
  auto [oldRs, newRs] = midRollout(deployment(2, "nginx:2", {{"type", "Recreate"}}), 2);
  ASSERT_TRUE(controller.sync("default/web").isOk());
  auto s = scaled();
  EXPECT_EQ(s[oldRs["metadata"]["name"]], 0);
  EXPECT_FALSE(s.contains(newRs["metadata"]["name"]));  // old pods still counted in its status

  // Once the old ReplicaSet reports no pods, the new one is scaled up.
  oldRs["spec"]["replicas"] = 0;
  oldRs["status"]["replicas"] = 0;
  oldRs["status"]["availableReplicas"] = 0;
  add(rsRes(), replicaSets, oldRs);
  client.clearActions();
  ASSERT_TRUE(controller.sync("default/web").isOk());
  EXPECT_EQ(scaled()[newRs["metadata"]["name"]], 2);
}

TEST_F(DeploymentControllerTest, APausedDeploymentIsLeftAlone) {
  Json dep = deployment(3, "nginx:1");
  dep["spec"]["paused"] = true;
  add(depRes(), deployments, dep);
  ASSERT_TRUE(controller.sync("default/web").isOk());
  EXPECT_TRUE(client.writes().empty());
}

TEST_F(DeploymentControllerTest, OldIdleReplicaSetsBeyondTheHistoryLimitAreDeleted) {
  Json dep = deployment(1, "nginx:4");
  dep["spec"]["revisionHistoryLimit"] = 1;
  dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4";
  add(depRes(), deployments, dep);
  Json r1 = ownedReplicaSet(dep, "nginx:1", 0, 0, 1);
  Json r2 = ownedReplicaSet(dep, "nginx:2", 0, 0, 2);
  Json r3 = ownedReplicaSet(dep, "nginx:3", 0, 0, 3);
  Json r4 = ownedReplicaSet(dep, "nginx:4", 1, 1, 4);
  for (const Json* rs : {&r1, &r2, &r3, &r4}) add(rsRes(), replicaSets, *rs);
  ASSERT_TRUE(controller.sync("default/web").isOk());
  std::vector<std::string> deleted;
  for (const auto& w : client.writes()) {
    if (w.verb == "delete") deleted.push_back(w.name);
  }
  EXPECT_EQ(deleted, (std::vector<std::string>{r1["metadata"]["name"], r2["metadata"]["name"]}));
}

}  // namespace
}  // namespace skiff::control_plane::controllers
