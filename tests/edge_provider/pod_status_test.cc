// Status aggregation from the hub's per-device view: phases (Pending until devices report,
// Running when every reachable targeted device runs every module, Succeeded/Failed for completed
// Never/OnFailure pods, one-way transitions), conditions, container statuses (the device that
// speaks for a container, reasons, restart counts, digests, last termination), the
// skiff.io/devices summary and the notices that become Events.
#include "edge_provider/pod_status.h"

#include <gtest/gtest.h>

namespace skiff::edge_provider {
namespace {

namespace protocol = common::protocol;
using protocol::ModuleState;
using protocol::ModuleStatus;

Json pod(const std::string& restartPolicy = "Always", const std::string& phase = "Pending") {
  return {{"metadata", {{"name", "web"}, {"namespace", "default"}, {"uid", "u"}}},
          {"spec",
           {{"restartPolicy", restartPolicy},
            {"containers",
             {{{"name", "app"}, {"image", "reg/app:1"}},
              {{"name", "side"}, {"image", "reg/side:1"}}}}}},
          {"status", {{"phase", phase}}}};
}

ModuleStatus running(const std::string& container, bool ready = true) {
  ModuleStatus m;
  m.started = true;
  m.name = "web/" + container;
  m.deploymentId = "dep";
  m.image = "reg/" + container + ":1";
  m.imageId = "sha256:" + container;
  m.containerId = "c-" + container;
  m.state = ModuleState::kRunning;
  m.startedAt = "2026-12-01T10:00:00Z";
  m.ready = ready;
  return m;
}

ModuleStatus waiting(const std::string& container, const std::string& reason, int restarts = 0) {
  ModuleStatus m = running(container);
  m.state = ModuleState::kWaiting;
  m.reason = reason;
  m.message = "detail of " + reason;
  m.ready = false;
  m.restartCount = restarts;
  if (restarts > 0) m.lastTermination = protocol::Termination{1, "Error", "t0", "t1"};
  return m;
}

ModuleStatus exited(const std::string& container, int code) {
  ModuleStatus m = running(container);
  m.state = ModuleState::kTerminated;
  m.exitCode = code;
  m.reason = code == 0 ? "Completed" : "Error";
  m.finishedAt = "2026-12-01T10:01:00Z";
  m.ready = false;
  return m;
}

struct Dev {
  std::string id;
  bool online = true;
  bool applied = true;
  std::vector<ModuleStatus> modules;
  std::string error;
  std::vector<std::string> shadowed;  // pod names
  std::string phase;                  // "" = what the agent reports for these containers
  std::string podIP = "";
};

// The pod status an agent reports with these containers (edge_agent/pod/pod_state.h's rules for
// the cases these tests use): Pending while a container waits to start for the first time,
// Succeeded/Failed when every container exited (Never), else Running; ready when all are.
protocol::PodStatus agentPod(const Dev& dv) {
  protocol::PodStatus ps;
  ps.name = "web";
  ps.deploymentId = "dep";
  ps.initialized = true;
  ps.podIP = dv.podIP.empty() ? "10.88.0." + std::to_string(dv.id.size()) : dv.podIP;
  ps.hostIP = "192.0.2." + std::to_string(dv.id.size());
  bool waiting = false, exited = !dv.modules.empty(), failed = false, ready = true;
  for (const auto& m : dv.modules) {
    if (m.state == ModuleState::kWaiting && m.restartCount == 0) waiting = true;
    if (m.state != ModuleState::kTerminated) exited = false;
    if (m.state == ModuleState::kTerminated && m.exitCode.value_or(0) != 0) failed = true;
    ready = ready && m.ready && m.state == ModuleState::kRunning;
  }
  ps.phase = !dv.phase.empty() ? dv.phase
             : waiting         ? "Pending"
             : exited          ? (failed ? "Failed" : "Succeeded")
                               : "Running";
  ps.ready = ready && ps.phase == "Running" && dv.modules.size() == 2;
  if (dv.modules.size() < 2 && ps.phase == "Running") ps.phase = "Pending";
  return ps;
}

::skiff::v1::Deployment deployment(const std::vector<Dev>& devs) {
  ::skiff::v1::Deployment d;
  d.set_id("dep");
  d.set_generation(2);
  d.set_target_selector("site=a");
  for (const auto& dv : devs) {
    auto* dm = d.mutable_status()->add_devices();
    dm->set_device_id(dv.id);
    dm->set_online(dv.online);
    dm->set_applied(dv.applied);
    dm->set_error(dv.error);
    for (const auto& s : dv.shadowed) dm->add_shadowed_pods(s);
    Json mods = Json::array();
    for (const auto& m : dv.modules) mods.push_back(protocol::toJson(m));
    dm->set_modules_json(mods.dump());
    dm->set_pods_json(Json::array({protocol::toJson(agentPod(dv))}).dump());
  }
  return d;
}

StatusOutput compute(const Json& p, const ::skiff::v1::Deployment* d, bool deviceMode = false,
                     const std::string& mappingError = "") {
  StatusInput in;
  in.pod = &p;
  in.deployment = d;
  in.deviceMode = deviceMode;
  in.mappingError = mappingError;
  in.now = std::chrono::system_clock::time_point(std::chrono::seconds(1800000000));
  return computePodStatus(in);
}

std::string condition(const StatusOutput& o, const std::string& type) {
  for (const auto& c : o.status["conditions"]) {
    if (c["type"] == type) return c["status"];
  }
  return "";
}

const Json& container(const StatusOutput& o, const std::string& name) {
  for (const auto& c : o.status["containerStatuses"]) {
    if (c["name"] == name) return c;
  }
  static const Json kNone;
  return kNone;
}

bool noticed(const StatusOutput& o, const std::string& reason, const std::string& text) {
  for (const auto& n : o.notices) {
    if (n.reason == reason && n.message.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(PodStatusTest, PendingUntilTheHubAndDevicesReport) {
  Json p = pod();
  auto none = compute(p, nullptr);
  EXPECT_EQ(none.status["phase"], "Pending");
  EXPECT_EQ(container(none, "app")["state"]["waiting"]["reason"], "ContainerCreating");
  EXPECT_EQ(condition(none, "PodScheduled"), "True");
  EXPECT_EQ(condition(none, "Ready"), "False");
  EXPECT_TRUE(none.devicesAnnotation.find("\"targeted\":0") != std::string::npos);

  auto empty = deployment({});
  auto nomatch = compute(p, &empty);
  EXPECT_EQ(container(nomatch, "app")["state"]["waiting"]["reason"], "NoMatchingDevices");
  EXPECT_NE(
      container(nomatch, "app")["state"]["waiting"]["message"].get<std::string>().find("site=a"),
      std::string::npos);

  auto notApplied = deployment({{"pi-1", true, false, {running("app"), running("side")}}});
  auto o = compute(p, &notApplied);
  EXPECT_EQ(o.status["phase"], "Pending");
  EXPECT_EQ(container(o, "app")["state"]["waiting"]["reason"], "ContainerCreating");
  EXPECT_NE(container(o, "app")["state"]["waiting"]["message"].get<std::string>().find(
                "has not applied generation 2"),
            std::string::npos);
}

TEST(PodStatusTest, MappingErrorsShowAsCreateContainerConfigError) {
  Json p = pod();
  auto o = compute(p, nullptr, false, "spec.containers[0].env[0]: configmap \"x\" not found");
  EXPECT_EQ(o.status["phase"], "Pending");
  EXPECT_EQ(o.status["reason"], "CreateContainerConfigError");
  EXPECT_EQ(container(o, "app")["state"]["waiting"]["reason"], "CreateContainerConfigError");
  EXPECT_NE(container(o, "app")["state"]["waiting"]["message"].get<std::string>().find("configmap"),
            std::string::npos);
}

TEST(PodStatusTest, RunningWhenEveryReachableDeviceRunsEveryModule) {
  Json p = pod();
  auto d = deployment({{"pi-1", true, true, {running("app"), running("side")}},
                       {"pi-2", true, true, {running("app"), running("side")}}});
  auto o = compute(p, &d);
  EXPECT_EQ(o.status["phase"], "Running");
  EXPECT_EQ(condition(o, "ContainersReady"), "True");
  EXPECT_EQ(condition(o, "Ready"), "True");
  const Json& app = container(o, "app");
  EXPECT_TRUE(app["ready"].get<bool>());
  EXPECT_TRUE(app["started"].get<bool>());
  EXPECT_EQ(app["state"]["running"]["startedAt"], "2026-12-01T10:00:00Z");
  EXPECT_EQ(app["image"], "reg/app:1");
  EXPECT_EQ(app["imageID"], "sha256:app");
  EXPECT_EQ(app["containerID"], "skiff://pi-1/c-app");
  Json summary = Json::parse(o.devicesAnnotation);
  EXPECT_EQ(summary["targeted"], 2);
  EXPECT_EQ(summary["running"], 2);
  EXPECT_EQ(summary["failed"], 0);
  EXPECT_EQ(summary["devices"]["pi-2"], "running");
  EXPECT_TRUE(noticed(o, "Started", "device pi-2: started container side"));

  // One device still starting: Pending (never Running before), and ContainerCreating shows.
  auto half = deployment({{"pi-1", true, true, {running("app"), running("side")}},
                          {"pi-2", true, true, {running("app")}}});
  auto h = compute(p, &half);
  EXPECT_EQ(h.status["phase"], "Pending");
  EXPECT_EQ(container(h, "side")["state"]["waiting"]["reason"], "ContainerCreating");
  EXPECT_EQ(Json::parse(h.devicesAnnotation)["devices"]["pi-2"], "pending");
  // Running but not ready: Running, not Ready.
  auto unready = deployment({{"pi-1", true, true, {running("app", false), running("side")}}});
  auto u = compute(p, &unready);
  EXPECT_EQ(u.status["phase"], "Running");
  EXPECT_EQ(condition(u, "Ready"), "False");
  EXPECT_FALSE(container(u, "app")["ready"].get<bool>());
}

TEST(PodStatusTest, FailingDeviceSpeaksForTheContainer) {
  Json p = pod("Always", "Running");
  auto d =
      deployment({{"pi-1", true, true, {running("app"), running("side")}},
                  {"pi-2", true, true, {waiting("app", "CrashLoopBackOff", 4), running("side")}},
                  {"pi-3", true, true, {waiting("app", "CrashLoopBackOff", 2), running("side")}}});
  auto o = compute(p, &d);
  EXPECT_EQ(o.status["phase"], "Running") << "phases never go back to Pending";
  const Json& app = container(o, "app");
  EXPECT_EQ(app["state"]["waiting"]["reason"], "CrashLoopBackOff");
  std::string msg = app["state"]["waiting"]["message"];
  EXPECT_NE(msg.find("device pi-2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(and 1 more devices)"), std::string::npos) << msg;
  EXPECT_EQ(app["restartCount"], 4);
  EXPECT_EQ(app["lastState"]["terminated"]["exitCode"], 1);
  EXPECT_EQ(condition(o, "Ready"), "False");
  Json summary = Json::parse(o.devicesAnnotation);
  EXPECT_EQ(summary["failed"], 2);
  EXPECT_EQ(summary["running"], 1);
  EXPECT_TRUE(noticed(o, "BackOff", "Back-off restarting failed container app on device pi-3"));

  auto pull = deployment({{"pi-1", true, true, {waiting("app", "ErrImagePull"), running("side")}}});
  auto pu = compute(pod(), &pull);
  EXPECT_EQ(pu.status["phase"], "Pending");
  EXPECT_EQ(container(pu, "app")["state"]["waiting"]["reason"], "ErrImagePull");
  EXPECT_TRUE(noticed(pu, "Failed", "device pi-1: container app: ErrImagePull"));
}

TEST(PodStatusTest, RefusedDocumentsAndShadowedPods) {
  auto refused = deployment({{"pi-1", true, true, {}, "SignatureInvalid: bad signature"}});
  auto r = compute(pod(), &refused);
  EXPECT_EQ(container(r, "app")["state"]["waiting"]["reason"], "CreateContainerError");
  EXPECT_TRUE(noticed(r, "DesiredStateRefused", "SignatureInvalid"));
  EXPECT_EQ(Json::parse(r.devicesAnnotation)["failed"], 1);
  auto shadowed = deployment({{"pi-1", true, true, {running("side")}, "", {"web"}}});
  auto s = compute(pod(), &shadowed);
  EXPECT_EQ(container(s, "app")["state"]["waiting"]["reason"], "PodShadowed");
}

TEST(PodStatusTest, OfflineDevices) {
  // Fleet mode: one of two offline — the reachable one decides; the summary tells.
  auto d = deployment({{"pi-1", true, true, {running("app"), running("side")}},
                       {"pi-2", false, true, {running("app"), running("side")}}});
  auto o = compute(pod(), &d);
  EXPECT_EQ(o.status["phase"], "Running");
  EXPECT_EQ(condition(o, "Ready"), "True");
  Json summary = Json::parse(o.devicesAnnotation);
  EXPECT_EQ(summary["offline"], 1);
  EXPECT_EQ(summary["devices"]["pi-2"], "offline");
  EXPECT_TRUE(noticed(o, "DeviceOffline", "device pi-2 is offline"));
  // Device mode, its device offline: last known phase, not ready, reason DeviceOffline.
  auto one = deployment({{"pi-1", false, true, {running("app"), running("side")}}});
  auto dm = compute(pod("Always", "Running"), &one, true);
  EXPECT_EQ(dm.status["phase"], "Running");
  EXPECT_EQ(condition(dm, "Ready"), "False");
  EXPECT_EQ(dm.status["reason"], "DeviceOffline");
  EXPECT_FALSE(container(dm, "app")["ready"].get<bool>());
  auto never = compute(pod(), &one, true);
  EXPECT_EQ(never.status["phase"], "Pending");
}

TEST(PodStatusTest, CompletionsForNeverAndOnFailure) {
  auto ok = deployment({{"pi-1", true, true, {exited("app", 0), exited("side", 0)}},
                        {"pi-2", true, true, {exited("app", 0), exited("side", 0)}}});
  EXPECT_EQ(compute(pod("Never"), &ok).status["phase"], "Succeeded");
  EXPECT_EQ(compute(pod("OnFailure"), &ok).status["phase"], "Succeeded");
  auto bad = deployment({{"pi-1", true, true, {exited("app", 0), exited("side", 0)}},
                         {"pi-2", true, true, {exited("app", 2), exited("side", 0)}}});
  auto f = compute(pod("Never"), &bad);
  EXPECT_EQ(f.status["phase"], "Failed");
  EXPECT_EQ(container(f, "app")["state"]["terminated"]["exitCode"], 2);
  EXPECT_EQ(Json::parse(f.devicesAnnotation)["completed"], 1);
  // OnFailure: the agent restarts the failed container, so its pod is Running, never Failed.
  auto restarting =
      deployment({{"pi-1", true, true, {exited("app", 0), exited("side", 0)}},
                  {"pi-2", true, true, {exited("app", 2), exited("side", 0)}, "", {}, "Running"}});
  EXPECT_NE(compute(pod("OnFailure"), &restarting).status["phase"], "Failed")
      << "OnFailure restarts: never Failed";
  // An offline device may still be running: not terminal yet.
  auto partial = deployment({{"pi-1", true, true, {exited("app", 0), exited("side", 0)}},
                             {"pi-2", false, true, {running("app"), running("side")}}});
  EXPECT_NE(compute(pod("Never"), &partial).status["phase"], "Succeeded");
  // Terminal phases stay terminal.
  auto again = deployment({{"pi-1", true, true, {running("app"), running("side")}}});
  EXPECT_EQ(compute(pod("Never", "Succeeded"), &again).status["phase"], "Succeeded");
}

}  // namespace
}  // namespace skiff::edge_provider
