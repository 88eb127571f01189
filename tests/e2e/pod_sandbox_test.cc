// A pod on a device is a real pod (issue #19), end to end with the real kubectl, control plane,
// virtual node, hub, Mosquitto, agent and Podman: containers of one pod share a network namespace
// (127.0.0.1 between them, one pod IP) and their emptyDir; init containers run first, in order;
// a native sidecar starts before the app containers; the sandbox survives container restarts and
// is recreated when its infra container dies; the agent brings pods back after a kill -9 without
// a broker; statuses are the ones kubectl prints for a real cluster.
#include <gtest/gtest.h>

#include <thread>

#include "tests/e2e/system.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

constexpr auto kWait = std::chrono::seconds(120);

// The classic two-container pod of the Kubernetes documentation (a web server and a writer
// sharing an emptyDir), with an init container that writes a page and a sidecar that fetches
// both pages from the web container over 127.0.0.1.
std::string classicPod(const std::string& image) {
  return R"y(apiVersion: v1
kind: Pod
metadata: {name: classic}
spec:
  terminationGracePeriodSeconds: 2
  tolerations:
  - {key: virtual-kubelet.io/provider, operator: Exists, effect: NoSchedule}
  volumes:
  - name: html
    emptyDir: {}
  initContainers:
  - name: init
    image: )y" +
         image +
         R"y(
    command: ["sh", "-c", "echo page-from-init > /html/init.txt"]
    volumeMounts: [{name: html, mountPath: /html}]
  - name: fetcher
    image: )y" +
         image +
         R"y(
    restartPolicy: Always
    command: ["sh", "-c", "while true; do wget -q -O- http://127.0.0.1:8080/init.txt; wget -q -O- http://127.0.0.1:8080/index.html | tail -n 1; sleep 1; done"]
  containers:
  - name: web
    image: )y" +
         image +
         R"y(
    command: ["httpd", "-f", "-p", "8080", "-h", "/html"]
    ports: [{containerPort: 8080}]
    volumeMounts: [{name: html, mountPath: /html}]
  - name: writer
    image: )y" +
         image +
         R"y(
    command: ["sh", "-c", "i=0; while true; do echo writer-line-$i >> /out/index.html; i=$((i+1)); sleep 1; done"]
    volumeMounts: [{name: html, mountPath: /out}]
)y";
}

std::map<std::string, std::string> rowOf(System& sys, const std::string& pod) {
  for (const auto& r : sys.podRows()) {
    if (r.count("NAME") != 0 && r.at("NAME") == pod) return r;
  }
  return {};
}

std::string logsOf(System& sys, const std::string& pod, const std::string& container) {
  auto r = sys.kubectl().run({"logs", pod, "-c", container});
  return r.isOk() ? r->output : "";
}

// The device's container of kind (infra / container / sidecar / init) for a pod's container.
std::string containerId(System& sys, const std::string& device, const std::string& pod,
                        const std::string& container, bool running = true) {
  auto all = sys.containers(device);
  if (!all.isOk()) return "";
  for (const auto& c : *all) {
    const Json& l = c["Labels"];
    if (l.value("io.skiff.pod", "") != pod) continue;
    bool infra = container == "infra" && l.value("io.skiff.kind", "") == "infra";
    bool member = l.value("io.skiff.module", "") == pod + "/" + container;
    if ((infra || member) && (!running || c.value("State", "") == "running")) {
      return c.value("Id", "");
    }
  }
  return "";
}

TEST(E2ePodSandbox, SharedNetworkAndVolumesInitSidecarAndSandboxRecovery) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto sys,
                             System::create({.name = "e2e-sandbox", .controlPlane = true}));
  SKIFF_ASSERT_OK(sys->addAgent("pi-a", {{"site", "a"}}));
  SKIFF_ASSERT_OK(sys->startVirtualNode(false));
  ASSERT_TRUE(eventually([&] { return sys->nodeReady("skiff-fleet"); }, kWait))
      << sys->diagnostics();
  std::string image = sys->registry().imageRef("latest");
  SKIFF_ASSERT_OK(sys->kubectl().ok({"apply", "-f", sys->file("classic.yaml", classicPod(image))}));

  // Running with a pod IP; READY counts the sidecar (kubectl's rule); the sidecar reaches the
  // web container on 127.0.0.1 and sees what the init container and the writer put in the
  // shared emptyDir.
  ASSERT_TRUE(eventually(
      [&] {
        auto row = rowOf(*sys, "classic");
        return row["STATUS"] == "Running" && row["READY"] == "3/3" && row["IP"] != "<none>" &&
               !row["IP"].empty();
      },
      kWait))
      << podJson(*sys, "classic").dump() << sys->diagnostics();
  Json pod = podJson(*sys, "classic");
  std::string podIP = pod["status"].value("podIP", "");
  EXPECT_FALSE(podIP.empty());
  EXPECT_EQ(pod["status"]["podIPs"][0]["ip"], podIP);
  EXPECT_FALSE(pod["status"].value("hostIP", "").empty());
  EXPECT_EQ(statusOf(pod, "init")["state"]["terminated"]["reason"], "Completed");
  EXPECT_TRUE(statusOf(pod, "fetcher")["started"].get<bool>());
  ASSERT_TRUE(eventually(
      [&] {
        std::string logs = logsOf(*sys, "classic", "fetcher");
        return logs.find("page-from-init") != std::string::npos &&
               logs.find("writer-line-") != std::string::npos;
      },
      kWait))
      << logsOf(*sys, "classic", "fetcher") << sys->diagnostics();
  // One network namespace: every container of the pod sees the sandbox's address.
  std::string webId = containerId(*sys, "pi-a", "classic", "web");
  std::string writerId = containerId(*sys, "pi-a", "classic", "writer");
  std::string infraId = containerId(*sys, "pi-a", "classic", "infra");
  ASSERT_FALSE(webId.empty());
  ASSERT_FALSE(infraId.empty());
  auto ip = sys->podman().podman({"exec", writerId, "sh", "-c", "ip -4 -o addr show eth0"});
  ASSERT_TRUE(ip.isOk());
  EXPECT_NE(ip->output.find(podIP + "/"), std::string::npos) << ip->output;

  // Killing an app container restarts only it: same sandbox, same IP, the emptyDir keeps what
  // the writer wrote before.
  SKIFF_ASSERT_OK(sys->podman().podman({"kill", webId}).status());
  ASSERT_TRUE(eventually(
      [&] {
        Json p = podJson(*sys, "classic");
        return statusOf(p, "web").value("restartCount", 0) == 1 &&
               statusOf(p, "web")["state"].contains("running") &&
               rowOf(*sys, "classic")["READY"] == "3/3";
      },
      kWait))
      << sys->diagnostics();
  EXPECT_EQ(containerId(*sys, "pi-a", "classic", "infra"), infraId);
  EXPECT_EQ(containerId(*sys, "pi-a", "classic", "writer"), writerId);
  EXPECT_EQ(podJson(*sys, "classic")["status"].value("podIP", ""), podIP);
  auto page = sys->podman().podman({"exec", writerId, "head", "-n", "1", "/out/index.html"});
  ASSERT_TRUE(page.isOk());
  EXPECT_EQ(page->output, "writer-line-0\n");

  // Killing the infra container recreates the sandbox: every container starts again in it, the
  // init container runs again, the pod's emptyDir survives (same pod).
  SKIFF_ASSERT_OK(sys->podman().podman({"kill", infraId}).status());
  ASSERT_TRUE(eventually(
      [&] {
        std::string infra = containerId(*sys, "pi-a", "classic", "infra");
        return !infra.empty() && infra != infraId && rowOf(*sys, "classic")["READY"] == "3/3" &&
               !containerId(*sys, "pi-a", "classic", "writer").empty();
      },
      kWait))
      << sys->diagnostics();
  std::string newWriter = containerId(*sys, "pi-a", "classic", "writer");
  EXPECT_NE(newWriter, writerId);
  page = sys->podman().podman({"exec", newWriter, "head", "-n", "1", "/out/index.html"});
  ASSERT_TRUE(page.isOk());
  EXPECT_EQ(page->output, "writer-line-0\n") << "the emptyDir outlives the sandbox";
  EXPECT_GE(statusOf(podJson(*sys, "classic"), "writer").value("restartCount", 0), 1);

  // kill -9 of the agent while the broker is down, and the engine loses the pod's containers
  // meanwhile (a reboot): the agent alone brings the pod back, sandbox first.
  sys->hub().stopBroker();
  SKIFF_ASSERT_OK(sys->agent("pi-a").kill9());
  SKIFF_ASSERT_OK(sys->podman().podman({"rm", "-f", "--depend", "-t", "0", infraId}).status());
  for (const char* c : {"infra", "web", "writer", "fetcher"}) {
    std::string id = containerId(*sys, "pi-a", "classic", c, false);
    if (!id.empty()) (void)sys->podman().podman({"rm", "-f", "--depend", "-t", "0", id});
  }
  SKIFF_ASSERT_OK(sys->agent("pi-a").start());
  ASSERT_TRUE(eventually(
      [&] {
        return !containerId(*sys, "pi-a", "classic", "infra").empty() &&
               !containerId(*sys, "pi-a", "classic", "web").empty() &&
               !containerId(*sys, "pi-a", "classic", "writer").empty() &&
               !containerId(*sys, "pi-a", "classic", "fetcher").empty();
      },
      kWait))
      << sys->diagnostics();
  SKIFF_ASSERT_OK(sys->hub().startBroker());
  ASSERT_TRUE(eventually([&] { return rowOf(*sys, "classic")["READY"] == "3/3"; }, kWait))
      << sys->diagnostics();
}

}  // namespace
}  // namespace skiff::test
