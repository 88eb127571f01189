// Restart safety: the virtual node derives everything from the API and the hub, so restarting it
// (cleanly or with kill -9), the control plane or the hub neither duplicates nor loses pods; a
// pod deleted while the virtual node was down is completed (graceful) or removed from the hub
// (force-deleted orphan) when it returns. Real control plane, kubectl and skiff-virtual-node;
// FakeHub test double (its state survives its restart like the real hub's store).
#include <gtest/gtest.h>

#include "tests/support/status_assert.h"
#include "tests/virtual_node/vn_env.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

constexpr auto kWait = std::chrono::seconds(60);

const char* kDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 3
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      nodeSelector: {device.skiff.io/site: a}
      tolerations:
      - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}
      containers:
      - name: app
        image: 127.0.0.1:5000/busybox:1
)";

class VirtualNodeRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIFF_ASSERT_OK(env.setUp("vn-restart"));
    env.hub().addDevice("pi-a", {{"site", "a"}}, testFacts());
    SKIFF_ASSERT_OK(env.startVirtualNode(false));
    SKIFF_ASSERT_OK(env.kubectl().ok({"apply", "-f", env.manifest("app.yaml", kDeployment)}));
    ASSERT_TRUE(waitFor([&] { return runningPods() == 3; }, kWait)) << env.diagnostics();
    ASSERT_EQ(env.hub().deployments().size(), 3u);
  }

  int runningPods() {
    int n = 0;
    for (const auto& r : env.podRows()) n += r.at("STATUS") == "Running" && r.at("READY") == "1/1";
    return n;
  }

  std::set<std::string> podUids() {
    std::set<std::string> out;
    for (const auto& p : env.pods("app-")) out.insert(p["metadata"].value("uid", ""));
    return out;
  }

  std::set<std::string> hubPodUids() {
    std::set<std::string> out;
    for (const auto& d : env.hub().deployments())
      out.insert(d.annotations().at("skiff.io/pod-uid"));
    return out;
  }

  VnEnv env;
};

TEST_F(VirtualNodeRestartTest, VirtualNodeRestartAdoptsWhatTheHubRuns) {
  auto uids = podUids();
  int applies = env.hub().applyCalls();
  EXPECT_EQ(env.vn().stop(), 0) << "SIGTERM must shut down cleanly\n" << env.vn().logContents();
  SKIFF_ASSERT_OK(env.vn().restart());
  ASSERT_TRUE(waitFor(
      [&] { return env.vn().logContents().find("virtual node ready") != std::string::npos; },
      kWait));
  std::this_thread::sleep_for(3s);  // several sync passes
  EXPECT_EQ(runningPods(), 3) << env.diagnostics();
  EXPECT_EQ(podUids(), uids);
  EXPECT_EQ(hubPodUids(), uids);
  EXPECT_EQ(env.hub().applyCalls(), applies) << "a restarted virtual node re-applied deployments";
  EXPECT_EQ(env.hub().deployments().size(), 3u);
}

TEST_F(VirtualNodeRestartTest, DeletionsWhileDownAreCompletedAfterKill9) {
  env.vn().kill9();
  // A graceful delete (waits for the kubelet) and a force delete (gone from the API at once).
  auto pods = env.pods("app-");
  ASSERT_EQ(pods.size(), 3u);
  std::string graceful = pods[0]["metadata"]["name"];
  std::string forced = pods[1]["metadata"]["name"];
  std::string forcedUid = pods[1]["metadata"]["uid"];
  SKIFF_ASSERT_OK(env.kubectl().ok({"delete", "pod", graceful, "--wait=false"}));
  SKIFF_ASSERT_OK(env.kubectl().ok({"delete", "pod", forced, "--grace-period=0", "--force"}));
  SKIFF_ASSERT_OK(env.vn().restart());
  // The ReplicaSet's replacements run; the graceful deletion completes; the orphan's deployment
  // leaves the hub; in the end the hub runs exactly the API's pods.
  ASSERT_TRUE(waitFor(
      [&] {
        auto uids = podUids();
        return runningPods() == 3 && uids.size() == 3 && hubPodUids() == uids &&
               !hubPodUids().contains(forcedUid);
      },
      kWait))
      << env.diagnostics();
  for (const auto& p : env.pods("app-")) {
    EXPECT_NE(p["metadata"].value("name", ""), graceful);
    EXPECT_NE(p["metadata"].value("name", ""), forced);
  }
}

TEST_F(VirtualNodeRestartTest, ControlPlaneRestartNeitherDuplicatesNorLoses) {
  auto uids = podUids();
  int applies = env.hub().applyCalls();
  SKIFF_ASSERT_OK(env.cp().restart());
  // Work done after the restart proves the virtual node's watches recovered.
  SKIFF_ASSERT_OK(env.kubectl().ok({"scale", "deployment", "app", "--replicas=4"}));
  ASSERT_TRUE(waitFor([&] { return runningPods() == 4; }, kWait)) << env.diagnostics();
  auto now = podUids();
  for (const auto& u : uids) EXPECT_TRUE(now.contains(u)) << "pod " << u << " was lost";
  EXPECT_EQ(hubPodUids(), now);
  EXPECT_EQ(env.hub().applyCalls(), applies + 1) << "only the new pod was applied";
  SKIFF_ASSERT_OK(env.kubectl().ok({"scale", "deployment", "app", "--replicas=2"}));
  ASSERT_TRUE(waitFor([&] { return podUids().size() == 2 && hubPodUids() == podUids(); }, kWait))
      << env.diagnostics();
}

TEST_F(VirtualNodeRestartTest, HubRestartNeitherDuplicatesNorLoses) {
  auto uids = podUids();
  env.hub().stopServer();
  // While the hub is away the node turns NotReady and nothing is lost.
  ASSERT_TRUE(waitFor(
      [&] {
        auto n = env.getJson({"node", "skiff-fleet"});
        return n.isOk() && n->dump().find("HubUnreachable") != std::string::npos;
      },
      kWait))
      << env.diagnostics();
  SKIFF_ASSERT_OK(env.hub().startServer());
  SKIFF_ASSERT_OK(env.kubectl().ok({"scale", "deployment", "app", "--replicas=4"}));
  ASSERT_TRUE(waitFor([&] { return runningPods() == 4; }, kWait)) << env.diagnostics();
  auto now = podUids();
  for (const auto& u : uids) EXPECT_TRUE(now.contains(u));
  EXPECT_EQ(hubPodUids(), now);
  EXPECT_EQ(env.hub().deployments().size(), 4u);
  ASSERT_TRUE(waitFor(
      [&] {
        auto n = env.getJson({"node", "skiff-fleet"});
        return n.isOk() && n->dump().find("HubReady") != std::string::npos;
      },
      kWait));
}

}  // namespace
}  // namespace skiff::test
