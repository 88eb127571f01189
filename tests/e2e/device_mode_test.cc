// Issue #9's device mode end to end: skiff-virtual-node --node-per-device against the real hub
// with three real agents (site=a, site=b, site=a) on Podman. Every device is a Node carrying its
// labels under device.skiff.io/ and its real facts; a DaemonSet selecting device.skiff.io/site=a
// gets one pod per matching device, each Running on exactly its agent; `kubectl logs` reads the
// pod's own device; SIGKILLing an agent (its Last Will fires) makes its Node NotReady and its
// pod show the device offline; restarting it brings both back; relabelling a device with
// skiffctl moves the DaemonSet's pod (and its container) off it.
#include <gtest/gtest.h>

#include <set>

#include "common/fs.h"

#include "tests/e2e/system.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

constexpr auto kWait = std::chrono::seconds(90);

std::string daemonSet(const std::string& image) {
  return R"y(apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: sensor
spec:
  selector:
    matchLabels: {app: sensor}
  template:
    metadata:
      labels: {app: sensor}
    spec:
      terminationGracePeriodSeconds: 1
      nodeSelector:
        device.skiff.io/site: a
      tolerations:
      - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}
      containers:
      - name: reader
        image: )y" +
         image + R"y(
        command: ["sh", "-c", "echo reading on $NODE; sleep 3600"]
        env:
        - name: NODE
          valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
)y";
}

std::string readyOf(System& sys, const std::string& node, std::string* reason = nullptr) {
  auto n = sys.getJson({"node", node});
  if (!n.isOk()) return "";
  for (const auto& c : (*n)["status"]["conditions"]) {
    if (c.value("type", "") == "Ready") {
      if (reason) *reason = c.value("reason", "");
      return c.value("status", "");
    }
  }
  return "";
}

// The DaemonSet's live pods by node.
std::map<std::string, Json> sensorPods(System& sys) {
  std::map<std::string, Json> out;
  for (const auto& p : sys.pods("sensor-")) {
    if (p["metadata"].contains("deletionTimestamp")) continue;
    out[p["spec"].value("nodeName", "")] = p;
  }
  return out;
}

Json devicesSummary(const Json& pod) {
  return Json::parse(
      pod["metadata"].value("annotations", Json::object()).value("skiff.io/devices", "{}"));
}

TEST(E2eDeviceMode, NodePerDeviceDaemonSetPresenceAndRelabel) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto sys,
                             System::create({.name = "e2e-device", .controlPlane = true}));
  SKIFF_ASSERT_OK(sys->addAgent("pi-a", {{"site", "a"}}));
  SKIFF_ASSERT_OK(sys->addAgent("pi-b", {{"site", "b"}}));
  SKIFF_ASSERT_OK(sys->addAgent("pi-c", {{"site", "a"}, {"zone", "north"}}));
  SKIFF_ASSERT_OK(sys->startVirtualNode(true));
  ASSERT_TRUE(eventually(
      [&] {
        return readyOf(*sys, "pi-a") == "True" && readyOf(*sys, "pi-b") == "True" &&
               readyOf(*sys, "pi-c") == "True";
      },
      kWait))
      << sys->diagnostics();

  // One Node per device: its labels under device.skiff.io/, its real facts.
  SKIFF_ASSERT_OK_AND_ASSIGN(Json c, sys->getJson({"node", "pi-c"}));
  const Json& labels = c["metadata"]["labels"];
  EXPECT_EQ(labels.value("device.skiff.io/site", ""), "a");
  EXPECT_EQ(labels.value("device.skiff.io/zone", ""), "north");
  EXPECT_EQ(labels.value("skiff.io/device-id", ""), "pi-c");
  EXPECT_EQ(labels.value("kubernetes.io/arch", ""), "amd64") << "the agent's real uname";
  EXPECT_NE(c["status"]["capacity"].value("cpu", ""), "");
  EXPECT_NE(c["status"]["nodeInfo"].value("containerRuntimeVersion", ""), "")
      << c["status"]["nodeInfo"].dump();

  // The DaemonSet: one pod on each site=a device, Running on exactly that agent.
  std::string image = sys->registry().imageRef("latest");
  std::string ds = sys->file("ds.yaml", daemonSet(image));
  SKIFF_ASSERT_OK(sys->kubectl().ok({"apply", "-f", ds}));
  ASSERT_TRUE(eventually(
      [&] {
        auto pods = sensorPods(*sys);
        if (pods.size() != 2 || !pods.contains("pi-a") || !pods.contains("pi-c")) return false;
        for (const auto& [node, p] : pods) {
          if (p["status"].value("phase", "") != "Running") return false;
          std::string name = p["metadata"].value("name", "");
          if (sys->runningModules(node) != std::vector<std::string>{name + "/reader"}) {
            return false;
          }
        }
        return true;
      },
      kWait))
      << sys->diagnostics();
  EXPECT_TRUE(sys->containers("pi-b")->empty()) << "pi-b is site=b";
  SKIFF_ASSERT_OK_AND_ASSIGN(Json deps, sys->hubDeployments());
  std::set<std::string> selectors;
  for (const auto& d : deps["items"]) selectors.insert(d.value("targetSelector", ""));
  EXPECT_EQ(selectors,
            (std::set<std::string>{"skiff.io/device-id=pi-a", "skiff.io/device-id=pi-c"}));

  // Logs come from the pod's own device (no header in device mode).
  std::string podC = sensorPods(*sys)["pi-c"]["metadata"].value("name", "");
  std::string logs;
  ASSERT_TRUE(eventually([&] {
    auto r = sys->kubectl().run({"logs", podC});
    logs = r.isOk() ? r->output : r.status().toString();
    return r.isOk() && r->exitCode == 0 && !logs.empty();
  })) << logs;
  EXPECT_EQ(logs, "reading on pi-c\n");

  // kill -9 pi-c's agent: the broker publishes its Last Will, the Node turns NotReady and the
  // pod shows the device offline. Its container keeps running (nothing stops it). A `kubectl
  // logs -f` following it ends instead of hanging.
  SubprocessOptions fo;
  fo.argv = {"kubectl", "logs", "-f", podC};
  fo.env = sys->kubectl().env();
  fo.logFile = sys->dir() + "/kubectl-logs-f.log";
  SKIFF_ASSERT_OK_AND_ASSIGN(Subprocess follow, Subprocess::start(fo));
  ASSERT_TRUE(eventually([&] {
    return common::readFile(fo.logFile).valueOr("").find("reading on pi-c") != std::string::npos;
  })) << common::readFile(fo.logFile).valueOr("");
  SKIFF_ASSERT_OK(sys->agent("pi-c").kill9());
  EXPECT_TRUE(eventually([&] { return !follow.isRunning(); }, 30s))
      << "kubectl logs -f still following a dead device: "
      << common::readFile(fo.logFile).valueOr("");
  std::string reason;
  ASSERT_TRUE(eventually([&] { return readyOf(*sys, "pi-c", &reason) == "False"; }, kWait))
      << sys->diagnostics();
  EXPECT_EQ(reason, "DeviceOffline");
  EXPECT_EQ(readyOf(*sys, "pi-a"), "True");
  ASSERT_TRUE(eventually(
      [&] {
        auto pods = sensorPods(*sys);
        return pods.contains("pi-c") && devicesSummary(pods["pi-c"]).value("offline", 0) == 1;
      },
      kWait))
      << sys->diagnostics();
  Json pc = sensorPods(*sys)["pi-c"];
  std::string readyReason;
  for (const auto& cond : pc["status"]["conditions"]) {
    if (cond.value("type", "") == "Ready") {
      readyReason = cond.value("status", "") + "/" + cond.value("reason", "");
    }
  }
  EXPECT_EQ(readyReason, "False/DeviceOffline") << pc["status"].dump();
  EXPECT_EQ(devicesSummary(pc)["devices"].value("pi-c", ""), "offline") << pc.dump();
  EXPECT_EQ(sys->runningModules("pi-c").size(), 1u);

  // The agent comes back: Ready again, the pod ready, the same container (offline autonomy).
  SKIFF_ASSERT_OK(sys->agent("pi-c").start());
  ASSERT_TRUE(eventually([&] { return readyOf(*sys, "pi-c") == "True"; }, kWait))
      << sys->diagnostics();
  ASSERT_TRUE(eventually(
      [&] {
        auto pods = sensorPods(*sys);
        if (!pods.contains("pi-c")) return false;
        Json s = devicesSummary(pods["pi-c"]);
        return s.value("running", 0) == 1 && s.value("offline", 1) == 0;
      },
      kWait))
      << sys->diagnostics();

  // Relabel pi-a with skiffctl: the Node's labels follow, the DaemonSet's pod leaves it and the
  // agent removes the container.
  SKIFF_ASSERT_OK(sys->skiffctlOk({"device", "label", "pi-a", "site=z"}));
  ASSERT_TRUE(eventually(
      [&] {
        auto n = sys->getJson({"node", "pi-a"});
        return n.isOk() && (*n)["metadata"]["labels"].value("device.skiff.io/site", "") == "z";
      },
      kWait))
      << sys->diagnostics();
  ASSERT_TRUE(eventually([&] { return !sensorPods(*sys).contains("pi-a"); }, kWait))
      << sys->diagnostics();
  ASSERT_TRUE(eventually([&] { return sys->containers("pi-a")->empty(); }, kWait))
      << sys->diagnostics();

  // Deleting the DaemonSet while pi-c is offline: the deletion completes (an offline device does
  // not hold it up), and pi-c removes the container when it comes back (its retained desired
  // state no longer has the module).
  SKIFF_ASSERT_OK(sys->agent("pi-c").kill9());
  ASSERT_TRUE(eventually([&] { return readyOf(*sys, "pi-c") == "False"; }, kWait))
      << sys->diagnostics();
  SKIFF_ASSERT_OK(sys->kubectl().ok({"delete", "-f", ds}, 120s));
  ASSERT_TRUE(eventually([&] { return sys->pods("sensor-").empty(); }, kWait))
      << sys->diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(deps, sys->hubDeployments());
  EXPECT_TRUE(deps["items"].empty()) << deps.dump();
  EXPECT_EQ(sys->runningModules("pi-c").size(), 1u) << "pi-c is offline: nobody removed it yet";
  SKIFF_ASSERT_OK(sys->agent("pi-c").start());
  ASSERT_TRUE(eventually([&] { return sys->containers("pi-c")->empty(); }, kWait))
      << sys->diagnostics();

  // A device removed on the hub: its Node goes away.
  SKIFF_ASSERT_OK(sys->skiffctlOk({"device", "remove", "pi-b"}));
  ASSERT_TRUE(eventually(
      [&] {
        return !sys->getJson({"node", "pi-b"}).isOk();
      },
      kWait))
      << sys->diagnostics();
  EXPECT_EQ(readyOf(*sys, "pi-a"), "True");
}

}  // namespace
}  // namespace skiff::test
