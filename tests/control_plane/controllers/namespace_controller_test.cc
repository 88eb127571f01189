// Namespace controller, one pass at a time against FakeKubeClient (see
// replicaset_controller_test.cc for the style): a live namespace gets its "default"
// ServiceAccount and the kube-root-ca.crt ConfigMap (kept current); a namespace being deleted
// has every namespaced collection that still has objects deleted, and only once nothing is left
// is it finalized (spec.finalizers emptied through namespaces/<name>/finalize).
#include "control_plane/controllers/namespace_controller.h"

#include <gtest/gtest.h>

#include "control_plane/apiserver/resources.h"
#include "tests/support/fake_kube_client.h"

namespace skiff::control_plane::controllers {
namespace {

using common::Json;

const apiserver::ResourceInfo& nsRes() { return *apiserver::findResource("", "v1", "namespaces"); }
const apiserver::ResourceInfo& cmRes() { return *apiserver::findResource("", "v1", "configmaps"); }
const apiserver::ResourceInfo& saRes() {
  return *apiserver::findResource("", "v1", "serviceaccounts");
}
const apiserver::ResourceInfo& podRes() { return *apiserver::findResource("", "v1", "pods"); }

Json namespaceObject(const std::string& name, bool deleting) {
  Json ns = {{"apiVersion", "v1"},
             {"kind", "Namespace"},
             {"metadata", {{"name", name}}},
             {"spec", {{"finalizers", Json::array({"kubernetes"})}}}};
  if (deleting) ns["metadata"]["deletionTimestamp"] = "2026-12-08T00:00:00Z";
  return ns;
}

Json pod(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}, {"namespace", ns}}}};
}

class NamespaceControllerTest : public ::testing::Test {
 protected:
  test::FakeKubeClient client;
  Informer namespaces{nsRes()};
  NamespaceController controller{client, namespaces, "CA-PEM-1"};
};

TEST_F(NamespaceControllerTest, ALiveNamespaceGetsItsDefaultAccountAndRootCaOnce) {
  test::seedInformer(client, nsRes(), namespaces, namespaceObject("team", false));
  ASSERT_TRUE(controller.sync("team").isOk());
  auto writes = client.writes();
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[0].verb, "create");
  EXPECT_EQ(writes[0].resource, "serviceaccounts");
  EXPECT_EQ(writes[0].ns, "team");
  EXPECT_EQ(writes[0].name, "default");
  EXPECT_EQ(writes[1].verb, "create");
  EXPECT_EQ(writes[1].resource, "configmaps");
  EXPECT_EQ(writes[1].name, "kube-root-ca.crt");
  EXPECT_EQ(writes[1].body["data"]["ca.crt"], "CA-PEM-1");

  client.clearActions();
  ASSERT_TRUE(controller.sync("team").isOk());
  EXPECT_TRUE(client.writes().empty()) << "nothing changed: nothing written";
}

TEST_F(NamespaceControllerTest, AStaleRootCaIsUpdatedAndAnExistingAccountLeftAlone) {
  test::seedInformer(client, nsRes(), namespaces, namespaceObject("team", false));
  client.seed(saRes(), {{"metadata", {{"name", "default"}, {"namespace", "team"}}},
                        {"secrets", Json::array({{{"name", "theirs"}}})}});
  client.seed(cmRes(), {{"metadata", {{"name", "kube-root-ca.crt"}, {"namespace", "team"}}},
                        {"data", {{"ca.crt", "OLD-CA"}}}});
  ASSERT_TRUE(controller.sync("team").isOk());
  auto writes = client.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].verb, "update");
  EXPECT_EQ(writes[0].resource, "configmaps");
  EXPECT_EQ(writes[0].body["data"]["ca.crt"], "CA-PEM-1");
  EXPECT_EQ(client.object(saRes(), "team", "default")->at("secrets").size(), 1u);
}

TEST_F(NamespaceControllerTest, ADeletedNamespaceIsEmptiedThenFinalized) {
  test::seedInformer(client, nsRes(), namespaces, namespaceObject("gone", true));
  client.seed(podRes(), pod("gone", "a"));
  client.seed(podRes(), pod("gone", "b"));
  client.seed(podRes(), pod("kept", "c"));
  ASSERT_TRUE(controller.sync("gone").isOk());
  auto writes = client.writes();
  ASSERT_EQ(writes.size(), 1u) << "only collections with objects, and no finalize yet";
  EXPECT_EQ(writes[0].verb, "deletecollection");
  EXPECT_EQ(writes[0].resource, "pods");
  EXPECT_EQ(writes[0].ns, "gone");
  EXPECT_EQ(writes[0].body["propagationPolicy"], "Background");
  EXPECT_TRUE(client.object(podRes(), "kept", "c").has_value());

  // The next pass finds nothing left: the finalizer goes.
  client.clearActions();
  ASSERT_TRUE(controller.sync("gone").isOk());
  writes = client.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].verb, "update");
  EXPECT_EQ(writes[0].subresource, "finalize");
  EXPECT_EQ(writes[0].name, "gone");
  EXPECT_EQ(writes[0].body["spec"]["finalizers"], Json::array());
}

TEST_F(NamespaceControllerTest, AFailedWriteIsAnErrorSoTheKeyIsRetriedButALostRaceIsNot) {
  test::seedInformer(client, nsRes(), namespaces, namespaceObject("team", false));
  client.failNext("create", "serviceaccounts", common::unavailable("etcd is down"));
  EXPECT_EQ(controller.sync("team").code(), common::StatusCode::kUnavailable);
  client.failNext("create", "configmaps", common::alreadyExists("configmaps exists"));
  EXPECT_TRUE(controller.sync("team").isOk());
  // A namespace that is already gone when finalized is done, not an error.
  test::FakeKubeClient empty;
  Informer inf{nsRes()};
  inf.add(namespaceObject("vanished", true));
  NamespaceController other{empty, inf, ""};
  EXPECT_TRUE(other.sync("vanished").isOk());
  EXPECT_EQ(empty.writes().size(), 1u);
}

}  // namespace
}  // namespace skiff::control_plane::controllers
