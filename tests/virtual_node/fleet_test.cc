// Fleet mode end to end: the real skiff-control-plane and kubectl, the real skiff-virtual-node
// with its edge provider, and the in-process FakeHub (a test double of hub.proto with simulated
// device reports). A Deployment with a device selector becomes a hub deployment on the matching
// devices only, its pod shows the devices' real container states, `kubectl logs` streams a
// device's log through pods/log and the kubelet endpoint, an image change updates in place, and
// deletion completes only once the devices report the modules gone.
#include <gtest/gtest.h>

#include <regex>

#include "edge_provider/deployment_id.h"
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
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      nodeSelector:
        type: virtual-kubelet
        device.skiff.io/site: a
      tolerations:
      - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}
      containers:
      - name: web
        image: 127.0.0.1:5000/busybox:IMAGE_TAG
        command: ["httpd", "-f", "-p", "8080"]
        env:
        - {name: GREETING, value: hello}
        ports:
        - {containerPort: 8080, hostPort: 18080}
        resources:
          limits: {cpu: 250m, memory: 64Mi}
)";

std::string deploymentYaml(const std::string& tag) {
  std::string y = kDeployment;
  y.replace(y.find("IMAGE_TAG"), 9, tag);
  return y;
}

class VirtualNodeFleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIFF_ASSERT_OK(env.setUp("vn-fleet"));
    env.hub().addDevice("pi-a", {{"site", "a"}}, testFacts("arm64", 4, 4LL << 30));
    env.hub().addDevice("pi-b", {{"site", "b"}}, testFacts("arm64", 2, 2LL << 30));
    SKIFF_ASSERT_OK(env.startVirtualNode(false));
  }

  bool nodeReady(const std::string& name) {
    auto n = env.getJson({"node", name});
    if (!n.isOk()) return false;
    for (const auto& c : (*n)["status"]["conditions"]) {
      if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
    }
    return false;
  }

  VnEnv env;
};

TEST_F(VirtualNodeFleetTest, RegistersOneNodeWithFleetCapacityAndLease) {
  ASSERT_TRUE(waitFor([&] { return nodeReady("skiff-fleet"); }, kWait)) << env.diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json node, env.getJson({"node", "skiff-fleet"}));
  const Json& labels = node["metadata"]["labels"];
  EXPECT_EQ(labels.value("type", ""), "virtual-kubelet");
  EXPECT_EQ(labels.value("kubernetes.io/role", ""), "agent");
  EXPECT_EQ(labels.value("skiff.io/fleet", ""), "true");
  bool tainted = false;
  for (const auto& t : node["spec"]["taints"]) {
    tainted = tainted || (t.value("key", "") == "virtual-kubelet.io/provider" &&
                          t.value("value", "") == "skiff" && t.value("effect", "") == "NoSchedule");
  }
  EXPECT_TRUE(tainted) << node.dump();
  // Capacity = sum over online devices: 4 + 2 CPUs, 4 + 2 GiB.
  EXPECT_EQ(node["status"]["capacity"].value("cpu", ""), "6000m");
  EXPECT_EQ(node["status"]["capacity"].value("memory", ""), std::to_string(6LL << 30));
  EXPECT_EQ(node["status"]["daemonEndpoints"]["kubeletEndpoint"].value("Port", 0),
            env.vn().kubeletPort());
  EXPECT_EQ(node["status"]["addresses"][0].value("address", ""), "127.0.0.1");
  // A device going offline lowers the capacity.
  env.hub().setOnline("pi-b", false);
  EXPECT_TRUE(waitFor(
      [&] {
        auto n = env.getJson({"node", "skiff-fleet"});
        return n.isOk() && (*n)["status"]["capacity"].value("cpu", "") == "4000m";
      },
      kWait));
  // The Lease is renewed (1 s here).
  SKIFF_ASSERT_OK_AND_ASSIGN(Json lease1,
                             env.getJson({"lease", "-n", "kube-node-lease", "skiff-fleet"}));
  EXPECT_EQ(lease1["spec"].value("leaseDurationSeconds", 0), 4);
  std::string renew1 = lease1["spec"].value("renewTime", "");
  EXPECT_TRUE(waitFor(
      [&] {
        auto l = env.getJson({"lease", "-n", "kube-node-lease", "skiff-fleet"});
        return l.isOk() && (*l)["spec"].value("renewTime", "") != renew1;
      },
      10s));
  // The broker going away makes the node NotReady with the reason.
  env.hub().setBrokerConnected(false);
  EXPECT_TRUE(waitFor([&] { return !nodeReady("skiff-fleet"); }, kWait));
  SKIFF_ASSERT_OK_AND_ASSIGN(Json notReady, env.getJson({"node", "skiff-fleet"}));
  EXPECT_NE(notReady.dump().find("BrokerDisconnected"), std::string::npos);
  env.hub().setBrokerConnected(true);
  EXPECT_TRUE(waitFor([&] { return nodeReady("skiff-fleet"); }, kWait));
}

TEST_F(VirtualNodeFleetTest, DeploymentLifecycleThroughTheHub) {
  ASSERT_TRUE(waitFor([&] { return nodeReady("skiff-fleet"); }, kWait)) << env.diagnostics();
  std::string path = env.manifest("web.yaml", deploymentYaml("1"));
  SKIFF_ASSERT_OK(env.kubectl().ok({"apply", "-f", path}));

  // The pod becomes exactly one hub deployment targeting site=a.
  ASSERT_TRUE(waitFor([&] { return env.hub().deployments().size() == 1; }, kWait))
      << env.diagnostics();
  auto pods = env.pods("web-");
  ASSERT_EQ(pods.size(), 1u);
  std::string podName = pods[0]["metadata"]["name"];
  std::string uid = pods[0]["metadata"]["uid"];
  std::string id = edge_provider::deploymentIdFor("default", podName, uid);
  auto dep = env.hub().deployment(id);
  ASSERT_TRUE(dep.has_value());
  EXPECT_EQ(dep->target_selector(), "site=a");
  EXPECT_EQ(dep->annotations().at("skiff.io/pod-namespace"), "default");
  EXPECT_EQ(dep->annotations().at("skiff.io/pod-name"), podName);
  EXPECT_EQ(dep->annotations().at("skiff.io/pod-uid"), uid);
  EXPECT_EQ(dep->annotations().at("skiff.io/node"), "skiff-fleet");
  EXPECT_EQ(dep->labels().at("skiff.io/virtual-node"), "skiff-fleet");
  auto desired = env.hub().desiredPods("pi-a");
  ASSERT_EQ(desired.size(), 1u);
  EXPECT_EQ(desired[0].name, podName);
  ASSERT_EQ(desired[0].containers.size(), 1u);
  auto modules = desired[0].containers;
  EXPECT_EQ(modules[0].name, "web");
  EXPECT_EQ(modules[0].image, "127.0.0.1:5000/busybox:1");
  EXPECT_EQ(modules[0].command, (std::vector<std::string>{"httpd", "-f", "-p", "8080"}));
  ASSERT_EQ(modules[0].env.size(), 1u);
  EXPECT_EQ(modules[0].env[0].value, "hello");
  ASSERT_EQ(modules[0].ports.size(), 1u);
  EXPECT_EQ(modules[0].ports[0].hostPort, 18080);
  EXPECT_EQ(modules[0].resources.cpuMillis, 250);
  EXPECT_EQ(modules[0].resources.memoryBytes, 64LL << 20);
  EXPECT_TRUE(env.hub().desiredPods("pi-b").empty()) << "pi-b is site=b";

  // Simulated reports → Running with the device's container status.
  ASSERT_TRUE(waitFor(
      [&] {
        for (const auto& r : env.podRows()) {
          if (r.at("NAME") == podName) return r.at("STATUS") == "Running" && r.at("READY") == "1/1";
        }
        return false;
      },
      kWait))
      << env.diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json pod, env.getJson({"pod", podName}));
  const Json& cs = pod["status"]["containerStatuses"][0];
  EXPECT_EQ(cs.value("name", ""), "web");
  EXPECT_TRUE(cs.value("imageID", "").starts_with("sha256:")) << cs.dump();
  EXPECT_TRUE(cs.value("containerID", "").starts_with("skiff://pi-a/")) << cs.dump();
  EXPECT_TRUE(cs["state"].contains("running")) << cs.dump();
  Json summary = Json::parse(pod["metadata"]["annotations"].value("skiff.io/devices", "{}"));
  EXPECT_EQ(summary.value("targeted", -1), 1);
  EXPECT_EQ(summary.value("running", -1), 1);
  EXPECT_EQ(summary["devices"].value("pi-a", ""), "running");

  // kubectl logs: API server pods/log → kubelet endpoint → hub StreamLogs → pi-a.
  env.hub().appendLog("pi-a", podName + "/web", "hello from pi-a\nsecond line\n");
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string logs, env.kubectl().ok({"logs", podName}));
  EXPECT_NE(logs.find("==> device pi-a"), std::string::npos) << logs;
  EXPECT_NE(logs.find("hello from pi-a\nsecond line\n"), std::string::npos) << logs;
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string tail, env.kubectl().ok({"logs", podName, "--tail=1"}));
  EXPECT_EQ(tail.find("hello from pi-a"), std::string::npos) << tail;
  EXPECT_NE(tail.find("second line"), std::string::npos) << tail;

  // A new image: the Deployment rolls to a new pod; the old hub deployment goes away.
  SKIFF_ASSERT_OK(
      env.kubectl().ok({"apply", "-f", env.manifest("web2.yaml", deploymentYaml("2"))}));
  ASSERT_TRUE(waitFor(
      [&] {
        auto deps = env.hub().deployments();
        return deps.size() == 1 && deps[0].id() != id &&
               deps[0].pods_json().find("busybox:2") != std::string::npos;
      },
      kWait))
      << env.diagnostics();
  ASSERT_TRUE(waitFor(
      [&] {
        auto rows = env.podRows();
        return rows.size() == 1 && rows[0].at("STATUS") == "Running";
      },
      kWait))
      << env.diagnostics();

  // Deletion completes only once the device reports the modules gone.
  env.hub().setAutoReport("pi-a", false);
  SKIFF_ASSERT_OK(env.kubectl().ok({"delete", "-f", path, "--wait=false"}));
  ASSERT_TRUE(waitFor([&] { return env.hub().deployments().empty(); }, kWait)) << env.diagnostics();
  std::this_thread::sleep_for(2s);
  auto terminating = env.podRows();
  ASSERT_EQ(terminating.size(), 1u) << "the pod went before the device removed the module";
  EXPECT_EQ(terminating[0].at("STATUS"), "Terminating");
  env.hub().setAutoReport("pi-a", true);
  env.hub().setOnline("pi-a", true);  // reconnect: the agent applies and reports
  EXPECT_TRUE(waitFor([&] { return env.podRows().empty(); }, kWait)) << env.diagnostics();
}

}  // namespace
}  // namespace skiff::test
