// skiff-agent benchmark (docs/benchmarks.md "Agent (issue #7)"). The real skiff-agent binary
// with production intervals against real peers started in the same run: Mosquitto (TLS + ACL),
// docker-registry with busybox, Podman's Docker API, and the test hub double publishing signed
// documents. Every "module" is a pod of one container (its sandbox: an infra container too).
// Prints:
//   - RSS and CPU of the idle agent, with 0 and with 10 running modules;
//   - desired document published → container running (seen through the engine), vs
//     `podman run -d` of the same image in the same run (ratio target ≤ 1.2);
//   - reconcile of 50 modules: publish → all 50 running, vs 50 sequential `podman run -d`;
//   - the stripped arm64 binary size when cross/build-agent.sh has built it.
//
//   build/bench/agent_bench [--idle-seconds 30] [--samples 5] [--modules 50]
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "bench/bench_support.h"
#include "common/fs.h"
#include "common/json.h"
#include "tests/edge_agent/agent_harness.h"
#include "tests/support/http.h"

namespace skiff::bench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace protocol = common::protocol;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// utime + stime of a process in seconds.
double cpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream f(text.substr(close + 2));
  std::string field;
  long long utime = 0;
  long long stime = 0;
  for (int i = 3; i <= 15 && (f >> field); ++i) {
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A field of /proc/<pid>/smaps_rollup in kB ("Pss:", "Anonymous:").
long smapsKb(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + field.size());
  }
  return 0;
}

// Peak RSS of `skiff-agent --version`: the shared libraries' share of any agent's RSS.
long versionRssKb(const std::string& bin) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::execl(bin.c_str(), bin.c_str(), "--version", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  struct rusage ru {};
  if (pid < 0 || ::wait4(pid, &status, 0, &ru) != pid) return 0;
  return ru.ru_maxrss;
}

struct Idle {
  long rssKb = 0;
  long pssKb = 0;
  long anonKb = 0;
  double cpuPercent = 0;
};

Idle measureIdle(int pid, int secs) {
  double c0 = cpuSeconds(pid);
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(secs));
  double c1 = cpuSeconds(pid);
  Idle out;
  out.rssKb = rssKb(pid);
  out.pssKb = smapsKb(pid, "Pss:");
  out.anonKb = smapsKb(pid, "Anonymous:");
  out.cpuPercent = 100.0 * (c1 - c0) / seconds(Clock::now() - t0);
  return out;
}

// Count of running containers with module label values in `names` (one engine list call).
int runningCount(test::PodmanFixture& podman, const std::string& device,
                 const std::string& prefix) {
  auto r = test::httpGet(
      "http://d/v1.40/containers/json?filters=%7B%22label%22%3A%5B%22io.skiff.agent%3D" + device +
          "%22%5D%7D",
      {}, podman.socketPath());
  if (!r.isOk()) return -1;
  auto j = common::parseJson(r->body, 64 << 20);
  if (!j.isOk() || !j->is_array()) return -1;
  int n = 0;
  for (const auto& c : *j) {
    if (!c.contains("Labels") || !c["Labels"].is_object()) continue;
    auto it = c["Labels"].find("io.skiff.module");
    if (it != c["Labels"].end() && it->is_string() &&
        it->get<std::string>().rfind(prefix, 0) == 0 && c.value("State", "") == "running") {
      ++n;
    }
  }
  return n;
}

bool waitRunningCount(test::PodmanFixture& podman, const std::string& device,
                      const std::string& prefix, int want, std::chrono::seconds timeout) {
  auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (runningCount(podman, device, prefix) >= want) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

int run(int argc, char** argv) {
  int idleSeconds = 30;
  int samples = 5;
  int manyModules = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--idle-seconds") idleSeconds = std::atoi(argv[i + 1]);
    if (a == "--samples") samples = std::atoi(argv[i + 1]);
    if (a == "--modules") manyModules = std::atoi(argv[i + 1]);
  }
  auto peers = test::AgentPeers::create();
  if (!peers.isOk()) {
    std::cerr << "peers: " << peers.status() << "\n";
    return 1;
  }
  auto& hub = *peers->hub;
  auto& podman = *peers->podman;
  auto& registry = *peers->registry;
  auto dir = test::TempDir::create("agent-bench");
  const std::string device = "bench-pi";
  test::AgentRunOptions ro;
  ro.testIntervals = false;  // production intervals: what an idle device really costs
  test::AgentProcess agent(dir->file("state"), podman.socketPath(), dir->path(), ro);
  if (auto s = test::enrollDevice(agent, hub, device); !s.isOk()) {
    std::cerr << s << "\n";
    return 1;
  }
  if (auto s = agent.start(); !s.isOk()) return 1;
  if (!hub.waitPresence(device, true, 60s).isOk()) {
    std::cerr << "agent did not come online\n" << agent.log();
    return 1;
  }
  // Warm the image into the engine's store so every run below starts from a pulled image.
  auto warm = podman.podman({"pull", registry.imageRef()});
  if (!warm.isOk() || warm->exitCode != 0) return 1;

  std::printf("skiff-agent benchmark (engine: podman 4.3.1 Docker API, vfs, runc)\n\n");
  std::this_thread::sleep_for(5s);
  Idle idle0 = measureIdle(agent.pid(), idleSeconds);
  std::printf(
      "idle, 0 pods:      RSS %.1f MB (PSS %.1f MB, private anonymous %.1f MB), CPU %.3f %% "
      "of a core over %d s\n",
      idle0.rssKb / 1024.0, idle0.pssKb / 1024.0, idle0.anonKb / 1024.0, idle0.cpuPercent,
      idleSeconds);
  std::printf("  floor: `skiff-agent --version` (libraries loaded, nothing running): RSS %.1f MB\n",
              versionRssKb(test::AgentProcess::hostBinary()) / 1024.0);

  std::vector<protocol::PodSpec> ten;
  for (int i = 0; i < 10; ++i) {
    ten.push_back(
        test::busyboxModule(registry, "idle-m" + std::to_string(i) + "/app", {"sleep 36000"}));
  }
  std::int64_t version = 1;
  if (!hub.publishDesired(test::desiredDoc(device, version, ten)).isOk()) return 1;
  if (!waitRunningCount(podman, device, "idle-", 10, 300s)) {
    std::cerr << "10 modules did not start\n";
    return 1;
  }
  std::this_thread::sleep_for(5s);
  Idle idle10 = measureIdle(agent.pid(), idleSeconds);
  std::printf(
      "idle, 10 pods:     RSS %.1f MB (PSS %.1f MB, private anonymous %.1f MB), CPU %.3f %% "
      "of a core over %d s\n\n",
      idle10.rssKb / 1024.0, idle10.pssKb / 1024.0, idle10.anonKb / 1024.0, idle10.cpuPercent,
      idleSeconds);

  // Desired → running, one new module per sample, vs podman run -d of the same image.
  std::vector<double> agentLat;
  std::vector<double> podmanHostLat;
  std::vector<double> podmanBridgeLat;
  for (int i = 0; i < samples; ++i) {
    auto mods = ten;
    mods.push_back(
        test::busyboxModule(registry, "lat-s" + std::to_string(i) + "/app", {"sleep 36000"}));
    auto doc = test::desiredDoc(device, ++version, mods);
    auto t0 = Clock::now();
    if (!hub.publishDesired(doc).isOk()) return 1;
    if (!waitRunningCount(podman, device, "lat-s" + std::to_string(i) + "/", 1, 120s)) return 1;
    agentLat.push_back(seconds(Clock::now() - t0));

    // The engine's compat API puts containers on its default bridge network (like Docker);
    // the CLI's default here is host networking (the test containers.conf). Both are measured.
    for (const char* net : {"host", "bridge"}) {
      auto p0 = Clock::now();
      auto r = podman.podman({"run", "-d", "--network", net, "--name",
                              std::string("ref-") + net + std::to_string(i), registry.imageRef(),
                              "sleep", "36000"});
      double dt = seconds(Clock::now() - p0);
      if (!r.isOk() || r->exitCode != 0) {
        std::cerr << "podman run failed: " << (r.isOk() ? r->output : r.status().toString());
        return 1;
      }
      (std::string(net) == "host" ? podmanHostLat : podmanBridgeLat).push_back(dt);
    }
  }
  double a50 = pct(agentLat, 0.5);
  double pb50 = pct(podmanBridgeLat, 0.5);
  double ph50 = pct(podmanHostLat, 0.5);
  std::printf("desired published -> container running (median of %d):\n", samples);
  std::printf("  skiff-agent (MQTT, verify, fsync, pull check, create, start): %.3f s (max %.3f)\n",
              a50, pct(agentLat, 1.0));
  std::printf("  podman run -d --network bridge (same network as the API):      %.3f s\n", pb50);
  std::printf("  podman run -d --network host:                                 %.3f s\n", ph50);
  std::printf("  ratio agent / podman run (bridge): %.2f  (target <= 1.2: %s)\n", a50 / pb50,
              check(a50 / pb50 <= 1.2).c_str());
  std::printf("  ratio agent / podman run (host):   %.2f\n\n", a50 / ph50);

  // 50 modules at once.
  std::vector<protocol::PodSpec> many = ten;
  for (int i = 0; i < manyModules; ++i) {
    many.push_back(
        test::busyboxModule(registry, "many-m" + std::to_string(i) + "/app", {"sleep 36000"}));
  }
  auto t0 = Clock::now();
  if (!hub.publishDesired(test::desiredDoc(device, ++version, many)).isOk()) return 1;
  if (!waitRunningCount(podman, device, "many-", manyModules, 900s)) {
    std::cerr << manyModules << " modules did not start\n";
    return 1;
  }
  double all = seconds(Clock::now() - t0);
  auto s0 = Clock::now();
  for (int i = 0; i < manyModules; ++i) {
    auto r = podman.podman({"run", "-d", "--network", "bridge", "--name", "seq" + std::to_string(i),
                            registry.imageRef(), "sleep", "36000"});
    if (!r.isOk() || r->exitCode != 0) return 1;
  }
  double seq = seconds(Clock::now() - s0);
  std::printf("reconcile of %d pods: published -> all running %.2f s (%.1f pods/s)\n", manyModules,
              all, manyModules / all);
  std::printf("  %d sequential podman run -d --network bridge: %.2f s (ratio %.2f)\n", manyModules,
              seq, all / seq);
  Idle idleMany = measureIdle(agent.pid(), std::max(5, idleSeconds / 3));
  std::printf("  agent RSS with %d pods: %.1f MB\n\n", manyModules + 10, idleMany.rssKb / 1024.0);

  std::string arm = std::string(SKIFF_AGENT_ARM64_BIN) + ".stripped";
  auto armBin = common::readFile(arm);
  if (armBin.isOk()) {
    std::printf("stripped arm64 binary: %.2f MB (%zu bytes; target <= 4 MB: %s)\n",
                armBin->size() / 1048576.0, armBin->size(),
                check(armBin->size() <= 4u << 20).c_str());
  } else {
    std::printf("stripped arm64 binary: not built (cross/build-agent.sh aarch64)\n");
  }
  std::printf("\ntargets: RSS <= 10 MB idle: 0 pods %s, 10 pods %s; CPU <= 0.5 %%: %s\n",
              check(idle0.rssKb <= 10 * 1024).c_str(), check(idle10.rssKb <= 10 * 1024).c_str(),
              check(idle10.cpuPercent <= 0.5).c_str());
  agent.stop();
  return 0;
}

}  // namespace
}  // namespace skiff::bench

int main(int argc, char** argv) { return skiff::bench::run(argc, argv); }
