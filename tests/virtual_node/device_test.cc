// Device mode end to end (--node-per-device): one Node per hub device with its labels under
// device.skiff.io/, a DaemonSet with a device-label nodeSelector gets one pod per matching device
// and each pod's deployment targets exactly its device; devices going offline make their Node
// NotReady and their pod show it; devices added/removed on the hub appear/disappear as Nodes;
// `kubectl logs` reads the pod's own device. Real control plane and kubectl, FakeHub test double.
#include <gtest/gtest.h>

#include "tests/support/status_assert.h"
#include "tests/virtual_node/vn_env.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

constexpr auto kWait = std::chrono::seconds(60);

const char* kDaemonSet = R"(apiVersion: apps/v1
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
      nodeSelector:
        device.skiff.io/site: a
      tolerations:
      - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}
      containers:
      - name: reader
        image: 127.0.0.1:5000/busybox:1
        command: ["sh", "-c", "while true; do echo reading; sleep 5; done"]
        securityContext: {privileged: true}
        volumeMounts:
        - {name: gpio, mountPath: /dev/gpiomem}
      volumes:
      - name: gpio
        hostPath: {path: /dev/gpiomem}
)";

class VirtualNodeDeviceModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIFF_ASSERT_OK(env.setUp("vn-device"));
    env.hub().addDevice("pi-a", {{"site", "a"}, {"example.com/owner", "ops"}},
                        testFacts("arm64", 4, 4LL << 30));
    env.hub().addDevice("pi-b", {{"site", "b"}}, testFacts("arm", 1, 1LL << 30));
    env.hub().addDevice("pi-c", {{"site", "a"}}, testFacts("arm64", 4, 8LL << 30));
    SKIFF_ASSERT_OK(env.startVirtualNode(true));
  }

  std::string readyOf(const std::string& node) {
    auto n = env.getJson({"node", node});
    if (!n.isOk()) return "";
    for (const auto& c : (*n)["status"]["conditions"]) {
      if (c.value("type", "") == "Ready") return c.value("status", "");
    }
    return "";
  }

  // Pods of the DaemonSet by node.
  std::map<std::string, Json> sensorPods() {
    std::map<std::string, Json> out;
    for (const auto& p : env.pods("sensor-")) {
      if (p["metadata"].contains("deletionTimestamp")) continue;
      out[p["spec"].value("nodeName", "")] = p;
    }
    return out;
  }

  VnEnv env;
};

TEST_F(VirtualNodeDeviceModeTest, NodesPerDeviceDaemonSetAndPresence) {
  ASSERT_TRUE(waitFor(
      [&] {
        return readyOf("pi-a") == "True" && readyOf("pi-b") == "True" && readyOf("pi-c") == "True";
      },
      kWait))
      << env.diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json a, env.getJson({"node", "pi-a"}));
  const Json& labels = a["metadata"]["labels"];
  EXPECT_EQ(labels.value("device.skiff.io/site", ""), "a");
  EXPECT_EQ(labels.value("kubernetes.io/arch", ""), "arm64");
  EXPECT_EQ(labels.value("skiff.io/device-id", ""), "pi-a");
  EXPECT_EQ(labels.value("type", ""), "virtual-kubelet");
  EXPECT_FALSE(labels.contains("device.skiff.io/example.com/owner"));  // prefixed keys do not fit
  EXPECT_EQ(a["status"]["capacity"].value("cpu", ""), "4");
  EXPECT_EQ(a["status"]["capacity"].value("memory", ""), std::to_string(4LL << 30));
  EXPECT_EQ(a["status"]["nodeInfo"].value("architecture", ""), "arm64");

  SKIFF_ASSERT_OK(env.kubectl().ok({"apply", "-f", env.manifest("ds.yaml", kDaemonSet)}));
  ASSERT_TRUE(waitFor(
      [&] {
        auto pods = sensorPods();
        if (pods.size() != 2 || !pods.contains("pi-a") || !pods.contains("pi-c")) return false;
        for (const auto& [node, p] : pods) {
          if (p["status"].value("phase", "") != "Running") return false;
        }
        return true;
      },
      kWait))
      << env.diagnostics();
  // Each pod's deployment targets exactly its device.
  auto deps = env.hub().deployments();
  ASSERT_EQ(deps.size(), 2u);
  std::set<std::string> selectors;
  for (const auto& d : deps) selectors.insert(d.target_selector());
  EXPECT_EQ(selectors,
            (std::set<std::string>{"skiff.io/device-id=pi-a", "skiff.io/device-id=pi-c"}));
  EXPECT_TRUE(env.hub().desiredPods("pi-b").empty());
  auto pods = env.hub().desiredPods("pi-a");
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_TRUE(pods[0].containers[0].securityContext.privileged);
  ASSERT_EQ(pods[0].volumes.size(), 1u);
  EXPECT_EQ(pods[0].volumes[0].hostPath, "/dev/gpiomem");

  // Logs come from the pod's own device, without a device header.
  std::string podA = sensorPods()["pi-a"]["metadata"]["name"];
  env.hub().appendLog("pi-a", podA + "/reader", "reading on pi-a\n");
  env.hub().appendLog("pi-c", sensorPods()["pi-c"]["metadata"].value("name", "") + "/reader",
                      "reading on pi-c\n");
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string logs, env.kubectl().ok({"logs", podA}));
  EXPECT_EQ(logs, "reading on pi-a\n");

  // pi-c goes offline: its Node turns NotReady and its pod shows the device offline.
  env.hub().setOnline("pi-c", false);
  ASSERT_TRUE(waitFor([&] { return readyOf("pi-c") == "False"; }, kWait)) << env.diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json c, env.getJson({"node", "pi-c"}));
  EXPECT_NE(c["status"].dump().find("DeviceOffline"), std::string::npos);
  ASSERT_TRUE(waitFor(
      [&] {
        auto pods = sensorPods();
        if (!pods.contains("pi-c")) return false;
        Json s = Json::parse(pods["pi-c"]["metadata"]
                                 .value("annotations", Json::object())
                                 .value("skiff.io/devices", "{}"));
        return s.value("offline", 0) == 1;
      },
      kWait))
      << env.diagnostics();
  Json pc = sensorPods()["pi-c"];
  bool notReady = false;
  for (const auto& cond : pc["status"]["conditions"]) {
    if (cond.value("type", "") == "Ready") {
      notReady = cond.value("status", "") == "False" && cond.value("reason", "") == "DeviceOffline";
    }
  }
  EXPECT_TRUE(notReady) << pc["status"].dump();
  env.hub().setOnline("pi-c", true);
  EXPECT_TRUE(waitFor([&] { return readyOf("pi-c") == "True"; }, kWait));

  // A device added on the hub becomes a Node and gets the DaemonSet's pod; a removed one goes.
  env.hub().addDevice("pi-d", {{"site", "a"}}, testFacts("arm64", 2, 2LL << 30));
  ASSERT_TRUE(waitFor([&] { return sensorPods().contains("pi-d"); }, kWait)) << env.diagnostics();
  env.hub().removeDevice("pi-b");
  EXPECT_TRUE(waitFor(
      [&] {
        return !env.getJson({"node", "pi-b"}).isOk();
      },
      kWait))
      << env.diagnostics();
  // Relabelling pi-a away from site=a moves the DaemonSet's pod off it.
  env.hub().setLabels("pi-a", {{"site", "z"}});
  EXPECT_TRUE(waitFor([&] { return !sensorPods().contains("pi-a"); }, kWait)) << env.diagnostics();
  EXPECT_TRUE(waitFor([&] { return env.hub().desiredPods("pi-a").empty(); }, kWait));
}

}  // namespace
}  // namespace skiff::test
