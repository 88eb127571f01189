// Typed views of Kubernetes objects: named fields, Kubernetes defaults for what is missing, and
// no exception (a default instead) for a field of the wrong JSON type.
#include "common/kube/objects.h"

#include <gtest/gtest.h>

namespace skiff::kube {
namespace {

TEST(KubeObjectsTest, MetadataAndTheControllerReference) {
  Json rs = {{"apiVersion", "apps/v1"},
             {"kind", "ReplicaSet"},
             {"metadata",
              {{"name", "web-1"},
               {"namespace", "shop"},
               {"uid", "u1"},
               {"generation", 4},
               {"labels", {{"app", "web"}, {"bad", 7}}},
               {"ownerReferences", Json::array({{{"kind", "Other"}, {"name", "x"}, {"uid", "u0"}},
                                                {{"apiVersion", "apps/v1"},
                                                 {"kind", "Deployment"},
                                                 {"name", "web"},
                                                 {"uid", "u9"},
                                                 {"controller", true}}})}}}};
  ReplicaSetView v(rs);
  EXPECT_EQ(v.name(), "web-1");
  EXPECT_EQ(v.ns(), "shop");
  EXPECT_EQ(v.generation(), 4);
  EXPECT_FALSE(v.deleting());
  EXPECT_EQ(v.labelMap(), (common::Labels{{"app", "web"}}));
  EXPECT_EQ(v.ownerRefs().size(), 2u);
  ASSERT_TRUE(v.controllerRef().has_value());
  EXPECT_EQ(v.controllerRef()->kind, "Deployment");
  EXPECT_EQ(v.controllerRef()->uid, "u9");
  Json ref = v.ownerRefJson();
  EXPECT_EQ(ref["kind"], "ReplicaSet");
  EXPECT_EQ(ref["uid"], "u1");
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(ref["blockOwnerDeletion"], true);
}

TEST(KubeObjectsTest, MissingFieldsGiveKubernetesDefaults) {
  Json empty = Json::object();
  EXPECT_EQ(ReplicaSetView(empty).replicas(), 1);
  EXPECT_EQ(DeploymentView(empty).replicas(), 1);
  EXPECT_EQ(DeploymentView(empty).strategyType(), "RollingUpdate");
  EXPECT_EQ(DeploymentView(empty).revisionHistoryLimit(), 10);
  EXPECT_EQ(DeploymentView(empty).progressDeadlineSeconds(), 600);
  EXPECT_TRUE(DeploymentView(empty).maxSurge().is_null());
  EXPECT_EQ(DaemonSetView(empty).updateStrategyType(), "RollingUpdate");
  EXPECT_EQ(PodView(empty).restartPolicy(), "Always");
  EXPECT_EQ(ServiceView(empty).type(), "ClusterIP");
  EXPECT_EQ(ObjectView(empty).generation(), 1);
  EXPECT_FALSE(ObjectView(empty).controllerRef().has_value());
  EXPECT_EQ(NodeView(empty).conditionStatus("Ready"), "");
  // replicas: 0 is a value, not a missing field.
  EXPECT_EQ(ReplicaSetView(Json{{"spec", {{"replicas", 0}}}}).replicas(), 0);
}

TEST(KubeObjectsTest, WrongTypesAreDefaultsNotExceptions) {
  Json odd = {{"metadata", "not an object"},
              {"spec",
               {{"replicas", "3"},
                {"nodeName", 5},
                {"unschedulable", "yes"},
                {"strategy", {{"rollingUpdate", 1}}}}},
              {"status", {{"conditions", {{"type", "Ready"}}}}}};
  EXPECT_EQ(ObjectView(odd).name(), "");
  EXPECT_EQ(ReplicaSetView(odd).replicas(), 1);
  EXPECT_EQ(PodView(odd).nodeName(), "");
  EXPECT_FALSE(PodView(odd).ready());
  EXPECT_FALSE(NodeView(odd).unschedulable());
  EXPECT_TRUE(DeploymentView(odd).maxUnavailable().is_null());
}

TEST(KubeObjectsTest, PodStateAndNodeConditions) {
  Json pod = {{"metadata", {{"deletionTimestamp", "2026-12-08T00:00:00Z"}}},
              {"spec", {{"nodeName", "pi-1"}, {"restartPolicy", "Never"}}},
              {"status",
               {{"phase", "Running"},
                {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
  PodView p(pod);
  EXPECT_EQ(p.nodeName(), "pi-1");
  EXPECT_EQ(p.restartPolicy(), "Never");
  EXPECT_TRUE(p.ready());
  EXPECT_FALSE(p.terminal());
  EXPECT_TRUE(p.deleting());
  EXPECT_FALSE(p.active());
  Json node = {
      {"status", {{"conditions", Json::array({{{"type", "Ready"}, {"status", "Unknown"}}})}}}};
  EXPECT_EQ(NodeView(node).conditionStatus("Ready"), "Unknown");
  Json silent = {{"status", {{"conditions", Json::array({{{"type", "Ready"}}})}}}};
  EXPECT_EQ(NodeView(silent).conditionStatus("Ready"), "Unknown");
  EXPECT_EQ(NodeView(silent).conditionStatus("MemoryPressure"), "");
}

}  // namespace
}  // namespace skiff::kube
