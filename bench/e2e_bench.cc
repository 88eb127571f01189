// End-to-end benchmark (issues #9, #19): pod create → every container running and ready in the
// pod's status, through the real skiff-control-plane (API server, scheduler), skiff-virtual-node
// with the edge provider, skiff-hub, Mosquitto (TLS, CRL, ACL), one real skiff-agent and
// Podman's Docker API, all started by the e2e fixture (tests/e2e/system.h) with production log
// levels and agent intervals. The image is already on the device (pulled before, pullPolicy
// IfNotPresent). Pods are created one at a time and stay running. Every pod is a real pod on the
// device: an infra container holding the network namespace (on the fixture's bridge network),
// then its containers joining it.
//
// Two series: pods of 1 container, then pods of 3 containers.
//
// Per 1-container pod, the time is split into hops from timestamps the components record
// themselves and from an MQTT observer (the hub's broker identity, its own client id) watching
// the device's desired and reported topics — same machine, same clock:
//   1 POST /pods → the hub deployment's createdAt (API server, scheduler, virtual node informer
//     and pod controller, pod mapping, gRPC ApplyDeployment)
//   2 → the desired document carrying the pod reaches the observer (hub reconcile, signing,
//     publish, broker)
//   3 → the agent's "accepted desired state" log line (delivery, signature check, durable write)
//   4 → the container's State.StartedAt in Podman (sandbox create + start, container create +
//     start)
//   5 → a report showing the container running reaches the observer (the agent's 100 ms report
//     coalescing, publish)
//   6 → the pod's status shows it running and ready (hub ingest, WatchDeployments, virtual
//     node status patch, the benchmark's 5 ms GET poll)
//
// The real peer in the same run, same image, same command, same network as the agent's pods,
// one run right after each pod of a series (both meet the same engine state: as many
// containers, the same background work):
//   1 container:  `podman run -d --network <net>`
//   3 containers: `podman pod create --network <net>` + 3 × `podman run -d --pod <pod>`
//
//   e2e_bench [--pods 50] [--pods3 20] [--log-level info]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "common/bus/message_bus.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/protocol/protocol.h"
#include "tests/e2e/system.h"
#include "tests/support/http.h"

using namespace skiff;
using namespace skiff::bench;
using common::Json;
using Clock = std::chrono::system_clock;

namespace {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string podJson(const std::string& name, const std::string& image, int containers) {
  Json list = Json::array();
  for (int i = 0; i < containers; ++i) {
    list.push_back({{"name", containers == 1 ? std::string("app") : "app" + std::to_string(i)},
                    {"image", image},
                    {"imagePullPolicy", "IfNotPresent"},
                    {"command", Json::array({"sleep", "3600"})}});
  }
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}}},
              {"spec",
               {{"terminationGracePeriodSeconds", 1},
                {"nodeSelector", {{"device.skiff.io/site", "a"}}},
                {"tolerations", Json::array({{{"key", "virtual-kubelet.io/provider"},
                                              {"operator", "Exists"},
                                              {"effect", "NoSchedule"}}})},
                {"containers", list}}}};
  return common::dumpJson(pod);
}

bool runningAndReady(const std::string& body) {
  auto j = common::parseJson(body);
  if (!j.isOk()) return false;
  const Json& st = j->value("status", Json::object());
  if (st.value("phase", "") != "Running") return false;
  const Json& cs = st.value("containerStatuses", Json::array());
  if (cs.empty()) return false;
  for (const auto& c : cs) {
    if (!c.value("ready", false) || !c["state"].contains("running")) return false;
  }
  return true;
}

// Timestamps of the agent's "accepted desired state" lines (RFC 3339 at the line start).
std::vector<Clock::time_point> acceptedTimes(const std::string& log) {
  std::vector<Clock::time_point> out;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("accepted desired state") == std::string::npos) continue;
    auto t = common::parseRfc3339(line.substr(0, line.find(' ')));
    if (t) out.push_back(*t);
  }
  return out;
}

// Watches the device's MQTT topics with the hub's broker identity (another client id): when a
// desired document first carried a module, and when a report first showed it running.
class Observer {
 public:
  common::Status start(test::HubFixture& hub, const std::string& deviceId) {
    common::bus::BusOptions bo;
    bo.url = hub.mqttUrl();
    bo.clientId = "e2e-bench-observer";
    bo.tls = common::tls::TlsFiles{hub.dataDir() + "/pki/hub-mqtt-client.pem",
                                   hub.dataDir() + "/pki/hub-mqtt-client.key", hub.caFile()};
    bo.cleanStart = true;
    SKIFF_ASSIGN_OR_RETURN(bus_, common::bus::makePahoBus(bo));
    bus_->setHandlers([this](const common::bus::Message& m) { onMessage(m); },
                      [](bool, const std::string&) {});
    namespace proto = common::protocol;
    SKIFF_RETURN_IF_ERROR(bus_->subscribe(proto::topicFor(deviceId, proto::Channel::kDesired), 1));
    SKIFF_RETURN_IF_ERROR(bus_->subscribe(proto::topicFor(deviceId, proto::Channel::kReported), 1));
    bus_->start();
    return bus_->waitConnected(std::chrono::seconds(20));
  }
  ~Observer() {
    if (bus_) bus_->stop();
  }
  std::optional<Clock::time_point> desiredAt(const std::string& module) {
    std::lock_guard lock(mu_);
    auto it = desired_.find(module);
    return it == desired_.end() ? std::nullopt : std::optional(it->second);
  }
  std::optional<Clock::time_point> runningAt(const std::string& module) {
    std::lock_guard lock(mu_);
    auto it = running_.find(module);
    return it == running_.end() ? std::nullopt : std::optional(it->second);
  }

 private:
  void onMessage(const common::bus::Message& m) {
    auto now = Clock::now();
    auto j = common::protocol::parsePayload(m.payload);
    if (!j.isOk()) return;
    std::lock_guard lock(mu_);
    if (m.topic.ends_with("/desired")) {
      for (const auto& pod : j->value("pods", Json::array())) {
        for (const auto& c : pod.value("containers", Json::array())) {
          desired_.emplace(pod.value("name", "") + "/" + c.value("name", ""), now);
        }
      }
    } else {
      auto r = common::protocol::reportedFromJson(*j);
      if (!r.isOk()) return;
      for (const auto& mod : r->modules) {
        if (mod.state == common::protocol::ModuleState::kRunning) running_.emplace(mod.name, now);
      }
    }
  }
  std::unique_ptr<common::bus::MessageBus> bus_;
  std::mutex mu_;
  std::map<std::string, Clock::time_point> desired_, running_;
};

struct Hops {
  std::vector<double> apiToHub, hubPublish, mqttToAgent, agentToRun, report, hubToStatus;
};

void row(const char* name, const std::vector<double>& v) {
  std::printf("  %-40s p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms\n", name, pct(v, 0.5), pct(v, 0.99),
              pct(v, 1.0));
}

// One `podman run -d` of the image on the network; its duration in ms (nullopt: it failed).
std::optional<double> podmanRun(test::PodmanFixture& pm, const std::string& image,
                                const std::string& network) {
  auto t0 = Clock::now();
  auto r = pm.podman({"run", "-d", "--network", network, image, "sleep", "3600"});
  if (!r.isOk() || r->exitCode != 0) {
    std::fprintf(stderr, "podman run --network %s failed: %s\n", network.c_str(),
                 r.isOk() ? r->output.c_str() : r.status().toString().c_str());
    return std::nullopt;
  }
  return ms(Clock::now() - t0);
}

// `podman pod create` on the network + 3 `podman run --pod`; its duration in ms. The pod's infra
// container is the pause image the agent imported (Podman's own needs catatonit, which Debian's
// podman package does not pull in).
std::optional<double> podmanPod(test::PodmanFixture& pm, const std::string& image,
                                const std::string& network, const std::string& name) {
  auto listed = pm.podman({"images", "--format", "{{.Repository}}:{{.Tag}}", "--filter",
                           "reference=localhost/skiff-pause"});
  std::string pause = listed.isOk() ? listed->output.substr(0, listed->output.find('\n')) : "";
  if (pause.empty()) {
    std::fprintf(stderr, "no skiff-pause image in the engine\n");
    return std::nullopt;
  }
  auto t0 = Clock::now();
  auto r = pm.podman({"pod", "create", "--name", name, "--network", network, "--infra-image", pause,
                      "--infra-command", "/pause"});
  for (int c = 0; c < 3 && r.isOk() && r->exitCode == 0; ++c) {
    r = pm.podman({"run", "-d", "--pod", name, image, "sleep", "3600"});
  }
  if (!r.isOk() || r->exitCode != 0) {
    std::fprintf(stderr, "podman pod run failed: %s\n",
                 r.isOk() ? r->output.c_str() : r.status().toString().c_str());
    return std::nullopt;
  }
  return ms(Clock::now() - t0);
}

void ratio(const char* what, const std::vector<double>& ours, const std::vector<double>& peer,
           double target) {
  if (ours.empty() || peer.empty()) return;
  double r50 = pct(ours, 0.5) / pct(peer, 0.5);
  std::printf("ratio to %s: p50 %.2fx, p99 %.2fx: %s (p50 <= %.1f)\n", what, r50,
              pct(ours, 0.99) / pct(peer, 0.99), check(r50 <= target).c_str(), target);
}

}  // namespace

int main(int argc, char** argv) {
  int pods = 50;
  int pods3 = 20;
  std::string logLevel = "info";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--pods") pods = std::atoi(argv[i + 1]);
    if (a == "--pods3") pods3 = std::atoi(argv[i + 1]);
    if (a == "--log-level") logLevel = argv[i + 1];
  }
  test::SystemOptions so;
  so.name = "e2e-bench";
  so.controlPlane = true;
  so.logLevel = logLevel;
  auto sys = test::System::create(so);
  if (!sys.isOk()) {
    std::fprintf(stderr, "system: %s\n", sys.status().toString().c_str());
    return 1;
  }
  test::System& s = **sys;
  if (auto st = s.registry().pushBusybox("bench"); !st.isOk()) {
    std::fprintf(stderr, "push: %s\n", st.toString().c_str());
    return 1;
  }
  std::string image = s.registry().imageRef("bench");
  // The image is already on the device.
  auto pulled = s.podman().podman({"pull", image});
  if (!pulled.isOk() || pulled->exitCode != 0) {
    std::fprintf(stderr, "podman pull failed\n");
    return 1;
  }
  if (auto st = s.addAgent("pi-a", {{"site", "a"}}); !st.isOk()) {
    std::fprintf(stderr, "agent: %s\n", st.toString().c_str());
    return 1;
  }
  if (auto st = s.startVirtualNode(false); !st.isOk()) {
    std::fprintf(stderr, "virtual node: %s\n", st.toString().c_str());
    return 1;
  }
  if (!test::eventually([&] { return s.nodeReady("skiff-fleet"); })) {
    std::fprintf(stderr, "the fleet node did not become Ready:\n%s\n", s.diagnostics().c_str());
    return 1;
  }

  Observer observer;
  if (auto st = observer.start(s.hub(), "pi-a"); !st.isOk()) {
    std::fprintf(stderr, "observer: %s\n", st.toString().c_str());
    return 1;
  }

  Target target{s.controlPlane().baseUrl(), s.controlPlane().caFile(),
                s.controlPlane().adminToken()};
  Client c(target);
  std::map<std::string, std::pair<Clock::time_point, Clock::time_point>> times;  // name → t0, t1
  std::vector<double> total;
  auto createAndWait = [&](const std::string& name, int containers = 1) -> bool {
    std::string body;
    auto t0 = Clock::now();
    if (c.request("POST", "/api/v1/namespaces/default/pods", podJson(name, image, containers),
                  &body) != 201) {
      std::fprintf(stderr, "create %s failed: %s\n", name.c_str(), body.c_str());
      return false;
    }
    auto deadline = t0 + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      body.clear();
      if (c.request("GET", "/api/v1/namespaces/default/pods/" + name, "", &body) == 200 &&
          runningAndReady(body)) {
        times[name] = {t0, Clock::now()};
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::fprintf(stderr, "%s did not become Running:\n%s\n%s\n", name.c_str(), body.c_str(),
                 s.diagnostics().c_str());
    return false;
  };
  // Warm-up (not measured): first connections, caches, the first container of the image.
  for (int i = 0; i < 2; ++i) {
    if (!createAndWait("warmup-" + std::to_string(i))) return 1;
  }
  // The real peer, same image, command and network, interleaved with Skiff's pods so that both
  // meet the same engine state (as many containers, the same background work).
  const std::string net = s.podman().networkName();
  std::vector<double> bridge, peerPods;
  for (int i = 0; i < pods; ++i) {
    std::string name = "bench-" + std::to_string(i);
    if (!createAndWait(name)) return 1;
    total.push_back(ms(times[name].second - times[name].first));
    auto r = podmanRun(s.podman(), image, net);
    if (!r) return 1;
    bridge.push_back(*r);
  }
  std::vector<double> total3;
  for (int i = 0; i < pods3; ++i) {
    std::string name = "bench3-" + std::to_string(i);
    if (!createAndWait(name, 3)) return 1;
    total3.push_back(ms(times[name].second - times[name].first));
    auto r = podmanPod(s.podman(), image, net, "bench-peer-" + std::to_string(i));
    if (!r) return 1;
    peerPods.push_back(*r);
  }

  // Per-hop attribution from the components' own timestamps.
  Hops hops;
  auto deps = s.hubDeployments();
  auto accepted = acceptedTimes(s.agent("pi-a").log());
  std::map<std::string, Clock::time_point> hubCreated;
  if (deps.isOk()) {
    for (const auto& d : (*deps)["items"]) {
      std::string pod = d.value("annotations", Json::object()).value("skiff.io/pod-name", "");
      hubCreated[pod] =
          Clock::time_point(std::chrono::milliseconds(d.value("createdAtUnixMs", int64_t{0})));
    }
  }
  for (int i = 0; i < pods; ++i) {
    std::string name = "bench-" + std::to_string(i);
    auto [t0, t1] = times[name];
    auto created = hubCreated.find(name);
    auto ctrs = s.moduleContainers("pi-a", name + "/app");
    if (created == hubCreated.end() || !ctrs.isOk() || ctrs->size() != 1) continue;
    auto inspect =
        test::httpGet("http://d/v1.40/containers/" + (*ctrs)[0].value("Id", "") + "/json", {},
                      s.podman().socketPath());
    if (!inspect.isOk()) continue;
    auto ij = common::parseJson(inspect->body);
    if (!ij.isOk()) continue;
    auto started = common::parseRfc3339((*ij)["State"].value("StartedAt", ""));
    Clock::time_point acc{};
    for (auto a : accepted) {
      if (a >= created->second - std::chrono::milliseconds(1)) {
        acc = a;
        break;
      }
    }
    auto desired = observer.desiredAt(name + "/app");
    auto reported = observer.runningAt(name + "/app");
    if (!started || acc == Clock::time_point{} || !desired || !reported) continue;
    hops.apiToHub.push_back(ms(created->second - t0));
    hops.hubPublish.push_back(ms(*desired - created->second));
    hops.mqttToAgent.push_back(ms(acc - *desired));
    hops.agentToRun.push_back(ms(*started - acc));
    hops.report.push_back(ms(*reported - *started));
    hops.hubToStatus.push_back(ms(t1 - *reported));
  }

  double p99 = pct(total, 0.99);
  std::printf(
      "end to end: pod create -> every container running+ready in pod status (sequential, "
      "image on the device; %d pods and %zu peer containers running at the end)\n",
      pods + pods3 + 2, bridge.size() + 4 * peerPods.size());
  row("pod of 1 container", total);
  row("pod of 3 containers", total3);
  std::printf("per hop, pods of 1 container (%zu pods with every timestamp):\n",
              hops.apiToHub.size());
  row("1 API+scheduler+virtual node -> hub", hops.apiToHub);
  row("2 hub apply -> desired on the broker", hops.hubPublish);
  row("3 broker -> agent accepted", hops.mqttToAgent);
  row("4 agent accepted -> container started", hops.agentToRun);
  row("5 started -> report on the broker", hops.report);
  row("6 report -> pod status seen", hops.hubToStatus);
  std::printf("real peer (network %s; one run right after each pod of the series):\n", net.c_str());
  row("podman run -d --network <net>", bridge);
  row("podman pod create + 3 podman run --pod", peerPods);
  std::printf("p99 <= 2 s (1 container): %s (%.0f ms)\n", check(p99 <= 2000).c_str(), p99);
  ratio("podman run (pod of 1 container)", total, bridge, 1.5);
  ratio("podman pod create + 3 podman run --pod (pod of 3)", total3, peerPods, 1.3);
  return 0;
}
