// Issue #9's main end to end, fleet mode: skiff-control-plane + kubectl, skiff-hub + Mosquitto
// (TLS, CRL, ACL), two real skiff-agents (site=a and site=b) on Podman, the registry, and
// skiff-virtual-node with the edge provider registering one fleet Node. A Deployment selecting
// device.skiff.io/site=a runs on pi-a only; `kubectl get pods` shows the real container's status;
// `kubectl logs` (plain and -f) returns what the container prints through the API server's
// pods/log proxy, the kubelet endpoint, the hub and MQTT RPC; a new image tag rolls the
// containers; a bare Pod's image update replaces its container in place; `kubectl delete -f`
// removes the containers from Podman and the deployments from the hub.
#include <gtest/gtest.h>
#include <signal.h>

#include <set>
#include <thread>

#include "common/fs.h"
#include "tests/e2e/system.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

constexpr auto kWait = std::chrono::seconds(90);

std::string tickerDeployment(const std::string& image) {
  return R"y(apiVersion: apps/v1
kind: Deployment
metadata:
  name: ticker
spec:
  replicas: 1
  selector:
    matchLabels: {app: ticker}
  template:
    metadata:
      labels: {app: ticker}
    spec:
      terminationGracePeriodSeconds: 2
      nodeSelector:
        device.skiff.io/site: a
      tolerations:
      - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}
      containers:
      - name: ticker
        image: )y" +
         image + R"y(
        command: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done"]
        env:
        - {name: GREETING, value: hello}
)y";
}

const Json* containerStatus(const Json& pod, const std::string& name) {
  if (!pod.contains("status") || !pod["status"].contains("containerStatuses")) return nullptr;
  for (const auto& cs : pod["status"]["containerStatuses"]) {
    if (cs.value("name", "") == name) return &cs;
  }
  return nullptr;
}

std::string podRowStatus(System& sys, const std::string& name, std::string* ready = nullptr) {
  for (const auto& r : sys.podRows()) {
    if (r.at("NAME") == name) {
      if (ready) *ready = r.at("READY");
      return r.at("STATUS");
    }
  }
  return "";
}

TEST(E2eFleet, DeploymentRunsOnMatchingAgentWithRealStatusLogsUpdateAndDelete) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto sys, System::create({.name = "e2e-fleet", .controlPlane = true}));
  SKIFF_ASSERT_OK(sys->addAgent("pi-a", {{"site", "a"}}));
  SKIFF_ASSERT_OK(sys->addAgent("pi-b", {{"site", "b"}}, Bootstrap::kCaSha256));
  SKIFF_ASSERT_OK(sys->startVirtualNode(false));
  ASSERT_TRUE(eventually([&] { return sys->nodeReady("skiff-fleet"); }, kWait))
      << sys->diagnostics();
  // Fleet capacity = both agents' real facts.
  SKIFF_ASSERT_OK_AND_ASSIGN(Json node, sys->getJson({"node", "skiff-fleet"}));
  EXPECT_NE(node["status"]["capacity"].value("cpu", ""), "") << node.dump();
  EXPECT_NE(node["status"]["nodeInfo"].value("osImage", "").find("2 of 2 devices online"),
            std::string::npos)
      << node["status"].dump();

  // 1. kubectl apply: the pod becomes a hub deployment that runs on pi-a only.
  std::string v1 = sys->registry().imageRef("latest");
  std::string manifest = sys->file("ticker.yaml", tickerDeployment(v1));
  SKIFF_ASSERT_OK(sys->kubectl().ok({"apply", "-f", manifest}));
  std::string pod;
  ASSERT_TRUE(eventually(
      [&] {
        auto pods = sys->pods("ticker-");
        if (pods.size() != 1) return false;
        pod = pods[0]["metadata"].value("name", "");
        return sys->runningModules("pi-a") == std::vector<std::string>{pod + "/ticker"};
      },
      kWait))
      << sys->diagnostics();
  EXPECT_TRUE(sys->containers("pi-b")->empty()) << "pi-b (site=b) must run nothing";

  // 2. kubectl get pods: Running with the real container's status.
  std::string ready;
  ASSERT_TRUE(eventually([&] { return podRowStatus(*sys, pod, &ready) == "Running"; }, kWait))
      << sys->diagnostics();
  ASSERT_TRUE(eventually(
      [&] {
        podRowStatus(*sys, pod, &ready);
        return ready == "1/1";
      },
      kWait))
      << sys->diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json p, sys->getJson({"pod", pod}));
  EXPECT_EQ(p["spec"].value("nodeName", ""), "skiff-fleet");
  const Json* cs = containerStatus(p, "ticker");
  ASSERT_NE(cs, nullptr) << p["status"].dump();
  EXPECT_TRUE(cs->value("ready", false)) << cs->dump();
  EXPECT_TRUE(cs->value("started", false)) << cs->dump();
  EXPECT_EQ(cs->value("restartCount", -1), 0) << cs->dump();
  EXPECT_EQ(cs->value("image", ""), v1);
  EXPECT_TRUE((*cs)["state"].contains("running")) << cs->dump();
  EXPECT_NE((*cs)["state"]["running"].value("startedAt", ""), "") << cs->dump();
  // containerID names the device and the real Podman container; imageID its digest.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto ctrs, sys->moduleContainers("pi-a", pod + "/ticker"));
  ASSERT_EQ(ctrs.size(), 1u);
  std::string containerId = ctrs[0].value("Id", "");
  EXPECT_EQ(cs->value("containerID", ""), "skiff://pi-a/" + containerId) << cs->dump();
  EXPECT_TRUE(cs->value("imageID", "").starts_with("sha256:")) << cs->dump();
  Json summary = Json::parse(p["metadata"]["annotations"].value("skiff.io/devices", "{}"));
  EXPECT_EQ(summary.value("targeted", -1), 1) << summary.dump();
  EXPECT_EQ(summary.value("running", -1), 1) << summary.dump();
  EXPECT_EQ(summary["devices"].value("pi-a", ""), "running") << summary.dump();
  // The hub's view agrees (REST), and the deployment targets site=a.
  SKIFF_ASSERT_OK_AND_ASSIGN(Json deps, sys->hubDeployments());
  ASSERT_EQ(deps["items"].size(), 1u) << deps.dump();
  EXPECT_EQ(deps["items"][0].value("targetSelector", ""), "site=a");
  EXPECT_EQ(deps["items"][0]["status"].value("running", -1), 1);

  // 3. kubectl logs: what the container printed, through pods/log → kubelet endpoint → hub →
  // MQTT RPC → agent → Podman; -f streams new lines.
  ASSERT_TRUE(eventually(
      [&] {
        auto logs = sys->kubectl().run({"logs", pod});
        return logs.isOk() && logs->exitCode == 0 && lastTick(logs->output) >= 2;
      },
      kWait));
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string logs, sys->kubectl().ok({"logs", pod, "-c", "ticker"}));
  EXPECT_NE(logs.find("==> device pi-a"), std::string::npos) << logs;
  EXPECT_NE(logs.find("tick 0\ntick 1\n"), std::string::npos) << logs;
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string tail, sys->kubectl().ok({"logs", pod, "--tail=1"}));
  EXPECT_EQ(tail.find("tick 0\n"), std::string::npos) << tail;
  SubprocessOptions so;
  so.argv = {"kubectl", "logs", "-f", pod, "--tail=1"};
  so.env = sys->kubectl().env();
  so.logFile = sys->dir() + "/kubectl-logs-f.log";
  SKIFF_ASSERT_OK_AND_ASSIGN(Subprocess follow, Subprocess::start(so));
  int first = -1;
  ASSERT_TRUE(eventually(
      [&] { return (first = lastTick(common::readFile(so.logFile).valueOr(""))) >= 0; }, 30s))
      << common::readFile(so.logFile).valueOr("");
  ASSERT_TRUE(eventually(
      [&] { return lastTick(common::readFile(so.logFile).valueOr("")) >= first + 5; }, 30s))
      << "kubectl logs -f printed no new lines: " << common::readFile(so.logFile).valueOr("");
  follow.stop();

  // 4. A new image tag: the Deployment rolls to a new pod; pi-a replaces the container.
  SKIFF_ASSERT_OK(sys->registry().pushBusybox("v2"));
  std::string v2 = sys->registry().imageRef("v2");
  SKIFF_ASSERT_OK(
      sys->kubectl().ok({"apply", "-f", sys->file("ticker.yaml", tickerDeployment(v2))}));
  std::string pod2;
  ASSERT_TRUE(eventually(
      [&] {
        auto pods = sys->pods("ticker-");
        if (pods.size() != 1 || pods[0]["metadata"].value("name", "") == pod) return false;
        pod2 = pods[0]["metadata"].value("name", "");
        // Only the new pod is left on pi-a: its sandbox and its container of the new image.
        auto all = sys->containers("pi-a");
        auto c = sys->moduleContainers("pi-a", pod2 + "/ticker");
        return all.isOk() && all->size() == 2 && c.isOk() && c->size() == 1 &&
               (*c)[0].value("Image", "") == v2 && (*c)[0].value("State", "") == "running";
      },
      kWait))
      << sys->diagnostics();
  ASSERT_TRUE(eventually([&] { return podRowStatus(*sys, pod2, &ready) == "Running"; }, kWait))
      << sys->diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json p2, sys->getJson({"pod", pod2}));
  ASSERT_NE(containerStatus(p2, "ticker"), nullptr);
  EXPECT_EQ(containerStatus(p2, "ticker")->value("image", ""), v2);
  SKIFF_ASSERT_OK_AND_ASSIGN(deps, sys->hubDeployments());
  ASSERT_EQ(deps["items"].size(), 1u) << "the old pod's deployment must be gone: " << deps.dump();
  EXPECT_NE(deps["items"][0].dump().find(v2), std::string::npos);

  // 5. A bare Pod whose image is updated: the same hub deployment is updated in place and the
  // agent replaces the container (new spec hash).
  auto barePod = [&](const std::string& image) {
    return edgePodYaml("solo", image, "sleep 3600", {{"device.skiff.io/site", "a"}});
  };
  std::string soloPath = sys->file("solo.yaml", barePod(v1));
  SKIFF_ASSERT_OK(sys->kubectl().ok({"apply", "-f", soloPath}));
  std::string soloContainer;
  ASSERT_TRUE(eventually(
      [&] {
        auto c = sys->moduleContainers("pi-a", "solo/main");
        if (!c.isOk() || c->size() != 1 || (*c)[0].value("State", "") != "running") return false;
        soloContainer = (*c)[0].value("Id", "");
        return podRowStatus(*sys, "solo") == "Running";
      },
      kWait))
      << sys->diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json depsBefore, sys->hubDeployments());
  SKIFF_ASSERT_OK(sys->kubectl().ok({"apply", "-f", sys->file("solo.yaml", barePod(v2))}));
  ASSERT_TRUE(eventually(
      [&] {
        auto c = sys->moduleContainers("pi-a", "solo/main");
        return c.isOk() && c->size() == 1 && (*c)[0].value("Id", "") != soloContainer &&
               (*c)[0].value("Image", "") == v2 && (*c)[0].value("State", "") == "running";
      },
      kWait))
      << sys->diagnostics();
  ASSERT_TRUE(eventually(
      [&] {
        auto sp = sys->getJson({"pod", "solo"});
        if (!sp.isOk()) return false;
        const Json* c = containerStatus(*sp, "main");
        return c && c->value("image", "") == v2 && c->value("ready", false) &&
               c->value("containerID", "")
                       .find((*sys->moduleContainers("pi-a", "solo/main"))[0].value("Id", "")) !=
                   std::string::npos;
      },
      kWait))
      << sys->diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json depsAfter, sys->hubDeployments());
  std::set<std::string> idsBefore, idsAfter;
  for (const auto& d : depsBefore["items"]) idsBefore.insert(d.value("id", ""));
  for (const auto& d : depsAfter["items"]) idsAfter.insert(d.value("id", ""));
  EXPECT_EQ(idsBefore, idsAfter) << "an image update must update the deployment in place";

  // 6. kubectl delete -f: pods gone, containers gone from Podman, nothing left on the hub.
  SKIFF_ASSERT_OK(sys->kubectl().ok({"delete", "-f", manifest, "-f", soloPath}, 120s));
  ASSERT_TRUE(eventually([&] { return sys->pods("").empty(); }, kWait)) << sys->diagnostics();
  ASSERT_TRUE(eventually([&] { return sys->containers("pi-a")->empty(); }, kWait))
      << sys->diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(deps, sys->hubDeployments());
  EXPECT_TRUE(deps["items"].empty()) << deps.dump();
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string list, sys->skiffctlOk({"deploy", "list"}));
  EXPECT_EQ(list.find("default."), std::string::npos) << list;
  EXPECT_TRUE(sys->containers("pi-b")->empty());
}

// A fleet pod goes to every matching device and its status aggregates their real reports:
// two site=a agents (each with its own Podman, like two devices) run it, a site=b agent does not;
// `kubectl logs` says which device it reads and follows the skiff.io/logs-device annotation;
// relabelling a device away removes its container; a dead device shows as offline without
// blocking the pod's deletion.
TEST(E2eFleet, PodOnEveryMatchingDeviceAggregatesTheirStatus) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto sys,
                             System::create({.name = "e2e-fleet-multi", .controlPlane = true}));
  SKIFF_ASSERT_OK(sys->addAgent("pi-a", {{"site", "a"}}));
  SKIFF_ASSERT_OK(sys->addAgent("pi-b", {{"site", "a"}}, Bootstrap::kCaFile, /*ownEngine=*/true));
  SKIFF_ASSERT_OK(sys->addAgent("pi-c", {{"site", "b"}}));
  SKIFF_ASSERT_OK(sys->startVirtualNode(false));
  ASSERT_TRUE(eventually([&] { return sys->nodeReady("skiff-fleet"); }, kWait))
      << sys->diagnostics();
  std::string manifest =
      sys->file("multi.yaml", edgePodYaml("multi", sys->registry().imageRef("latest"),
                                          "echo host $(ip -4 -o addr show eth0); sleep 3600",
                                          {{"device.skiff.io/site", "a"}}));
  SKIFF_ASSERT_OK(sys->kubectl().ok({"apply", "-f", manifest}));
  auto summary = [&] {
    auto p = sys->getJson({"pod", "multi"});
    if (!p.isOk()) return Json::object();
    return Json::parse(p->value("metadata", Json::object())
                           .value("annotations", Json::object())
                           .value("skiff.io/devices", "{}"));
  };
  ASSERT_TRUE(eventually([&] {
    Json s = summary();
    return s.value("targeted", 0) == 2 && s.value("running", 0) == 2 &&
           podRowStatus(*sys, "multi") == "Running";
  })) << sys->diagnostics();
  EXPECT_EQ(sys->runningModules("pi-a"), std::vector<std::string>{"multi/main"});
  EXPECT_EQ(sys->runningModules("pi-b"), std::vector<std::string>{"multi/main"});
  EXPECT_TRUE(sys->containers("pi-c")->empty());
  Json s = summary();
  EXPECT_EQ(s["devices"].value("pi-a", ""), "running") << s.dump();
  EXPECT_EQ(s["devices"].value("pi-b", ""), "running") << s.dump();

  // Each device's pod has its own sandbox address, listed in the summary.
  ASSERT_TRUE(s["podIPs"].is_object()) << s.dump();
  EXPECT_NE(s["podIPs"].value("pi-a", ""), "") << s.dump();
  EXPECT_NE(s["podIPs"].value("pi-a", ""), s["podIPs"].value("pi-b", "")) << s.dump();

  // kubectl logs names the device it reads (the first running one) and follows the annotation;
  // each device's container prints its pod's address.
  auto hostOf = [&](const std::string& dev) {
    return std::string("inet ") + s["podIPs"].value(dev, "?") + "/";
  };
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string logs, sys->kubectl().ok({"logs", "multi"}));
  EXPECT_NE(logs.find("==> device pi-a (2 targeted"), std::string::npos) << logs;
  EXPECT_NE(logs.find(hostOf("pi-a")), std::string::npos) << logs;
  SKIFF_ASSERT_OK(sys->kubectl().ok({"annotate", "pod", "multi", "skiff.io/logs-device=pi-b"}));
  ASSERT_TRUE(eventually([&] {
    auto r = sys->kubectl().run({"logs", "multi"});
    return r.isOk() && r->output.find(hostOf("pi-b")) != std::string::npos;
  })) << sys->kubectl().run({"logs", "multi"})->output;

  // Relabel pi-b away: its container goes, the pod now targets one device.
  SKIFF_ASSERT_OK(sys->skiffctlOk({"device", "label", "pi-b", "site=b"}));
  ASSERT_TRUE(eventually([&] { return sys->containers("pi-b")->empty(); }, kWait))
      << sys->diagnostics();
  ASSERT_TRUE(eventually([&] {
    Json t = summary();
    return t.value("targeted", 0) == 1 && t.value("running", 0) == 1;
  })) << summary().dump();

  // pi-a dies: the pod shows it offline; deleting the pod does not wait for it.
  SKIFF_ASSERT_OK(sys->agent("pi-a").kill9());
  ASSERT_TRUE(eventually([&] { return summary().value("offline", 0) == 1; }, kWait))
      << summary().dump();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json p, sys->getJson({"pod", "multi"}));
  bool ready = true;
  for (const auto& c : p["status"]["conditions"]) {
    if (c.value("type", "") == "Ready") ready = c.value("status", "") == "True";
  }
  EXPECT_FALSE(ready) << p["status"].dump();
  SKIFF_ASSERT_OK(sys->kubectl().ok({"delete", "-f", manifest}, 120s));
  ASSERT_TRUE(eventually([&] { return sys->pods("multi").empty(); }, kWait)) << sys->diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(Json deps, sys->hubDeployments());
  EXPECT_TRUE(deps["items"].empty()) << deps.dump();
}

}  // namespace
}  // namespace skiff::test
