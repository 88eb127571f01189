// Registry strategies (control_plane/apiserver/strategy.h), without a server: Kubernetes'
// defaults, validation causes with field paths, and what create/update/status updates may change.
#include "control_plane/apiserver/strategy.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::apiserver {
namespace {

using common::Json;

const ResourceInfo& pods() { return *findResource("", "v1", "pods"); }
const ResourceInfo& deployments() { return *findResource("apps", "v1", "deployments"); }

Json pod(const Json& containers) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "p"}, {"namespace", "default"}}},
          {"spec", {{"containers", containers}}}};
}

bool hasCause(const std::vector<FieldCause>& causes, const std::string& field,
              const std::string& reason) {
  return std::any_of(causes.begin(), causes.end(),
                     [&](const FieldCause& c) { return c.field == field && c.reason == reason; });
}

TEST(StrategyTest, PodDefaultsAreKubernetes) {
  Json p =
      pod(Json::array({{{"name", "a"}, {"image", "nginx"}, {"ports", {{{"containerPort", 80}}}}},
                       {{"name", "b"}, {"image", "nginx:1.25"}},
                       {{"name", "c"}, {"image", "reg:5000/x:latest"}}}));
  applyDefaults(pods(), p);
  const Json& spec = p["spec"];
  EXPECT_EQ(spec["restartPolicy"], "Always");
  EXPECT_EQ(spec["terminationGracePeriodSeconds"], 30);
  EXPECT_EQ(spec["dnsPolicy"], "ClusterFirst");
  EXPECT_EQ(spec["schedulerName"], "default-scheduler");
  EXPECT_EQ(spec["containers"][0]["imagePullPolicy"], "Always");  // no tag = latest
  EXPECT_EQ(spec["containers"][1]["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(spec["containers"][2]["imagePullPolicy"], "Always");  // a registry port is no tag
  EXPECT_EQ(spec["containers"][0]["ports"][0]["protocol"], "TCP");
  EXPECT_EQ(spec["containers"][0]["terminationMessagePath"], "/dev/termination-log");
}

TEST(StrategyTest, DeploymentDefaultsAreKubernetes) {
  Json d = {{"metadata", {{"name", "d"}}}, {"spec", Json::object()}};
  applyDefaults(deployments(), d);
  EXPECT_EQ(d["spec"]["replicas"], 1);
  EXPECT_EQ(d["spec"]["revisionHistoryLimit"], 10);
  EXPECT_EQ(d["spec"]["progressDeadlineSeconds"], 600);
  EXPECT_EQ(d["spec"]["strategy"]["type"], "RollingUpdate");
  EXPECT_EQ(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
  EXPECT_EQ(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], "25%");
}

TEST(StrategyTest, ValidationNamesTheFieldsAsKubernetesDoes) {
  Json p = pod(Json::array(
      {{{"name", "a"}}, {{"name", "a"}, {"image", "x"}}, {{"name", "Bad_Name"}, {"image", "x"}}}));
  auto causes = validateObject(pods(), p, nullptr);
  EXPECT_TRUE(hasCause(causes, "spec.containers[0].image", "FieldValueRequired"));
  EXPECT_TRUE(hasCause(causes, "spec.containers[1].name", "FieldValueDuplicate"));
  EXPECT_TRUE(hasCause(causes, "spec.containers[2].name", "FieldValueInvalid"));

  Json unnamed = pod(Json::array({{{"name", "a"}, {"image", "x"}}}));
  unnamed["metadata"].erase("name");
  EXPECT_TRUE(
      hasCause(validateObject(pods(), unnamed, nullptr), "metadata.name", "FieldValueRequired"));
  unnamed["metadata"]["generateName"] = "web-";
  EXPECT_TRUE(validateObject(pods(), unnamed, nullptr).empty());
}

TEST(StrategyTest, CreateResetsStatusAndStartsGenerations) {
  Json d = {{"metadata", {{"name", "d"}, {"generation", 7}, {"deletionTimestamp", "x"}}},
            {"spec", {{"replicas", 2}}},
            {"status", {{"replicas", 99}}}};
  prepareForCreate(deployments(), d);
  EXPECT_EQ(d["metadata"]["generation"], 1);
  EXPECT_FALSE(d["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(d["status"], Json::object());
  Json p = pod(Json::array());
  prepareForCreate(pods(), p);
  EXPECT_EQ(p["status"]["phase"], "Pending");
}

TEST(StrategyTest, UpdatesKeepSystemFieldsAndStatusAndBumpTheGenerationOnSpecChanges) {
  Json old = {{"metadata", {{"name", "d"}, {"uid", "u1"}, {"generation", 3}}},
              {"spec", {{"replicas", 2}}},
              {"status", {{"replicas", 2}}}};
  Json same = {{"metadata", {{"name", "d"}, {"uid", "forged"}, {"labels", {{"a", "b"}}}}},
               {"spec", {{"replicas", 2}}},
               {"status", {{"replicas", 50}}}};
  prepareForUpdate(deployments(), same, old);
  EXPECT_EQ(same["metadata"]["uid"], "u1");
  EXPECT_EQ(same["metadata"]["generation"], 3);  // labels only: no new generation
  EXPECT_EQ(same["status"]["replicas"], 2);      // status only through /status
  Json scaled = {{"metadata", {{"name", "d"}}}, {"spec", {{"replicas", 5}}}};
  prepareForUpdate(deployments(), scaled, old);
  EXPECT_EQ(scaled["metadata"]["generation"], 4);

  Json status = {{"metadata", {{"name", "d"}, {"labels", {{"x", "y"}}}}},
                 {"spec", {{"replicas", 9}}},
                 {"status", {{"replicas", 1}}}};
  prepareForStatusUpdate(deployments(), status, old);
  EXPECT_EQ(status["spec"]["replicas"], 2);  // only status changes through /status
  EXPECT_FALSE(status["metadata"].contains("labels"));
  EXPECT_EQ(status["status"]["replicas"], 1);
}

TEST(StrategyTest, DnsNames) {
  EXPECT_TRUE(isDnsLabel("web-1"));
  EXPECT_FALSE(isDnsLabel("web.1"));
  EXPECT_FALSE(isDnsLabel("-web"));
  EXPECT_FALSE(isDnsLabel(std::string(64, 'a')));
  EXPECT_TRUE(isDnsSubdomain("web.example-1.io"));
  EXPECT_FALSE(isDnsSubdomain("Web"));
  EXPECT_FALSE(isDnsSubdomain(std::string(254, 'a')));
}

}  // namespace
}  // namespace skiff::control_plane::apiserver
