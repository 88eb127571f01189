// The virtual node survives restarts of the control plane and of the hub (SIGTERM and kill -9)
// with real agents running, without duplicating or losing pods: pods keep their UIDs, the hub
// keeps exactly one deployment per pod, the devices keep the same containers (nothing is
// re-applied), changes made while a peer was down are carried out once it is back, and the
// virtual node's own restart adopts everything. Fleet mode, two real agents on Podman.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "tests/e2e/system.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

constexpr auto kWait = std::chrono::seconds(90);

std::string deployment(const std::string& name, const std::string& site, int replicas,
                       const std::string& image) {
  return R"y(apiVersion: apps/v1
kind: Deployment
metadata:
  name: )y" +
         name +
         R"y(
spec:
  replicas: )y" +
         std::to_string(replicas) +
         R"y(
  selector:
    matchLabels: {app: )y" +
         name +
         R"y(}
  template:
    metadata:
      labels: {app: )y" +
         name +
         R"y(}
    spec:
      terminationGracePeriodSeconds: 1
      nodeSelector:
        device.skiff.io/site: )y" +
         site +
         R"y(
      tolerations:
      - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}
      containers:
      - name: app
        image: )y" +
         image +
         R"y(
        command: ["sleep", "3600"]
)y";
}

// What must not change across restarts.
struct Snapshot {
  std::map<std::string, std::string> podUids;     // name → uid
  std::set<std::string> deployments;              // hub deployment ids
  std::map<std::string, std::string> containers;  // module → container id (both agents)
  bool operator==(const Snapshot&) const = default;
};

std::string describe(const Snapshot& s) {
  std::string out = "pods:";
  for (const auto& [n, u] : s.podUids) out += " " + n + "=" + u.substr(0, 8);
  out += "\ndeployments:";
  for (const auto& d : s.deployments) out += " " + d;
  out += "\ncontainers:";
  for (const auto& [m, c] : s.containers) out += " " + m + "=" + c.substr(0, 12);
  return out;
}

Snapshot snapshot(System& sys) {
  Snapshot s;
  for (const auto& p : sys.pods("")) {
    s.podUids[p["metadata"].value("name", "")] = p["metadata"].value("uid", "");
  }
  auto deps = sys.hubDeployments();
  if (deps.isOk()) {
    for (const auto& d : (*deps)["items"]) s.deployments.insert(d.value("id", ""));
  }
  for (const std::string dev : {"pi-a", "pi-b"}) {
    auto c = sys.containers(dev);
    if (!c.isOk()) continue;
    for (const auto& ctr : *c) {
      // Pod members by module, each pod's sandbox (infra container) as "<pod>/(sandbox)".
      std::string module = ctr["Labels"].value("io.skiff.module", "");
      if (module.empty()) module = ctr["Labels"].value("io.skiff.pod", "?") + "/(sandbox)";
      s.containers[module] = ctr.value("Id", "");
    }
  }
  return s;
}

// Every pod Running and ready, one hub deployment and one running container per pod.
bool settled(System& sys, std::size_t pods) {
  auto list = sys.pods("");
  if (list.size() != pods) return false;
  for (const auto& p : list) {
    if (p["status"].value("phase", "") != "Running") return false;
    const Json& cs = p["status"].value("containerStatuses", Json::array());
    if (cs.empty() || !cs[0].value("ready", false)) return false;
  }
  auto deps = sys.hubDeployments();
  if (!deps.isOk() || (*deps)["items"].size() != pods) return false;
  return sys.runningModules("pi-a").size() + sys.runningModules("pi-b").size() == pods;
}

TEST(E2eRestarts, VirtualNodeSurvivesControlPlaneAndHubRestarts) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto sys,
                             System::create({.name = "e2e-restart", .controlPlane = true}));
  SKIFF_ASSERT_OK(sys->addAgent("pi-a", {{"site", "a"}}));
  SKIFF_ASSERT_OK(sys->addAgent("pi-b", {{"site", "b"}}));
  SKIFF_ASSERT_OK(sys->startVirtualNode(false));
  ASSERT_TRUE(eventually([&] { return sys->nodeReady("skiff-fleet"); }, kWait))
      << sys->diagnostics();
  std::string image = sys->registry().imageRef("latest");
  std::string webA = sys->file("web-a.yaml", deployment("web-a", "a", 2, image));
  std::string webB = sys->file("web-b.yaml", deployment("web-b", "b", 1, image));
  SKIFF_ASSERT_OK(sys->kubectl().ok({"apply", "-f", webA, "-f", webB}));
  ASSERT_TRUE(eventually([&] { return settled(*sys, 3); }, kWait)) << sys->diagnostics();
  Snapshot before = snapshot(*sys);
  ASSERT_EQ(before.containers.size(), 6u) << describe(before);  // 3 pods: sandbox + app

  // 1. Control plane: clean restart, then kill -9 and restart.
  ASSERT_EQ(sys->controlPlane().stop(), 0);
  std::this_thread::sleep_for(2s);  // the virtual node sees its watches fail and retries
  SKIFF_ASSERT_OK(sys->controlPlane().restart());
  ASSERT_TRUE(eventually([&] { return settled(*sys, 3); }, kWait)) << sys->diagnostics();
  EXPECT_EQ(snapshot(*sys), before) << describe(snapshot(*sys)) << "\nbefore:\n"
                                    << describe(before);
  sys->controlPlane().kill9();
  SKIFF_ASSERT_OK(sys->controlPlane().restart());
  ASSERT_TRUE(eventually([&] { return settled(*sys, 3); }, kWait)) << sys->diagnostics();
  EXPECT_EQ(snapshot(*sys), before) << describe(snapshot(*sys));
  ASSERT_TRUE(eventually([&] { return sys->nodeReady("skiff-fleet"); }, kWait));

  // 2. Hub: clean restart. While it is down the fleet Node turns NotReady (HubUnreachable) and a
  // scale-up waits; once it is back nothing is duplicated and the new pod runs.
  sys->hub().stopHub();
  ASSERT_TRUE(eventually([&] { return !sys->nodeReady("skiff-fleet"); }, kWait))
      << sys->diagnostics();
  SKIFF_ASSERT_OK(sys->kubectl().ok({"scale", "deployment", "web-b", "--replicas=2"}));
  std::this_thread::sleep_for(2s);
  SKIFF_ASSERT_OK(sys->hub().startHub());
  ASSERT_TRUE(eventually([&] { return sys->nodeReady("skiff-fleet"); }, kWait))
      << sys->diagnostics();
  ASSERT_TRUE(eventually([&] { return settled(*sys, 4); }, kWait)) << sys->diagnostics();
  Snapshot afterHub = snapshot(*sys);
  for (const auto& [name, uid] : before.podUids) {
    EXPECT_EQ(afterHub.podUids[name], uid) << name;
  }
  for (const auto& [module, id] : before.containers) {
    EXPECT_EQ(afterHub.containers[module], id) << module << " was replaced";
  }
  EXPECT_EQ(afterHub.deployments.size(), 4u) << describe(afterHub);

  // 3. Hub kill -9 (its write-behind state may lag) and the virtual node's own restart.
  sys->hub().killHub();
  SKIFF_ASSERT_OK(sys->hub().startHub());
  SKIFF_ASSERT_OK(sys->virtualNode().restart());
  ASSERT_TRUE(eventually([&] { return sys->nodeReady("skiff-fleet"); }, kWait))
      << sys->diagnostics();
  ASSERT_TRUE(eventually([&] { return settled(*sys, 4); }, kWait)) << sys->diagnostics();
  EXPECT_EQ(snapshot(*sys), afterHub) << describe(snapshot(*sys)) << "\nbefore:\n"
                                      << describe(afterHub);

  // Everything still works: scale down removes exactly one pod and its container.
  SKIFF_ASSERT_OK(sys->kubectl().ok({"scale", "deployment", "web-a", "--replicas=1"}));
  ASSERT_TRUE(eventually([&] { return settled(*sys, 3); }, kWait)) << sys->diagnostics();
  EXPECT_EQ(sys->runningModules("pi-a").size(), 1u);
  EXPECT_EQ(sys->runningModules("pi-b").size(), 2u);
}

}  // namespace
}  // namespace skiff::test
