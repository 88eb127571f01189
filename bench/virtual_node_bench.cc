// Virtual node benchmark: pod create → Running with ready containers in the pod's status, through
// the real skiff-control-plane (API server, scheduler) and the real skiff-virtual-node with its
// edge provider, against the FakeHub test double whose simulated agent reports a module running
// as soon as its desired state changes. That is the Kubernetes side of issue #9's end-to-end
// figure: it excludes the hub's MQTT fan-out, the agent and the container engine, which the
// e2e benchmark with the real hub and agents adds (pending those branches). For scale, the same
// run measures `podman run --rm <busybox> true` (image already pulled) on a real Podman.
//
//   virtual_node_bench [--pods N] [--podman-runs N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "common/json.h"
#include "tests/edge_provider/fake_hub.h"
#include "tests/support/podman.h"
#include "tests/support/registry.h"
#include "tests/virtual_node/virtual_node_process.h"

using namespace skiff;
using namespace skiff::bench;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string podJson(const std::string& name) {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
         R"("},"spec":{"nodeSelector":{"device.skiff.io/site":"a"},"tolerations":[{"key":"virtual-kubelet.io/provider","operator":"Exists","effect":"NoSchedule"}],"containers":[{"name":"app","image":"127.0.0.1:5000/busybox:1","command":["sleep","3600"]}]}})";
}

bool runningAndReady(const std::string& body) {
  auto j = common::parseJson(body);
  if (!j.isOk()) return false;
  const common::Json& st = j->value("status", common::Json::object());
  if (st.value("phase", "") != "Running") return false;
  const common::Json& cs = st.value("containerStatuses", common::Json::array());
  return !cs.empty() && cs[0].value("ready", false);
}

}  // namespace

int main(int argc, char** argv) {
  int pods = 50;
  int podmanRuns = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--pods") pods = std::atoi(argv[i + 1]);
    if (a == "--podman-runs") podmanRuns = std::atoi(argv[i + 1]);
  }
  auto dir = test::TempDir::create("vn-bench");
  if (!dir.isOk()) return 1;
  auto cp = startControlPlane(SKIFF_CONTROL_PLANE_BIN, dir->path(),
                              {"--node-monitor-grace-period", "1h"});
  if (!cp) return 1;
  test::FakeHubOptions ho;
  ho.reportDelay = std::chrono::milliseconds(0);
  auto hub = test::FakeHub::start(ho);
  if (!hub.isOk()) {
    std::fprintf(stderr, "fake hub: %s\n", hub.status().toString().c_str());
    return 1;
  }
  (*hub)->addDevice("pi-1", {{"site", "a"}}, test::testFacts());
  test::VirtualNodeProcessOptions vo;
  vo.dir = dir->file("vn");
  std::filesystem::create_directories(vo.dir);
  vo.kubeconfig = dir->file("data/admin.kubeconfig");
  vo.hubAddress = (*hub)->address();
  vo.hubCaPem = (*hub)->caPem();
  vo.hubToken = (*hub)->adminToken();
  vo.logLevel = "warn";
  auto vn = test::VirtualNodeProcess::start(vo);
  if (!vn.isOk()) {
    std::fprintf(stderr, "virtual node: %s\n", vn.status().toString().c_str());
    return 1;
  }
  Client c(cp->target);
  auto ready = Clock::now() + std::chrono::seconds(60);
  std::string body;
  while (Clock::now() < ready) {
    body.clear();
    if (c.request("GET", "/api/v1/nodes/skiff-fleet", "", &body) == 200 &&
        body.find("\"HubReady\"") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  std::vector<double> latencies;
  for (int i = 0; i < pods; ++i) {
    std::string name = "bench-" + std::to_string(i);
    auto t0 = Clock::now();
    if (c.request("POST", "/api/v1/namespaces/default/pods", podJson(name)) != 201) {
      std::fprintf(stderr, "create %s failed\n", name.c_str());
      return 1;
    }
    auto deadline = t0 + std::chrono::seconds(30);
    bool ok = false;
    while (Clock::now() < deadline) {
      body.clear();
      if (c.request("GET", "/api/v1/namespaces/default/pods/" + name, "", &body) == 200 &&
          runningAndReady(body)) {
        ok = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!ok) {
      std::fprintf(stderr, "%s did not become Running:\n%s\n%s\n", name.c_str(), body.c_str(),
                   (*vn)->logContents().c_str());
      return 1;
    }
    latencies.push_back(ms(Clock::now() - t0));
  }

  // The real peer: podman run of the same kind of image, already pulled.
  std::vector<double> podman;
  auto registry = test::RegistryFixture::create();
  if (registry.isOk()) {
    test::PodmanOptions po;
    po.insecureRegistries = {(*registry)->hostPort()};
    auto pm = test::PodmanFixture::create(po);
    if (pm.isOk()) {
      std::string image = (*registry)->imageRef();
      auto pulled = (*pm)->podman({"pull", image});
      if (pulled.isOk() && pulled->exitCode == 0) {
        for (int i = 0; i < podmanRuns; ++i) {
          auto t0 = Clock::now();
          auto r = (*pm)->podman({"run", "--rm", "--net=host", image, "true"});
          if (!r.isOk() || r->exitCode != 0) {
            std::fprintf(stderr, "podman run failed: %s\n",
                         r.isOk() ? r->output.c_str() : r.status().toString().c_str());
            break;
          }
          podman.push_back(ms(Clock::now() - t0));
        }
      } else {
        std::fprintf(stderr, "podman pull failed\n");
      }
    } else {
      std::fprintf(stderr, "podman: %s\n", pm.status().toString().c_str());
    }
  } else {
    std::fprintf(stderr, "registry: %s\n", registry.status().toString().c_str());
  }

  double p50 = pct(latencies, 0.5);
  double p99 = pct(latencies, 0.99);
  std::printf("virtual node path, pod create -> Running+ready in status (%d pods, sequential)\n",
              pods);
  std::printf("  p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", p50, p99, pct(latencies, 1.0));
  if (!podman.empty()) {
    double pp50 = pct(podman, 0.5);
    std::printf("podman run --rm busybox true (%zu runs, image pulled)\n", podman.size());
    std::printf("  p50 %.1f ms  p99 %.1f ms\n", pp50, pct(podman, 0.99));
    std::printf("ratio p50 virtual node path / podman run: %.2fx\n", p50 / pp50);
  }
  std::printf("p99 <= 2 s budget for the whole e2e path: %s (this path alone)\n",
              check(p99 <= 2000).c_str());
  return 0;
}
