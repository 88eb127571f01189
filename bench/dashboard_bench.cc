// Dashboard benchmark (issue #10): what an open dashboard page costs the browser while a fleet
// reports like agents do (metrics every 15 s, a report every 30 s), through the real skiff-hub's
// event stream. For each fleet size N: the real hub + Mosquitto (TLS) with N simulated devices
// (DeviceSwarm, libmosquitto) targeted by one two-module deployment; then
// hub/dashboard/bench/page_cost.mjs measures each page in Debian Chromium twice in the same run:
// with the fleet quiet (no reports: the page's own idle cost) and with the fleet reporting. It
// prints main-thread busy time, long tasks, late frames and the event stream's bandwidth, and
// the ratio reporting/quiet.
//
//   dashboard_bench [--devices 500,2000] [--seconds 30] [--pages overview,devices]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/device_swarm.h"
#include "common/json.h"
#include "common/log.h"
#include "tests/support/hub.h"
#include "tests/support/process.h"

using namespace skiff;
using bench::must;
using namespace std::chrono_literals;

namespace {

std::vector<int> parseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoi(item));
  return out;
}

int onlineDevices(test::HubFixture& hub) {
  v1::FleetStatus fs;
  v1::GetFleetStatusRequest req;
  auto s = hub.stub()->GetFleetStatus(hub.context().get(), req, &fs);
  return s.ok() ? fs.online() : -1;
}

int appliedOf(test::HubFixture& hub, const std::string& id) {
  v1::GetDeploymentRequest req;
  req.set_id(id);
  v1::Deployment d;
  if (!hub.stub()->GetDeployment(hub.context().get(), req, &d).ok()) return -1;
  return d.status().applied();
}

// One run of page_cost.mjs: its JSON lines by page.
std::map<std::string, common::Json> measure(test::HubFixture& hub, const std::string& pin,
                                            const std::string& pages, int seconds) {
  auto r = must(
      test::runCommand({SKIFF_NODE_BIN, std::string(SKIFF_DASHBOARD_DIR) + "/bench/page_cost.mjs"},
                       {{"SKIFF_DASH_URL", hub.httpsUrl()},
                        {"SKIFF_DASH_ADMIN_TOKEN", hub.adminToken()},
                        {"SKIFF_DASH_SPKI", pin},
                        {"PAGES", pages},
                        {"SECONDS_TO_MEASURE", std::to_string(seconds)}},
                       std::chrono::seconds(seconds * 4 + 180)),
      "page_cost.mjs");
  if (r.exitCode != 0) {
    std::fprintf(stderr, "page_cost.mjs exited with %d:\n%s\n", r.exitCode, r.output.c_str());
    std::exit(1);
  }
  std::map<std::string, common::Json> out;
  std::stringstream in(r.output);
  std::string line;
  while (std::getline(in, line)) {
    auto j = common::parseJson(line);
    if (j.isOk() && j->is_object() && j->contains("page")) out[(*j)["page"]] = *j;
  }
  return out;
}

void printRow(int n, const char* fleet, const common::Json& m) {
  std::printf("%6d  %-9s %-9s %7.2f %8.2f %8.1f %7d %7d %9d %8d %7.1f\n", n,
              m.value("page", "").c_str(), fleet, m.value("busyPercent", 0.0),
              m.value("scriptPercent", 0.0), m.value("streamKBps", 0.0), m.value("longTasks", 0),
              m.value("maxTaskMs", 0), m.value("lateFrames", 0), m.value("maxFrameMs", 0),
              m.value("heapMB", 0.0));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {500, 2000};
  int seconds = 30;
  std::string pages = "overview,devices";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--devices") sizes = parseList(argv[i + 1]);
    if (a == "--seconds") seconds = std::stoi(argv[i + 1]);
    if (a == "--pages") pages = argv[i + 1];
  }
  common::log::configure(common::log::Level::kError, common::log::Format::kText, "bench");
  std::printf(
      "dashboard page cost while the fleet reports (metrics every 15 s, report every 30 s), "
      "%d s per measurement\n",
      seconds);
  std::printf("%6s  %-9s %-9s %7s %8s %8s %7s %7s %9s %8s %7s\n", "fleet", "page", "devices",
              "busy%", "script%", "SSE KB/s", "long>50", "maxTask", "lateFrame", "maxFrame",
              "heapMB");
  for (int n : sizes) {
    test::HubFixtureOptions ho;
    ho.dashboardDir = std::string(SKIFF_DASHBOARD_DIR) + "/dist";
    auto hub = must(test::HubFixture::create(ho), "hub");
    auto devices = must(bench::registerSwarmDevices(*hub, n,
                                                    [](int i) {
                                                      return std::map<std::string, std::string>{
                                                          {"fleet", "bench"},
                                                          {"site", "s" + std::to_string(i % 20)}};
                                                    }),
                        "register devices");
    v1::ApplyDeploymentRequest req;
    v1::Deployment* d = req.mutable_deployment();
    d->set_id("base");
    d->set_target_selector("fleet=bench");
    d->set_modules_json(R"([{"name":"base/agent","image":"registry.local/agent:1"},)"
                        R"({"name":"base/exporter","image":"registry.local/exporter:1"}])");
    v1::Deployment out;
    if (auto s = hub->stub()->ApplyDeployment(hub->context().get(), req, &out); !s.ok()) {
      std::fprintf(stderr, "apply: %s\n", s.error_message().c_str());
      return 1;
    }
    bench::SwarmOptions so;
    so.port = std::stoi(hub->mqttUrl().substr(hub->mqttUrl().rfind(':') + 1));
    so.caFile = hub->caFile();
    so.signingPublicKeyPem = hub->signingPublicKeyPem();
    so.devices = devices;
    auto swarm = must(bench::DeviceSwarm::start(so), "swarm");
    swarm->setVerifySignatures(false);
    auto t = std::chrono::steady_clock::now();
    while ((onlineDevices(*hub) < n || appliedOf(*hub, "base") < n) &&
           std::chrono::steady_clock::now() - t < 600s) {
      std::this_thread::sleep_for(200ms);
    }
    std::string pin = must(hub->httpsKeyPin(), "pin");
    // Quiet fleet: no reports, the page's own cost.
    swarm->setHeartbeat(0ms, 0ms);
    std::this_thread::sleep_for(2s);
    auto quiet = measure(*hub, pin, pages, seconds);
    // Reporting like agents.
    swarm->setHeartbeat(30s, 15s);
    std::this_thread::sleep_for(5s);
    auto live = measure(*hub, pin, pages, seconds);
    for (const auto& [page, m] : quiet) {
      printRow(n, "quiet", m);
      if (!live.contains(page)) continue;
      printRow(n, "reporting", live[page]);
      double q = std::max(0.1, m.value("busyPercent", 0.0));
      std::printf("%6d  %-9s ratio reporting/quiet main-thread busy: %.1fx\n", n, page.c_str(),
                  live[page].value("busyPercent", 0.0) / q);
    }
    std::fflush(stdout);
    swarm->stop();
  }
  return 0;
}
