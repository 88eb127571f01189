// The dashboard's acceptance test (issue #10): hub/dashboard/tests/browser.test.mjs (Debian
// Chromium driven by playwright-core) against the real skiff-hub with simulated devices.
//
// The harness starts HubFixture (Mosquitto with TLS + ACL, skiff-hub serving the built
// hub/dashboard/dist), registers seven devices with labels, enrolls six of them, which connect
// over MQTT with their own certificates (SimDevice), each through a LinkCutter so it can drop off
// the network for real, reports modules, metrics and logs like the agent, and applies five
// deployments (one of them crash-looping on a device, so the fleet has a degraded device and a
// degraded deployment; one annotated as a Kubernetes pod by the edge provider). Then it serves
// the control hook of docs/dashboard.md "Harness interface" on plain HTTP (loopback) and runs
// `node --test tests/browser.test.mjs` with the SKIFF_DASH_* variables; the test passes when
// node exits 0, and fails with node's output otherwise.
//
// Chromium trusts the hub's HTTPS endpoint through --ignore-certificate-errors-spki-list with
// the SHA-256 of the hub certificate's public key (SKIFF_DASH_SPKI): only that key is accepted,
// every other certificate error still fails the page. node's own requests verify the hub with
// the hub CA (NODE_EXTRA_CA_CERTS).
//
// SKIFF_DASH_SERVE=1 starts the same fleet and prints the URLs and tokens instead of running the
// browser test (for working on the UI against a real hub; Ctrl-C ends it).
#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "common/clock.h"
#include "common/fs.h"
#include "common/http/server.h"
#include "common/json.h"
#include "common/log.h"
#include "common/protocol/protocol.h"
#include "tests/dashboard/link_cutter.h"
#include "tests/hub/test_util.h"
#include "tests/support/hub.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using namespace std::chrono_literals;
using common::Json;
using common::Result;
using common::Status;
namespace proto = common::protocol;
namespace http = common::http;

constexpr std::chrono::milliseconds kMetricsInterval = 2s;

struct DeviceSpec {
  std::string id;
  std::map<std::string, std::string> labels;
  std::string arch;  // "" = registered, never enrolled
  bool startOffline = false;
  bool temperature = true;
};

const std::vector<DeviceSpec> kDevices = {
    {"pi-berlin-01", {{"site", "berlin"}, {"role", "gateway"}}, "arm64"},
    {"pi-berlin-02", {{"site", "berlin"}}, "arm64"},
    {"pi-hamburg-01", {{"site", "hamburg"}}, "arm"},
    {"nuc-hamburg-01", {{"site", "hamburg"}, {"role", "gateway"}}, "amd64", false, false},
    {"pi-munich-01", {{"site", "munich"}}, "arm64"},
    {"pi-munich-02", {{"site", "munich"}}, "arm64", true},
    {"pi-spare-01", {{"site", "munich"}}, ""},
};
constexpr const char* kTestDevice = "pi-berlin-01";
constexpr const char* kTestModule = "web/nginx";
constexpr const char* kCrashDevice = "pi-munich-01";
constexpr const char* kCrashModule = "sensor/reader";
constexpr const char* kDeletable = "scratch";

std::vector<v1::Deployment> deployments() {
  std::vector<v1::Deployment> out;
  out.push_back(
      deployment("web", "site in (berlin,hamburg)", {{"web/nginx", "registry.local/nginx:1.27"}}));
  out.push_back(deployment("telemetry", "skiff.io/arch=arm64",
                           {{"telemetry/collector", "registry.local/collector:2.3"}}));
  out.push_back(
      deployment("sensor", "site=munich", {{kCrashModule, "registry.local/sensor-reader:0.9"}}));
  v1::Deployment pod =
      deployment("default.web-abc", "role=gateway", {{"web-abc/app", "registry.local/web:3"}});
  (*pod.mutable_labels())["app"] = "web-abc";
  (*pod.mutable_annotations())["skiff.io/pod-namespace"] = "default";
  (*pod.mutable_annotations())["skiff.io/pod-name"] = "web-abc";
  (*pod.mutable_annotations())["skiff.io/pod-uid"] = "7f9c2ba4-e88f-4d1e-9b0a-3c1d5e6f7a80";
  (*pod.mutable_annotations())["skiff.io/node"] = "skiff-fleet";
  out.push_back(pod);
  v1::Deployment exporter =
      deployment("monitoring.node-exporter-x7k2p", "skiff.io/arch in (arm,arm64)",
                 {{"node-exporter-x7k2p/exporter", "registry.local/node-exporter:1.8"}});
  (*exporter.mutable_annotations())["skiff.io/pod-namespace"] = "monitoring";
  (*exporter.mutable_annotations())["skiff.io/pod-name"] = "node-exporter-x7k2p";
  (*exporter.mutable_annotations())["skiff.io/pod-uid"] = "0b6e41d2-5c7a-4f0e-8d4b-92a1f3c6e7d5";
  (*exporter.mutable_annotations())["skiff.io/node"] = "skiff-fleet";
  out.push_back(exporter);
  out.push_back(deployment(kDeletable, "site=lab", {{"scratch/job", "registry.local/busybox:1"}}));
  return out;
}

// Work that must run on the test's main thread: HubFixture's processes die with the thread that
// started them (PR_SET_PDEATHSIG), and the control server's connection threads come and go.
class MainThreadQueue {
 public:
  Status run(std::function<Status()> fn, std::chrono::milliseconds timeout) {
    auto task = std::make_shared<std::packaged_task<Status()>>(std::move(fn));
    auto done = task->get_future();
    {
      std::lock_guard lock(mu_);
      tasks_.push_back(task);
    }
    cv_.notify_all();
    if (done.wait_for(timeout) != std::future_status::ready) {
      return common::deadlineExceeded("the harness's main thread did not get to it in time");
    }
    return done.get();
  }
  // On the main thread: runs what is queued, waiting up to `wait` for something.
  void drain(std::chrono::milliseconds wait) {
    std::deque<std::shared_ptr<std::packaged_task<Status()>>> tasks;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, wait, [&] { return !tasks_.empty(); });
      tasks.swap(tasks_);
    }
    for (auto& t : tasks) (*t)();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<std::packaged_task<Status()>>> tasks_;
};

class DemoFleet {
 public:
  ~DemoFleet() { stopActivity(); }

  Status start() {
    HubFixtureOptions ho;
    ho.dashboardDir = std::string(SKIFF_DASHBOARD_DIR) + "/dist";
    if (!std::filesystem::is_regular_file(ho.dashboardDir + "/index.html")) {
      return common::notFound(ho.dashboardDir + "/index.html: build the skiff_dashboard target");
    }
    ho.extraFlags = {"--metrics-history-resolution", "2s"};
    SKIFF_ASSIGN_OR_RETURN(hub_, HubFixture::create(ho));
    for (const auto& spec : kDevices) {
      if (spec.arch.empty()) {
        SKIFF_RETURN_IF_ERROR(hub_->createDevice(spec.id, spec.labels));
        continue;
      }
      SKIFF_ASSIGN_OR_RETURN(DeviceCredentials creds, hub_->enrollDevice(spec.id, spec.labels));
      std::string port = hub_->mqttUrl().substr(hub_->mqttUrl().rfind(':') + 1);
      SKIFF_ASSIGN_OR_RETURN(auto cutter, LinkCutter::start(std::stoi(port)));
      SimDeviceOptions so = hub_->simDeviceOptions(creds);
      so.mqttUrl = "mqtts://127.0.0.1:" + std::to_string(cutter->port());
      so.arch = spec.arch;
      auto sim = std::make_unique<Sim>();
      sim->spec = spec;
      sim->cutter = std::move(cutter);
      SKIFF_ASSIGN_OR_RETURN(auto dev, SimDevice::start(so));
      sim->device = std::move(dev);
      SimAgent& agent = sim->device->agent();
      agent.setFollowTicks(false);  // logs are what writeLog() writes, like a real module
      if (spec.id == kCrashDevice) {
        agent.setFailure(kCrashModule, "CrashLoopBackOff");
        agent.setRestartCount(kCrashModule, 4);
      }
      sims_[spec.id] = std::move(sim);
    }
    for (auto& [id, sim] : sims_) SKIFF_RETURN_IF_ERROR(sim->device->waitConnected(30s));
    for (const auto& d : deployments()) {
      auto s = apply(*hub_, d);
      if (!s.ok()) return common::internalError("apply " + d.id() + ": " + s.error_message());
    }
    // Every device runs what it was given (and the hub knows it), then the offline ones drop.
    for (auto& [id, sim] : sims_) {
      if (!sim->device->waitFor([](SimAgent& a) { return a.appliedVersion() > 0; }, 30s)) {
        return common::deadlineExceeded(id + " did not apply its desired state");
      }
      seedLogs(*sim);
    }
    SKIFF_RETURN_IF_ERROR(waitUntil(
        [&] {
          for (auto& [id, sim] : sims_) {
            v1::Device d = getDevice(*hub_, id);
            if (!d.online() || d.applied_version() < sim->device->agent().appliedVersion()) {
              return false;
            }
          }
          return true;
        },
        30s, "every simulated device online and applied at the hub"));
    for (auto& [id, sim] : sims_) {
      if (!sim->spec.startOffline) continue;
      SKIFF_RETURN_IF_ERROR(setOnline(id, false));
      // Settled before the browser compares counts: the broker published the Last Will.
      SKIFF_RETURN_IF_ERROR(waitUntil([&] { return !getDevice(*hub_, id).online(); }, 30s,
                                      id + " offline at the hub (its Last Will)"));
    }
    activity_ = std::thread([this] { activityLoop(); });
    return Status::ok();
  }

  HubFixture& hub() { return *hub_; }

  Status setOnline(const std::string& id, bool online) {
    auto it = sims_.find(id);
    if (it == sims_.end()) return common::notFound("no simulated device \"" + id + "\"");
    Sim& sim = *it->second;
    if (!online) {
      sim.cutter->cut();
      // The device's MQTT client notices the loss (and then keeps failing to reconnect).
      return waitUntil([&] { return !sim.device->connected(); }, 20s, id + " disconnected");
    }
    sim.cutter->restore();
    return sim.device->waitConnected(30s);
  }

  Status writeLog(const std::string& id, const std::string& module, const std::string& line) {
    auto it = sims_.find(id);
    if (it == sims_.end()) return common::notFound("no simulated device \"" + id + "\"");
    auto names = it->second->device->agent().moduleNames();
    if (std::find(names.begin(), names.end(), module) == names.end()) {
      return common::notFound("module \"" + module + "\" does not run on " + id);
    }
    it->second->device->writeLog(module, line);
    return Status::ok();
  }

  void stopActivity() {
    stopping_ = true;
    if (activity_.joinable()) activity_.join();
  }

 private:
  struct Sim {
    DeviceSpec spec;
    std::unique_ptr<LinkCutter> cutter;
    std::unique_ptr<SimDevice> device;
    double phase = 0;
  };

  static std::string stamp() { return common::formatRfc3339(std::chrono::system_clock::now()); }

  void seedLogs(Sim& sim) {
    for (const auto& m : sim.device->agent().moduleNames()) {
      std::vector<std::string> lines = {stamp() + " " + m + ": starting (" + sim.spec.id + ")\n",
                                        stamp() + " " + m + ": configuration loaded\n"};
      if (m == kCrashModule) {
        lines.push_back(stamp() + " " + m + ": open /dev/ttyUSB0: no such device\n");
        lines.push_back(stamp() + " " + m + ": exiting with status 1\n");
      } else {
        lines.push_back(stamp() + " " + m + ": ready\n");
      }
      sim.device->agent().setLogLines(m, lines);
    }
  }

  // What devices do on their own: metrics every 2 s (smooth curves with a little noise), a log
  // line now and then, and the crash-looping module restarting.
  void activityLoop() {
    std::mt19937 rng(42);
    std::normal_distribution<double> noise(0, 1.5);
    int tick = 0;
    double i = 0;
    for (auto& [id, sim] : sims_) sim->phase = i++ * 0.9;
    while (!stopping_) {
      auto t = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
      for (auto& [id, sim] : sims_) {
        if (!sim->device->connected()) continue;
        double x = t.count() / 60.0 + sim->phase;
        proto::Metrics m;
        m.at = stamp();
        m.cpuPercent = std::clamp(25 + 15 * std::sin(x) + noise(rng), 0.0, 100.0);
        m.memoryTotalBytes = std::int64_t{4} << 30;
        m.memoryUsedBytes = static_cast<std::int64_t>(static_cast<double>(m.memoryTotalBytes) *
                                                      (0.35 + 0.08 * std::sin(x / 3)));
        m.diskTotalBytes = std::int64_t{32} << 30;
        m.diskUsedBytes = std::int64_t{11} << 30;
        if (sim->spec.temperature) m.temperatureCelsius = 47 + 6 * std::sin(x + 0.5) + noise(rng);
        m.load1 = m.cpuPercent / 25;
        for (const auto& name : sim->device->agent().moduleNames()) {
          m.modules.push_back({name, m.cpuPercent / 4, std::int64_t{24} << 20});
        }
        (void)sim->device->bus().publish(
            common::bus::Message{proto::topicFor(id, proto::Channel::kMetrics),
                                 common::dumpJson(proto::toJson(m)), 0, false});
        for (const auto& name : sim->device->agent().moduleNames()) {
          if (name == kTestModule && tick % 2 == 0) {
            sim->device->writeLog(name, stamp() + " 10.0.0." + std::to_string(tick % 250) +
                                            " \"GET /status HTTP/1.1\" 200 " +
                                            std::to_string(400 + tick % 97));
          } else if (name == "telemetry/collector" && tick % 5 == 0) {
            sim->device->writeLog(name, stamp() + " collector: flushed " +
                                            std::to_string(10 + tick % 7) + " samples");
          }
        }
      }
      if (tick % 5 == 4) {
        // The crash loop goes on: one more restart, reported like the agent does.
        Sim& crash = *sims_.at(kCrashDevice);
        if (crash.device->connected()) {
          crash.device->agent().setRestartCount(kCrashModule, 5 + tick / 5);
          crash.device->writeLog(
              kCrashModule, stamp() + " " + kCrashModule + ": open /dev/ttyUSB0: no such device");
          (void)crash.device->sendReport();
        }
      }
      ++tick;
      for (int w = 0; w < 20 && !stopping_; ++w) std::this_thread::sleep_for(kMetricsInterval / 20);
    }
  }

  std::unique_ptr<HubFixture> hub_;
  std::map<std::string, std::unique_ptr<Sim>> sims_;
  std::atomic<bool> stopping_{false};
  std::thread activity_;
};

// Percent-decoded segments of the request target's path.
std::vector<std::string> pathSegments(const std::string& target) {
  std::string path = target.substr(0, target.find('?'));
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < path.size()) {
    auto next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    if (next > pos) out.push_back(http::urlDecode(path.substr(pos, next - pos), false));
    pos = next + 1;
  }
  return out;
}

// The control hook (docs/dashboard.md "Harness interface").
http::Handler controlHandler(DemoFleet& fleet, MainThreadQueue& main) {
  return [&fleet, &main](const http::Request& req, http::ResponseWriter& w) {
    auto reply = [&](const Status& s) {
      int code = s.isOk() ? 200 : s.code() == common::StatusCode::kNotFound ? 404 : 500;
      w.send(code, "text/plain", s.isOk() ? "done\n" : s.toString() + "\n");
    };
    if (req.method != "POST") return reply(common::notFound("use POST"));
    std::cout << "[harness] control " << req.target << "\n" << std::flush;
    auto seg = pathSegments(req.target);
    if (seg.size() == 2 && seg[0] == "hub" && (seg[1] == "stop" || seg[1] == "start")) {
      bool stop = seg[1] == "stop";
      return reply(main.run(
          [&fleet, stop] {
            if (stop) {
              fleet.hub().stopHub();
              return Status::ok();
            }
            return fleet.hub().startHub();
          },
          120s));
    }
    if (seg.size() == 3 && seg[0] == "devices" && (seg[2] == "offline" || seg[2] == "online")) {
      return reply(fleet.setOnline(seg[1], seg[2] == "online"));
    }
    if (seg.size() == 5 && seg[0] == "devices" && seg[2] == "modules" && seg[4] == "log") {
      return reply(fleet.writeLog(seg[1], seg[3], req.body));
    }
    reply(common::notFound("no control action " + req.method + " " + req.target));
  };
}

std::atomic<bool> interrupted{false};

TEST(DashboardBrowser, AgainstRealHubWithSimulatedDevices) {
  // The simulated devices' MQTT clients log every reconnect attempt of an offline device; the
  // browser test's output is what matters here.
  common::log::configure(common::log::Level::kError, common::log::Format::kText,
                         "dashboard-harness");
  DemoFleet fleet;
  SKIFF_ASSERT_OK(fleet.start());
  HubFixture& hub = fleet.hub();
  MainThreadQueue main;
  http::ServerOptions so;
  so.listen = {"127.0.0.1", 0};
  so.component = "dashboard-harness";
  SKIFF_ASSERT_OK_AND_ASSIGN(auto control, http::Server::start(so, controlHandler(fleet, main)));
  std::string controlUrl = "http://127.0.0.1:" + std::to_string(control->port());
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string spki, hub.httpsKeyPin());

  std::map<std::string, std::string> env = {
      {"SKIFF_DASH_URL", hub.httpsUrl()},
      {"SKIFF_DASH_ADMIN_TOKEN", hub.adminToken()},
      {"SKIFF_DASH_READER_TOKEN", hub.readerToken()},
      {"SKIFF_DASH_CONTROL_URL", controlUrl},
      {"SKIFF_DASH_SPKI", spki},
      {"SKIFF_DASH_DEVICE", kTestDevice},
      {"SKIFF_DASH_MODULE", kTestModule},
      {"SKIFF_DASH_DELETABLE_DEPLOYMENT", kDeletable},
      {"NODE_EXTRA_CA_CERTS", hub.caFile()},
  };
  if (std::getenv("SKIFF_DASH_ARTIFACTS") == nullptr) {
    env["SKIFF_DASH_ARTIFACTS"] = std::string(SKIFF_SOURCE_DIR) + "/tests/artifacts/dashboard";
  }

  if (const char* serve = std::getenv("SKIFF_DASH_SERVE"); serve != nullptr && *serve == '1') {
    signal(SIGINT, [](int) { interrupted = true; });
    signal(SIGTERM, [](int) { interrupted = true; });
    std::cout << "dashboard harness: the real hub with simulated devices, Ctrl-C to stop\n";
    for (const auto& [k, v] : env) std::cout << "  export " << k << "='" << v << "'\n";
    std::cout << "  open " << hub.httpsUrl() << "/ (certificate of the hub CA " << hub.caFile()
              << ")\n"
              << std::flush;
    while (!interrupted) main.drain(200ms);
    return;
  }

  SKIFF_ASSERT_OK_AND_ASSIGN(auto dir, TempDir::create("dashboard-browser"));
  SubprocessOptions no;
  no.argv = {SKIFF_NODE_BIN, "--test", "--test-reporter=spec", "tests/browser.test.mjs"};
  no.env = env;
  no.workDir = SKIFF_DASHBOARD_DIR;
  no.logFile = dir.file("browser-test.log");
  SKIFF_ASSERT_OK_AND_ASSIGN(Subprocess node, Subprocess::start(no));
  auto deadline = std::chrono::steady_clock::now() + 20min;
  while (node.isRunning() && std::chrono::steady_clock::now() < deadline) main.drain(100ms);
  bool timedOut = node.isRunning();
  std::optional<int> code = node.exitCode();
  node.stop(10s);
  control->stop();
  fleet.stopActivity();
  std::string output = node.logContents();
  std::cout << output << std::flush;
  EXPECT_FALSE(timedOut) << "the browser test did not finish within 20 minutes";
  EXPECT_EQ(code.value_or(-1), 0) << "browser test failed; its output is above";
}

}  // namespace
}  // namespace skiff::test
