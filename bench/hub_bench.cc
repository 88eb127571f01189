// Hub benchmarks (issue #8), each against the real peer in the same run:
//  fanout N:   one deployment to N simulated devices (DeviceSwarm, TLS) through the real
//              skiff-hub and Mosquitto, until the hub counts all N applied; then, hub stopped,
//              the raw broker round trip of the same payload size to the same N devices (each
//              answers with the same report). Target: hub ≤ 1.5× raw.
//  idle:       hub RSS and CPU with N connected devices heart-beating like agents with their
//              default intervals (protocol.h: metrics every 30 s, an unchanged report every
//              5 min; each spread evenly over its period, so a window shorter than 5 min sees
//              the steady rate). Targets ≤ 100 MB, ≤ 2 % of a core.
//  recompute:  the Fleet in-process on a SQLite store with 10,000 devices and 20 deployments:
//              one device relabeled, and a change that re-targets all 10,000. Target ≤ 200 ms.
//  ingest:     the Fleet in-process: CPU per device message (metrics, unchanged report) as the
//              ingest thread applies them, the part of idle CPU that is the hub's own code.
//
//   hub_bench [--fanout 1000,5000] [--idle-devices 5000] [--idle-seconds 60] [--recompute 10000]
//             [--ingest 200000]
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/device_swarm.h"
#include "common/bus/message_bus.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/protocol/protocol.h"
#include "common/tls.h"
#include "hub/fleet/fleet.h"
#include "tests/support/hub.h"
#include "tests/support/in_process_fleet.h"
#include "tests/support/sim_agent.h"

using namespace skiff;
using bench::must;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

double secondsSince(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

struct ProcStat {
  double cpuSeconds = 0;
  long rssKb = 0;
};

ProcStat procStat(pid_t pid) {
  ProcStat s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  std::istringstream in(line.substr(close + 2));
  std::string field;
  long ticks = sysconf(_SC_CLK_TCK);
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) s.cpuSeconds += std::stod(field) / static_cast<double>(ticks);
    if (i == 15) s.cpuSeconds += std::stod(field) / static_cast<double>(ticks);
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rssKb = std::stol(line.substr(6));
  }
  return s;
}

// CPU seconds of the three processes a rollout runs on: the hub, the broker and this one (the
// simulator, plus the raw publisher or the status polling).
struct RolloutCpu {
  double hub = 0, broker = 0, self = 0;
};

RolloutCpu rolloutCpu(test::HubFixture& hub, bool withHub) {
  RolloutCpu c;
  if (withHub) c.hub = procStat(hub.hubPid()).cpuSeconds;
  c.broker = procStat(hub.brokerPid()).cpuSeconds;
  c.self = procStat(getpid()).cpuSeconds;
  return c;
}

void printRolloutCpu(const RolloutCpu& a, const RolloutCpu& b, bool withHub) {
  std::printf("  CPU during it:");
  if (withHub) std::printf(" hub %.2f s,", b.hub - a.hub);
  std::printf(" broker %.2f s, simulator %.2f s\n", b.broker - a.broker, b.self - a.self);
}

void mustOk(const common::Status& s, const char* what) {
  if (!s.isOk()) {
    std::fprintf(stderr, "%s: %s\n", what, s.toString().c_str());
    std::exit(1);
  }
}

// Registers n devices with the hub and issues their certificates from the hub CA.
std::vector<bench::SwarmDevice> makeDevices(test::HubFixture& hub, int n) {
  return must(bench::registerSwarmDevices(hub, n,
                                          [](int i) {
                                            return std::map<std::string, std::string>{
                                                {"fleet", "bench"},
                                                {"group", "g" + std::to_string(i % 10)}};
                                          }),
              "register devices");
}

int onlineDevices(test::HubFixture& hub) {
  v1::FleetStatus fs;
  v1::GetFleetStatusRequest req;
  auto s = hub.stub()->GetFleetStatus(hub.context().get(), req, &fs);
  return s.ok() ? fs.online() : -1;
}

int appliedOf(test::HubFixture& hub, v1::Hub::Stub& stub, const std::string& id) {
  v1::ListDeploymentsRequest req;
  v1::ListDeploymentsResponse resp;
  if (!stub.ListDeployments(hub.context().get(), req, &resp).ok()) return -1;
  for (const auto& d : resp.deployments()) {
    if (d.id() == id) return d.status().applied();
  }
  return -1;
}

struct FanoutResult {
  double hubSeconds = 0;
  double verifySeconds = 0;
  double rawSeconds = 0;
  std::size_t payloadBytes = 0;
};

// Raw broker round trip: publish `n` retained QoS 1 messages of `bytes` to every device's
// desired topic (window 256, like the hub) and wait until every device answered with a report.
struct RawResult {
  double seconds = 0;
  RolloutCpu before, after;
};

RawResult rawRoundTrip(test::HubFixture& hub, bench::DeviceSwarm& swarm,
                       const std::vector<bench::SwarmDevice>& devices, std::size_t bytes) {
  common::bus::BusOptions o;
  o.url = hub.mqttUrl();
  o.clientId = "raw-bench";
  o.cleanStart = true;
  o.sessionExpiry = 0s;
  o.maxInflight = 1024;
  o.tls = common::tls::TlsFiles{hub.dataDir() + "/pki/hub-mqtt-client.pem",
                                hub.dataDir() + "/pki/hub-mqtt-client.key", hub.caFile()};
  auto bus = must(common::bus::makePahoBus(o), "raw bus");
  std::atomic<int> replies{0};
  bus->setHandlers([&](const common::bus::Message&) { ++replies; },
                   [](bool, const std::string&) {});
  mustOk(bus->subscribe("skiff/v1/devices/+/reported", 1), "subscribe");
  bus->start();
  mustOk(bus->waitConnected(30s), "raw connect");
  std::this_thread::sleep_for(1s);  // SUBACK
  swarm.setRaw(true);
  replies = 0;
  std::string payload(bytes, 'x');
  std::atomic<int> inflight{0};
  RolloutCpu cpu0 = rolloutCpu(hub, false);
  auto t0 = SteadyClock::now();
  for (const auto& d : devices) {
    while (inflight.load() >= 256) std::this_thread::sleep_for(50us);
    ++inflight;
    common::bus::Message m{"skiff/v1/devices/" + d.id + "/desired", payload, 1, true};
    while (!bus->publish(m, [&](const common::Status&) { --inflight; }).isOk()) {
      std::this_thread::sleep_for(1ms);
    }
  }
  while (replies.load() < static_cast<int>(devices.size()) && secondsSince(t0) < 300) {
    std::this_thread::sleep_for(2ms);
  }
  double secs = secondsSince(t0);
  RolloutCpu cpu1 = rolloutCpu(hub, false);
  swarm.setRaw(false);
  bus->stop();
  return {secs, cpu0, cpu1};
}

FanoutResult fanout(int n, int idleDevices, int idleSeconds) {
  std::printf("\n== fan-out to %d devices ==\n", n);
  test::HubFixtureOptions ho;
  if (const char* w = std::getenv("SKIFF_BENCH_PUBLISH_WINDOW")) {
    ho.extraFlags = {"--publish-window", w};
  }
  auto hub = must(test::HubFixture::create(ho), "hub");
  auto t = SteadyClock::now();
  auto devices = makeDevices(*hub, n);
  std::printf("registered %d devices and issued certificates in %.1f s\n", n, secondsSince(t));
  bench::SwarmOptions so;
  so.port = std::stoi(hub->mqttUrl().substr(hub->mqttUrl().rfind(':') + 1));
  so.caFile = hub->caFile();
  so.signingPublicKeyPem = hub->signingPublicKeyPem();
  so.devices = devices;
  t = SteadyClock::now();
  auto swarm = must(bench::DeviceSwarm::start(so), "swarm");
  while (onlineDevices(*hub) < n && secondsSince(t) < 600) std::this_thread::sleep_for(200ms);
  std::printf("connected %d devices (TLS) in %.1f s; hub sees %d online\n", n, secondsSince(t),
              onlineDevices(*hub));
  std::this_thread::sleep_for(2s);

  auto stub = hub->stub();  // one channel: the TLS handshake is not part of the measurement
  FanoutResult r;
  // Two rollouts: the simulated agents first skip signature verification (so the time is the
  // hub's and the broker's, as when every device verifies on its own CPU), then verify like the
  // agent (so one simulator process verifies for all N devices).
  for (int round = 0; round < 2; ++round) {
    bool verify = round == 1;
    swarm->setVerifySignatures(verify);
    v1::ApplyDeploymentRequest req;
    auto* d = req.mutable_deployment();
    d->set_id("fan");
    d->set_target_selector("fleet=bench");
    d->set_modules_json(
        std::string(R"([{"name":"fan/web","image":"registry.example.com/web:1.4.)") +
        std::to_string(round) +
        R"(","env":[{"name":"MODE","value":"prod"}],"ports":[{"containerPort":8080,"hostPort":80}],)"
        R"("resources":{"cpuMillis":250,"memoryBytes":67108864}}])");
    v1::Deployment out;
    std::uint64_t desired0 = swarm->desiredReceived();
    double reconcile0 = hub->metric("skiff_hub_reconcile_duration_seconds_sum");
    RolloutCpu cpu0 = rolloutCpu(*hub, true);
    auto t0 = SteadyClock::now();
    auto s = stub->ApplyDeployment(hub->context().get(), req, &out);
    if (!s.ok()) {
      std::fprintf(stderr, "apply: %s\n", s.error_message().c_str());
      std::exit(1);
    }
    double tDesired = 0;
    while (true) {
      if (tDesired == 0 && swarm->desiredReceived() >= desired0 + static_cast<std::uint64_t>(n)) {
        tDesired = secondsSince(t0);
      }
      if (appliedOf(*hub, *stub, "fan") >= n || secondsSince(t0) > 300) break;
      std::this_thread::sleep_for(20ms);  // polling must not compete with the hub much
    }
    double secs = secondsSince(t0);
    RolloutCpu cpu1 = rolloutCpu(*hub, true);
    std::printf(
        "hub (%s): applied on %d/%d devices in %.3f s; documents at the devices after "
        "%.3f s; reconciler %.3f s; signed document %zu bytes\n",
        verify ? "agents verify signatures" : "hub only", appliedOf(*hub, *stub, "fan"), n, secs,
        tDesired, hub->metric("skiff_hub_reconcile_duration_seconds_sum") - reconcile0,
        swarm->lastDesiredBytes());
    printRolloutCpu(cpu0, cpu1, true);
    if (!verify) r.hubSeconds = secs;
    if (verify) r.verifySeconds = secs;
    r.payloadBytes = swarm->lastDesiredBytes();
  }

  if (idleDevices == n && idleSeconds > 0) {
    auto report = common::protocol::kDefaultHeartbeatInterval;
    auto metrics = common::protocol::kDefaultMetricsInterval;
    std::printf(
        "\n== idle: %d connected devices, a report every %lld s and metrics every %lld s ==\n", n,
        static_cast<long long>(report.count()), static_cast<long long>(metrics.count()));
    swarm->setHeartbeat(report, metrics);
    std::this_thread::sleep_for(5s);
    pid_t pid = hub->hubPid();
    ProcStat a = procStat(pid);
    std::this_thread::sleep_for(std::chrono::seconds(idleSeconds));
    ProcStat b = procStat(pid);
    double cpu = 100.0 * (b.cpuSeconds - a.cpuSeconds) / idleSeconds;
    std::printf("hub RSS %.1f MB, CPU %.2f %% of one core over %d s (reports %llu)\n",
                b.rssKb / 1024.0, cpu, idleSeconds,
                static_cast<unsigned long long>(swarm->reportsSent()));
    std::printf("targets: RSS <= 100 MB %s, CPU <= 2 %% %s\n",
                b.rssKb <= 100 * 1024 ? "PASS" : "MISS", cpu <= 2.0 ? "PASS" : "MISS");
    swarm->setHeartbeat(0ms, 0ms);
  }

  hub->stopHub();  // the raw run must not be ingested by the hub
  RawResult raw = rawRoundTrip(*hub, *swarm, devices, r.payloadBytes);
  r.rawSeconds = raw.seconds;
  std::printf("raw broker: %d retained QoS 1 messages of %zu bytes, each answered, in %.3f s\n", n,
              r.payloadBytes, r.rawSeconds);
  printRolloutCpu(raw.before, raw.after, false);
  double ratio = r.hubSeconds / r.rawSeconds;
  std::printf(
      "ratio hub/raw = %.2fx (target <= 1.5x: %s); with the simulator verifying every "
      "signature %.2fx; swarm errors %llu\n",
      ratio, ratio <= 1.5 ? "PASS" : "MISS", r.verifySeconds / r.rawSeconds,
      static_cast<unsigned long long>(swarm->errors()));
  swarm->stop();
  return r;
}

class CountingSink final : public hub::fleet::DesiredSink {
 public:
  void submit(hub::fleet::DesiredDoc) override { ++count; }
  std::atomic<int> count{0};
};

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// CPU per ingested message: `messages` metrics documents and unchanged reports (2:1, as agents
// send them) from 5,000 devices running one module, applied like the ingest thread does.
void ingest(int messages) {
  constexpr int kDevices = 5000;
  std::printf("\n== ingest: %d device messages, %d devices, in-process fleet (SQLite) ==\n",
              messages, kDevices);
  test::KeepingSink sink;
  test::InProcessFleet f = must(test::startInProcessFleet("ingest", sink), "in-process fleet");
  auto& fleet = f.fleet;
  const std::string& publicPem = f.signingPublicKeyPem;
  std::vector<std::unique_ptr<test::SimAgent>> agents;
  for (int i = 0; i < kDevices; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "sim-%05d", i);
    must(fleet->createDevice(id, {{"fleet", "bench"}}), "create");
    agents.push_back(std::make_unique<test::SimAgent>(id, publicPem));
  }
  hub::DeploymentInput in;
  in.id = "web";
  in.targetSelector = "fleet=bench";
  in.modulesJson = R"([{"name":"web","image":"registry.example.com/web:1.4"}])";
  must(fleet->applyDeployment(in), "apply");
  fleet->waitIdle(120s);
  for (auto& a : agents) {
    std::string doc = sink.take(a->deviceId());
    a->onMessage(common::protocol::topicFor(a->deviceId(), common::protocol::Channel::kDesired),
                 doc, "");
    for (const auto& m : a->hello()) {
      if (m.topic.ends_with("/reported")) fleet->ingestReported(a->deviceId(), m.payload);
      if (m.topic.ends_with("/presence")) fleet->ingestPresence(a->deviceId(), m.payload);
    }
  }
  struct Item {
    const std::string* device;
    bool report;
    std::string payload;
  };
  std::vector<Item> items;
  items.reserve(static_cast<std::size_t>(messages));
  for (int i = 0; i < messages; ++i) {
    auto& a = *agents[static_cast<std::size_t>(i) % agents.size()];
    bool report = i % 3 == 2;
    items.push_back({&a.deviceId(), report, report ? a.report().payload : a.metrics().payload});
  }
  double cpu[2] = {0, 0};
  int count[2] = {0, 0};
  std::size_t bytes[2] = {0, 0};
  for (const auto& it : items) {
    double t0 = threadCpuSeconds();
    auto err = it.report ? fleet->ingestReported(*it.device, it.payload)
                         : fleet->ingestMetrics(*it.device, it.payload);
    cpu[it.report] += threadCpuSeconds() - t0;
    if (err) must(common::Result<int>(err->status), "ingest");
    ++count[it.report];
    bytes[it.report] = it.payload.size();
  }
  std::printf(
      "metrics: %.1f us CPU per message (%zu bytes); unchanged report: %.1f us (%zu bytes)\n",
      1e6 * cpu[0] / count[0], bytes[0], 1e6 * cpu[1] / count[1], bytes[1]);
  fleet->stop();
}

void recompute(int n) {
  std::printf("\n== recompute: %d devices, 20 deployments, in-process fleet (SQLite) ==\n", n);
  CountingSink sink;
  test::InProcessFleet f = must(test::startInProcessFleet("recompute", sink), "in-process fleet");
  auto& fleet = f.fleet;
  auto t = SteadyClock::now();
  for (int i = 0; i < n; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "dev-%05d", i);
    must(fleet->createDevice(id, {{"site", "s" + std::to_string(i % 50)},
                                  {"ring", i % 10 == 0 ? "canary" : "stable"}}),
         "create");
  }
  fleet->waitIdle(60s);
  std::printf("created %d devices in %.1f s\n", n, secondsSince(t));
  for (int k = 0; k < 20; ++k) {
    hub::DeploymentInput in;
    in.id = "dep-" + std::to_string(k);
    in.targetSelector = k < 10 ? "site=s" + std::to_string(k) : "ring in (stable,canary)";
    in.priority = k;
    // Site deployments own their module names; the fleet-wide ones overlap among themselves.
    std::string name = k < 10 ? "site-" + std::to_string(k) : "m" + std::to_string(k % 12);
    in.modulesJson = R"([{"name":")" + name + R"(","image":"img:)" + std::to_string(k) + R"("}])";
    must(fleet->applyDeployment(in), "apply");
  }
  fleet->waitIdle(120s);
  int base = sink.count.load();

  // One device relabeled: the index finds its deployments, one document changes.
  t = SteadyClock::now();
  must(fleet->updateDeviceLabels("dev-00007", {{"site", "s3"}, {"ring", "stable"}}), "relabel");
  fleet->waitIdle(60s);
  double one = secondsSince(t) * 1000;
  auto st1 = fleet->lastReconcile();
  std::printf(
      "one device relabeled: %.2f ms until its new document is signed and handed to the "
      "publisher (%zu device evaluated, %zu changed)\n",
      one, st1.devices, st1.changed);

  // A change re-targeting every device (the fleet-wide deployment gets a new module).
  hub::DeploymentInput all;
  all.id = "dep-19";
  all.targetSelector = "ring in (stable,canary)";
  all.priority = 19;
  all.modulesJson = R"([{"name":"m7","image":"img:19"},{"name":"extra","image":"x:1"}])";
  t = SteadyClock::now();
  must(fleet->applyDeployment(all), "apply all");
  double applyMs = secondsSince(t) * 1000;
  fleet->waitIdle(120s);
  double total = secondsSince(t) * 1000;
  auto st = fleet->lastReconcile();
  std::printf(
      "fleet-wide change: %zu devices re-evaluated; recompute (compose + hash) %.1f ms, "
      "signing %zu new documents %.1f ms; apply call %.1f ms; total %.1f ms\n",
      st.devices, st.composeMs, st.changed, st.signMs, applyMs, total);
  std::printf("target: recompute for %d devices <= 200 ms: %s\n", n,
              st.composeMs <= 200 ? "PASS" : "MISS");
  (void)base;
  fleet->stop();
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  common::log::configure(common::log::Level::kWarn, common::log::Format::kText, "hub_bench");
  std::vector<int> fanouts = {1000, 5000};
  int idleDevices = 5000;
  int idleSeconds = 60;  // two metrics periods; reports come at their steady rate
  int recomputeDevices = 10000;
  int ingestMessages = 200000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    std::string v = argv[i + 1];
    if (a == "--fanout") {
      fanouts.clear();
      std::stringstream ss(v);
      std::string part;
      while (std::getline(ss, part, ',')) {
        if (!part.empty() && part != "0") fanouts.push_back(std::stoi(part));
      }
    } else if (a == "--idle-devices") {
      idleDevices = std::stoi(v);
    } else if (a == "--idle-seconds") {
      idleSeconds = std::stoi(v);
    } else if (a == "--recompute") {
      recomputeDevices = std::stoi(v);
    } else if (a == "--ingest") {
      ingestMessages = std::stoi(v);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  for (int n : fanouts) fanout(n, idleDevices, idleSeconds);
  if (recomputeDevices > 0) recompute(recomputeDevices);
  if (ingestMessages > 0) ingest(ingestMessages);
  return 0;
}
