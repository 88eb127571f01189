// Garbage collector, one pass at a time against FakeKubeClient (see replicaset_controller_test.cc
// for the style): dependents of a gone owner are deleted with the owner's uid as precondition;
// Orphan strips ownerReferences then drops its finalizer; Foreground waits for dependents.
#include "control_plane/controllers/garbage_collector.h"

#include <gtest/gtest.h>

#include "control_plane/apiserver/resources.h"
#include "tests/support/fake_kube_client.h"

namespace skiff::control_plane::controllers {
namespace {

using common::Json;

const apiserver::ResourceInfo& rsRes() {
  return *apiserver::findResource("apps", "v1", "replicasets");
}
const apiserver::ResourceInfo& podRes() { return *apiserver::findResource("", "v1", "pods"); }

Json replicaSet(const std::string& uid, const Json& finalizers = Json::array(),
                bool deleting = false) {
  Json rs = {{"apiVersion", "apps/v1"},
             {"kind", "ReplicaSet"},
             {"metadata",
              {{"name", "web"},
               {"namespace", "default"},
               {"uid", uid},
               {"resourceVersion", "5"},
               {"finalizers", finalizers}}}};
  if (deleting) rs["metadata"]["deletionTimestamp"] = "2026-12-07T00:00:00Z";
  return rs;
}

Json ownedPod(const std::string& name, const std::string& ownerUid) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"namespace", "default"},
            {"uid", "uid-" + name},
            {"ownerReferences", Json::array({{{"apiVersion", "apps/v1"},
                                              {"kind", "ReplicaSet"},
                                              {"name", "web"},
                                              {"uid", ownerUid},
                                              {"controller", true}}})}}}};
}

class GarbageCollectorTest : public ::testing::Test {
 protected:
  void add(const apiserver::ResourceInfo& r, Informer& inf, const Json& obj) {
    test::seedInformer(client, r, inf, obj);
  }

  test::FakeKubeClient client;
  Informer replicaSets{rsRes()};
  Informer pods{podRes()};
  GarbageCollector gc{client, {{"ReplicaSet", &replicaSets}}, {&pods, &replicaSets}};
};

TEST_F(GarbageCollectorTest, DependentsOfAGoneOwnerAreDeletedWithTheirUidAsPrecondition) {
  add(podRes(), pods, ownedPod("orphan", "uid-gone"));
  ASSERT_TRUE(gc.sync("pods|default/orphan").isOk());
  auto writes = client.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].verb, "delete");
  EXPECT_EQ(writes[0].name, "orphan");
  EXPECT_EQ(writes[0].body["propagationPolicy"], "Background");
  EXPECT_EQ(writes[0].body["preconditions"]["uid"], "uid-orphan");
}

TEST_F(GarbageCollectorTest, ALiveOwnerKeepsItsDependentsEvenBeforeTheCacheSeesIt) {
  add(rsRes(), replicaSets, replicaSet("uid-rs"));
  add(podRes(), pods, ownedPod("a", "uid-rs"));
  ASSERT_TRUE(gc.sync("pods|default/a").isOk());
  EXPECT_TRUE(client.writes().empty());
  // An owner created a moment ago is not in the informer yet: a live read keeps the pod.
  client.seed(rsRes(), replicaSet("uid-new"));
  replicaSets.remove("default/web");
  add(podRes(), pods, ownedPod("b", "uid-new"));
  ASSERT_TRUE(gc.sync("pods|default/b").isOk());
  EXPECT_TRUE(client.writes().empty());
}

TEST_F(GarbageCollectorTest, OrphanStripsOwnerReferencesThenDropsItsFinalizer) {
  add(rsRes(), replicaSets, replicaSet("uid-rs", Json::array({"orphan"}), true));
  add(podRes(), pods, ownedPod("a", "uid-rs"));
  const Json seen = (*client.object(rsRes(), "default", "web"))["metadata"]["resourceVersion"];
  ASSERT_TRUE(gc.sync("replicasets|default/web").isOk());
  auto writes = client.writes();
  ASSERT_GE(writes.size(), 2u);
  EXPECT_EQ(writes[0].verb, "patch");
  EXPECT_EQ(writes[0].resource, "pods");
  EXPECT_EQ(writes[0].body["metadata"]["ownerReferences"], Json::array());
  EXPECT_EQ(writes[1].verb, "patch");
  EXPECT_EQ(writes[1].resource, "replicasets");
  EXPECT_EQ(writes[1].body["metadata"]["finalizers"], Json::array());
  // The finalizer patch carries the version it saw: a concurrent change makes it a conflict.
  EXPECT_EQ(writes[1].body["metadata"]["resourceVersion"], seen);
}

TEST_F(GarbageCollectorTest, ForegroundDeletionWaitsForItsDependents) {
  add(rsRes(), replicaSets, replicaSet("uid-rs", Json::array({"foregroundDeletion"}), true));
  add(podRes(), pods, ownedPod("a", "uid-rs"));
  ASSERT_TRUE(gc.sync("replicasets|default/web").isOk());
  EXPECT_TRUE(client.writes().empty());  // the dependent is queued, the finalizer stays
  // The dependent of an owner in foreground deletion is deleted Foreground.
  ASSERT_TRUE(gc.sync("pods|default/a").isOk());
  ASSERT_EQ(client.writes().size(), 1u);
  EXPECT_EQ(client.writes()[0].body["propagationPolicy"], "Foreground");
  // Once it is gone, the owner's finalizer goes.
  pods.remove("default/a");
  client.clearActions();
  ASSERT_TRUE(gc.sync("replicasets|default/web").isOk());
  ASSERT_EQ(client.writes().size(), 1u);
  EXPECT_EQ(client.writes()[0].body["metadata"]["finalizers"], Json::array());
}

}  // namespace
}  // namespace skiff::control_plane::controllers
