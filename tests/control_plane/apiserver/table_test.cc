// Server-side tables (control_plane/apiserver/table.h), without a server: the columns and cells
// `kubectl get` prints on a real cluster, including the pod STATUS rules for init containers
// and sidecars, and Kubernetes' human durations.
#include "control_plane/apiserver/table.h"

#include <gtest/gtest.h>

#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::apiserver {
namespace {

using common::Json;
using namespace std::chrono_literals;

const ResourceInfo& pods() { return *findResource("", "v1", "pods"); }
const auto kNow = std::chrono::system_clock::from_time_t(1'800'000'000);

std::vector<std::string> columnNames(const Json& table) {
  std::vector<std::string> out;
  for (const auto& c : table["columnDefinitions"]) {
    if (c["priority"] == 0) out.push_back(c["name"]);
  }
  return out;
}

Json podWithInit(const Json& initStatuses, const Json& statuses = Json::array()) {
  return {
      {"metadata",
       {{"name", "p"}, {"namespace", "default"}, {"creationTimestamp", "2027-01-15T07:50:00Z"}}},
      {"spec",
       {{"initContainers", Json::array({{{"name", "i1"}}, {{"name", "i2"}}})},
        {"containers", Json::array({{{"name", "app"}}})}}},
      {"status",
       {{"phase", "Pending"},
        {"initContainerStatuses", initStatuses},
        {"containerStatuses", statuses}}}};
}

// The STATUS cell of the pod's row.
std::string statusOf(const Json& p) {
  Json t = toTable(pods(), {p}, "1", "", "None", kNow);
  auto names = columnNames(t);
  auto idx = std::find(names.begin(), names.end(), "Status") - names.begin();
  return t["rows"][0]["cells"][idx];
}

TEST(TableTest, PodsHaveKubectlsColumnsAndObjectsAsAsked) {
  Json p = podWithInit(Json::array());
  Json t = toTable(pods(), {p}, "42", "next", "Metadata", kNow);
  EXPECT_EQ(t["kind"], "Table");
  EXPECT_EQ(t["metadata"]["resourceVersion"], "42");
  EXPECT_EQ(t["metadata"]["continue"], "next");
  EXPECT_EQ(columnNames(t),
            (std::vector<std::string>{"Name", "Ready", "Status", "Restarts", "Age"}));
  EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(t["rows"][0]["cells"][0], "p");
  EXPECT_EQ(t["rows"][0]["cells"][1], "0/1");
  EXPECT_FALSE(toTable(pods(), {p}, "1", "", "None", kNow)["rows"][0].contains("object"));
  EXPECT_EQ(toTable(pods(), {p}, "1", "", "Object", kNow)["rows"][0]["object"]["kind"], "Pod");
}

TEST(TableTest, PodStatusFollowsInitContainersAsKubectlPrintsThem) {
  Json waiting = {{"name", "i1"}, {"state", {{"waiting", {{"reason", "PodInitializing"}}}}}};
  EXPECT_EQ(statusOf(podWithInit(Json::array({waiting, waiting}))), "Init:0/2");
  Json done = {{"name", "i1"}, {"state", {{"terminated", {{"exitCode", 0}}}}}};
  Json crash = {{"name", "i2"},
                {"restartCount", 3},
                {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}}};
  EXPECT_EQ(statusOf(podWithInit(Json::array({done, crash}))), "Init:CrashLoopBackOff");
  Json failed = {{"name", "i2"},
                 {"state", {{"terminated", {{"exitCode", 1}, {"reason", "Error"}}}}}};
  EXPECT_EQ(statusOf(podWithInit(Json::array({done, failed}))), "Init:Error");
  Json code = {{"name", "i2"}, {"state", {{"terminated", {{"exitCode", 2}}}}}};
  EXPECT_EQ(statusOf(podWithInit(Json::array({done, code}))), "Init:ExitCode:2");
  Json initDone = podWithInit(
      Json::array({done, done}),
      Json::array({{{"name", "app"}, {"state", {{"waiting", {{"reason", "PodInitializing"}}}}}}}));
  initDone["status"]["conditions"] = Json::array({{{"type", "Initialized"}, {"status", "True"}}});
  EXPECT_EQ(statusOf(initDone), "PodInitializing");
}

TEST(TableTest, HumanDurationsAreKubernetes) {
  EXPECT_EQ(humanDuration(45s), "45s");
  EXPECT_EQ(humanDuration(192s), "3m12s");
  EXPECT_EQ(humanDuration(5h), "5h");
  EXPECT_EQ(humanDuration(51h), "2d3h");
  EXPECT_EQ(humanDuration(std::chrono::hours(24 * 400)), "400d");
}

}  // namespace
}  // namespace skiff::control_plane::apiserver
