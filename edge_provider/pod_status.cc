// Pod status aggregation over a deployment's devices (see pod_status.h).
#include "edge_provider/pod_status.h"

#include <algorithm>
#include <map>
#include <optional>

#include "common/clock.h"
#include "edge_provider/pod_mapping.h"

namespace skiff::edge_provider {

using common::jsonField;
using common::jsonString;
using protocol::ModuleState;
using protocol::ModuleStatus;

namespace {

constexpr std::size_t kMaxListedDevices = 50;

struct DeviceView {
  std::string id;
  bool online = false;
  bool applied = false;
  bool shadowed = false;
  std::string error;
  std::optional<protocol::PodStatus> pod;  // the device's view of this pod
  std::vector<ModuleStatus> modules;       // its containers
};

// One device's state of one container.
struct Observed {
  std::string deviceId;
  bool online = false;
  // What the device says (or what we infer when it says nothing useful).
  enum class Kind { kWaiting, kRunning, kTerminated } kind = Kind::kWaiting;
  std::string reason;
  std::string message;
  const ModuleStatus* module = nullptr;  // null when the device reports nothing for it
};

struct SpecContainer {
  std::string name;
  std::string image;
  bool sidecar = false;
};

const ModuleStatus* find(const DeviceView& d, const std::string& name) {
  for (const auto& m : d.modules) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

Observed observe(const DeviceView& d, const std::string& module, long long generation,
                 const std::string& notCreated) {
  Observed o;
  o.deviceId = d.id;
  o.online = d.online;
  o.module = find(d, module);
  if (!d.error.empty()) {
    o.reason = "CreateContainerError";
    o.message = "device " + d.id + " refused its desired state: " + d.error;
    return o;
  }
  if (d.shadowed) {
    o.reason = "PodShadowed";
    o.message = "device " + d.id + ": pod is overridden by a higher-priority deployment";
    return o;
  }
  if (!d.applied || o.module == nullptr) {
    o.reason = notCreated;
    o.message = d.applied ? "device " + d.id + " has not started " + module + " yet"
                          : "device " + d.id + " has not applied generation " +
                                std::to_string(generation) + " yet";
    if (!d.applied) o.module = nullptr;  // what it reports belongs to an older spec
    return o;
  }
  const ModuleStatus& m = *o.module;
  o.reason = m.reason;
  o.message = m.message;
  switch (m.state) {
    case ModuleState::kRunning:
      o.kind = Observed::Kind::kRunning;
      break;
    case ModuleState::kTerminated:
      o.kind = Observed::Kind::kTerminated;
      break;
    case ModuleState::kWaiting:
      if (o.reason.empty()) o.reason = notCreated;
      break;
  }
  return o;
}

Json stateJson(const Observed& o) {
  if (o.kind == Observed::Kind::kRunning) {
    Json r = Json::object();
    if (o.module && !o.module->startedAt.empty()) r["startedAt"] = o.module->startedAt;
    return {{"running", r}};
  }
  if (o.kind == Observed::Kind::kTerminated) {
    Json t = {{"exitCode", o.module && o.module->exitCode ? *o.module->exitCode : 0},
              {"reason", o.reason.empty() ? "Completed" : o.reason}};
    if (!o.message.empty()) t["message"] = o.message;
    if (o.module && !o.module->startedAt.empty()) t["startedAt"] = o.module->startedAt;
    if (o.module && !o.module->finishedAt.empty()) t["finishedAt"] = o.module->finishedAt;
    if (o.module && !o.module->containerId.empty()) {
      t["containerID"] = "skiff://" + o.deviceId + "/" + o.module->containerId;
    }
    return {{"terminated", t}};
  }
  Json w = {{"reason", o.reason}};
  if (!o.message.empty()) w["message"] = o.message;
  return {{"waiting", w}};
}

bool failedTermination(const Observed& o) {
  return o.kind == Observed::Kind::kTerminated && o.module && o.module->exitCode.value_or(0) != 0;
}

Json condition(const std::string& type, bool ok, const std::string& reason,
               const std::string& message, const std::string& now) {
  Json c = {{"type", type},
            {"status", ok ? "True" : "False"},
            {"lastProbeTime", nullptr},
            {"lastTransitionTime", now}};
  if (!ok && !reason.empty()) c["reason"] = reason;
  if (!ok && !message.empty()) c["message"] = message;
  return c;
}

std::string bracketList(const std::vector<std::string>& names) {
  std::string out = "[";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? " " : "") + names[i];
  return out + "]";
}

// The devices' views of this pod, sorted by device id.
std::vector<DeviceView> devicesOf(const ::skiff::v1::Deployment& dep, const std::string& podName) {
  std::vector<DeviceView> devices;
  for (const auto& dm : dep.status().devices()) {
    DeviceView d;
    d.id = dm.device_id();
    d.online = dm.online();
    d.applied = dm.applied();
    d.error = dm.error();
    d.shadowed = std::find(dm.shadowed_pods().begin(), dm.shadowed_pods().end(), podName) !=
                 dm.shadowed_pods().end();
    if (auto j = common::parseJson(dm.modules_json()); j.isOk() && j->is_array()) {
      for (std::size_t i = 0; i < j->size(); ++i) {
        auto ms = protocol::moduleStatusFromJson((*j)[i], "modules[" + std::to_string(i) + "]");
        if (ms.isOk()) d.modules.push_back(std::move(*ms));
      }
    }
    if (auto j = common::parseJson(dm.pods_json()); j.isOk() && j->is_array()) {
      for (std::size_t i = 0; i < j->size(); ++i) {
        auto ps = protocol::podStatusFromJson((*j)[i], "pods[" + std::to_string(i) + "]");
        if (ps.isOk() && ps->name == podName) d.pod = std::move(*ps);
      }
    }
    devices.push_back(std::move(d));
  }
  std::sort(devices.begin(), devices.end(),
            [](const DeviceView& a, const DeviceView& b) { return a.id < b.id; });
  return devices;
}

// The pod has completed (Succeeded or Failed) on the device.
bool completedOn(const std::vector<DeviceView>& devices, const std::string& deviceId) {
  for (const auto& d : devices) {
    if (d.id == deviceId && d.pod) return d.pod->phase == "Succeeded" || d.pod->phase == "Failed";
  }
  return false;
}

// What all devices say about one container.
struct Aggregate {
  Json status;
  bool ready = true;       // ready on every reachable device
  bool running = true;     // running on every reachable device
  bool started = true;     // started (or done) on every reachable device
  bool terminated = true;  // terminated on every reachable device
  bool failedExit = false;
  std::map<std::string, Observed> byDevice;  // online devices
};

// Notices (Kubernetes Events): per device and container, while the condition lasts.
void addNotices(const std::vector<DeviceView>& devices, const std::vector<Observed>& obs,
                const SpecContainer& c, std::vector<DeviceNotice>& notices) {
  for (const auto& o : obs) {
    if (!o.online) continue;
    std::string base = o.deviceId + "/" + c.name + "/";
    if (o.kind == Observed::Kind::kWaiting && isFailureReason(o.reason)) {
      std::string reason = o.reason == "CrashLoopBackOff" ? "BackOff" : "Failed";
      std::string msg =
          o.reason == "CrashLoopBackOff"
              ? "Back-off restarting failed container " + c.name + " on device " + o.deviceId
              : "device " + o.deviceId + ": container " + c.name + ": " + o.reason +
                    (o.message.empty() ? "" : ": " + o.message);
      notices.push_back({base + o.reason, "Warning", reason, msg});
    } else if (failedTermination(o) && !(c.sidecar && completedOn(devices, o.deviceId))) {
      // (The sidecars of a completed pod were stopped by the agent: not a failure.)
      notices.push_back({base + "terminated/" + o.module->finishedAt, "Warning", "Failed",
                         "device " + o.deviceId + ": container " + c.name +
                             " terminated with exit code " +
                             std::to_string(o.module->exitCode.value_or(0))});
    } else if (o.kind == Observed::Kind::kRunning && o.module) {
      notices.push_back(
          {base + "started/" + o.module->containerId + "/" + std::to_string(o.module->restartCount),
           "Normal", "Started", "device " + o.deviceId + ": started container " + c.name});
      if (o.module->health == protocol::Health::kUnhealthy) {
        notices.push_back(
            {base + "unhealthy", "Warning", "Unhealthy",
             "device " + o.deviceId + ": container " + c.name + ": liveness probe failed"});
      }
    }
  }
}

Aggregate aggregate(const StatusInput& in, const std::vector<DeviceView>& devices,
                    const std::string& podName, const SpecContainer& c, long long generation,
                    const std::string& notCreated, int reachable,
                    std::vector<DeviceNotice>& notices) {
  Aggregate a;
  a.ready = reachable > 0;
  std::string module = moduleNameFor(podName, c.name);
  std::vector<Observed> obs;
  for (const auto& d : devices) obs.push_back(observe(d, module, generation, notCreated));
  int maxRestarts = 0;
  for (const auto& o : obs) {
    if (o.module) maxRestarts = std::max(maxRestarts, o.module->restartCount);
    if (!o.online) continue;
    bool running = o.kind == Observed::Kind::kRunning;
    bool terminated = o.kind == Observed::Kind::kTerminated;
    a.ready = a.ready && o.module && o.module->ready && (running || terminated);
    a.running = a.running && running;
    a.terminated = a.terminated && terminated;
    a.started = a.started && (running || terminated || (o.module && o.module->restartCount > 0));
    if (failedTermination(o)) a.failedExit = true;
    a.byDevice.emplace(o.deviceId, o);
  }
  // The device that speaks for the container: the first failing one, else one not yet running,
  // else the first running (or terminated) one; offline devices only as a fallback.
  auto rank = [](const Observed& o) {
    if (!o.online) return 5;
    if (o.kind == Observed::Kind::kWaiting && isFailureReason(o.reason)) return 0;
    if (failedTermination(o)) return 1;
    if (o.kind == Observed::Kind::kWaiting) return 2;
    if (o.kind == Observed::Kind::kRunning) return 3;
    return 4;
  };
  const Observed* pick = nullptr;
  for (const auto& o : obs) {
    if (pick == nullptr || rank(o) < rank(*pick)) pick = &o;
  }
  Json cs = {{"name", c.name},
             {"image", c.image},
             {"imageID", ""},
             {"ready", a.ready},
             {"restartCount", maxRestarts},
             {"started", false}};
  if (pick == nullptr) {
    Json w = {{"reason", in.mappingError.empty() ? notCreated : "CreateContainerConfigError"}};
    std::string msg =
        !in.mappingError.empty() ? in.mappingError
        : !in.hubError.empty()   ? in.hubError
        : in.deployment ? "no device matches selector \"" + in.deployment->target_selector() + "\""
                        : "waiting for the hub";
    if (in.deployment && in.mappingError.empty() && in.hubError.empty()) {
      w["reason"] = "NoMatchingDevices";
    }
    w["message"] = msg;
    cs["state"] = {{"waiting", w}};
    cs["lastState"] = Json::object();
    a.status = std::move(cs);
    return a;
  }
  Observed shown = *pick;
  if (!shown.online && shown.kind == Observed::Kind::kWaiting) {
    shown.reason = "DeviceOffline";
    shown.message = "device " + shown.deviceId + " is offline";
  }
  cs["state"] = stateJson(shown);
  if (!shown.message.empty() && shown.kind == Observed::Kind::kWaiting &&
      !shown.message.starts_with("device ")) {
    cs["state"]["waiting"]["message"] = "device " + shown.deviceId + ": " + shown.message;
  }
  int others = 0;
  for (const auto& o : obs) {
    if (&o != pick && o.online && rank(o) == rank(*pick) && rank(o) <= 1) ++others;
  }
  if (others > 0 && cs["state"].contains("waiting")) {
    cs["state"]["waiting"]["message"] = common::jsonString(cs["state"]["waiting"], "message") +
                                        " (and " + std::to_string(others) + " more devices)";
  }
  cs["started"] = shown.kind == Observed::Kind::kRunning && shown.module && shown.module->started;
  if (shown.module) {
    cs["imageID"] = shown.module->imageId;
    if (!shown.module->containerId.empty()) {
      cs["containerID"] = "skiff://" + shown.deviceId + "/" + shown.module->containerId;
    }
    if (shown.module->lastTermination) {
      const auto& lt = *shown.module->lastTermination;
      Json t = {{"exitCode", lt.exitCode}, {"reason", lt.reason}};
      if (!lt.startedAt.empty()) t["startedAt"] = lt.startedAt;
      if (!lt.finishedAt.empty()) t["finishedAt"] = lt.finishedAt;
      cs["lastState"] = {{"terminated", t}};
    }
  }
  if (!cs.contains("lastState")) cs["lastState"] = Json::object();
  a.status = std::move(cs);

  addNotices(devices, obs, c, notices);
  return a;
}

std::vector<SpecContainer> specContainers(const Json& spec, const char* list) {
  std::vector<SpecContainer> out;
  for (const auto& c : jsonField(spec, list)) {
    out.push_back({jsonString(c, "name"), jsonString(c, "image"),
                   jsonString(c, "restartPolicy") == "Always"});
  }
  return out;
}

// The phase a device reports for the pod (Pending until it applied the current spec).
std::string devicePhase(const DeviceView& d) {
  if (!d.applied || !d.pod || !d.error.empty() || d.shadowed) return "Pending";
  return d.pod->phase;
}

}  // namespace

bool isFailureReason(std::string_view reason) {
  return reason == "CrashLoopBackOff" || reason == "ImagePullBackOff" || reason == "ErrImagePull" ||
         reason == "CreateContainerError" || reason == "CreateContainerConfigError" ||
         reason == "InvalidImageName" || reason == "RunContainerError" || reason == "PodShadowed" ||
         reason == "ErrImageNeverPull" || reason == "PostStartHookError";
}

namespace {

// Per device: offline, failed (refused, a failed pod or a container failing), running (the pod
// runs and is ready), completed (Succeeded), pending; the Events a device's state calls for; the
// phases of the online devices.
std::map<std::string, std::string> categorizeDevices(const std::vector<DeviceView>& devices,
                                                     std::vector<std::string>& onlinePhases,
                                                     std::vector<DeviceNotice>& notices) {
  std::map<std::string, std::string> deviceCategory;
  for (const auto& d : devices) {
    std::string phase = devicePhase(d);
    std::string cat;
    if (!d.online) {
      cat = "offline";
    } else {
      onlinePhases.push_back(phase);
      bool failing = !d.error.empty() || phase == "Failed" || d.shadowed;
      for (const auto& m : d.modules) {
        if (d.applied && m.state == ModuleState::kWaiting && isFailureReason(m.reason)) {
          failing = true;
        }
      }
      cat = failing                                       ? "failed"
            : phase == "Running" && d.pod && d.pod->ready ? "running"
            : phase == "Succeeded"                        ? "completed"
                                                          : "pending";
    }
    deviceCategory[d.id] = cat;
    if (!d.online) {
      notices.push_back(
          {d.id + "/offline", "Warning", "DeviceOffline", "device " + d.id + " is offline"});
    }
    if (!d.error.empty()) {
      notices.push_back({d.id + "/refused/" + d.error, "Warning", "DesiredStateRefused",
                         "device " + d.id + " refused its desired state: " + d.error});
    }
    if (d.online && d.pod && d.pod->reason == "SandboxChanged") {
      notices.push_back({d.id + "/sandbox/" + d.pod->startedAt, "Normal", "SandboxChanged",
                         "device " + d.id + ": " + d.pod->message});
    }
    if (d.online && d.pod && d.pod->reason == "Evicted") {
      notices.push_back(
          {d.id + "/evicted", "Warning", "Evicted", "device " + d.id + ": " + d.pod->message});
    }
  }
  return deviceCategory;
}

// The pod's phase from the online devices' pod phases. Kubernetes phases are one-way: Running
// never returns to Pending, a terminal phase stays.
std::string podPhase(const std::string& prevPhase, bool haveDevices, int reachable,
                     std::size_t targeted, const std::vector<std::string>& onlinePhases,
                     bool mapped) {
  std::string phase = "Pending";
  if (prevPhase == "Succeeded" || prevPhase == "Failed") {
    phase = prevPhase;
  } else if (haveDevices && reachable > 0) {
    bool everywhere = static_cast<std::size_t>(reachable) == targeted;
    auto all = [&](auto pred) {
      return std::all_of(onlinePhases.begin(), onlinePhases.end(), pred);
    };
    bool terminal = all([](const std::string& p) { return p == "Succeeded" || p == "Failed"; });
    bool anyFailed =
        std::find(onlinePhases.begin(), onlinePhases.end(), "Failed") != onlinePhases.end();
    if (terminal && everywhere) {
      phase = anyFailed ? "Failed" : "Succeeded";
    } else if (all([](const std::string& p) { return p != "Pending"; })) {
      phase = "Running";
    } else if (prevPhase == "Running") {
      phase = "Running";
    }
  } else if (haveDevices && prevPhase == "Running") {
    phase = "Running";  // every device offline: last known phase, not ready
  }
  if (prevPhase == "Running" && phase == "Pending" && mapped) phase = "Running";
  return phase;
}

// Addresses: the device that speaks for the pod (device mode: its device; fleet: the first online
// device with a sandbox) gives podIP/hostIP; returns every device's pod IP for the summary.
Json setAddresses(const std::vector<DeviceView>& devices, Json& status) {
  Json podIPs = Json::object();
  const DeviceView* addressed = nullptr;
  for (const auto& d : devices) {
    if (!d.pod || d.pod->podIP.empty() || d.pod->terminating) continue;
    if (podIPs.size() < kMaxListedDevices) podIPs[d.id] = d.pod->podIP;
    if (addressed == nullptr || (!addressed->online && d.online)) addressed = &d;
  }
  if (addressed != nullptr) {
    status["podIP"] = addressed->pod->podIP;
    status["podIPs"] = Json::array({{{"ip", addressed->pod->podIP}}});
    if (!addressed->pod->hostIP.empty()) {
      status["hostIP"] = addressed->pod->hostIP;
      status["hostIPs"] = Json::array({{{"ip", addressed->pod->hostIP}}});
    }
  }
  return podIPs;
}

// The skiff.io/devices annotation: counts per category, each device's category and pod IP.
std::string summaryAnnotation(const StatusInput& in, const std::vector<DeviceView>& devices,
                              const std::map<std::string, std::string>& deviceCategory,
                              const Json& podIPs, long long generation) {
  std::map<std::string, int> counts = {
      {"running", 0}, {"failed", 0}, {"offline", 0}, {"pending", 0}, {"completed", 0}};
  Json listed = Json::object();
  for (const auto& [id, cat] : deviceCategory) {
    ++counts[cat];
    if (listed.size() < kMaxListedDevices) listed[id] = cat;
  }
  int applied = 0;
  for (const auto& d : devices) applied += d.applied ? 1 : 0;
  Json summary = {{"targeted", static_cast<int>(devices.size())},
                  {"applied", applied},
                  {"running", counts["running"]},
                  {"failed", counts["failed"]},
                  {"offline", counts["offline"]},
                  {"pending", counts["pending"]},
                  {"completed", counts["completed"]},
                  {"devices", listed},
                  {"podIPs", podIPs}};
  if (in.deployment) {
    summary["deployment"] = in.deployment->id();
    summary["generation"] = generation;
  }
  return common::dumpJson(summary);
}

}  // namespace

StatusOutput computePodStatus(const StatusInput& in) {
  StatusOutput out;
  const Json& pod = *in.pod;
  const Json& spec = jsonField(pod, "spec");
  const Json& previous = jsonField(pod, "status");
  std::string podName = jsonString(jsonField(pod, "metadata"), "name");
  std::string restartPolicy = jsonString(spec, "restartPolicy");
  if (restartPolicy.empty()) restartPolicy = "Always";
  std::string now = common::formatRfc3339(in.now);
  std::string prevPhase = jsonString(previous, "phase");
  auto inits = specContainers(spec, "initContainers");
  auto apps = specContainers(spec, "containers");
  const std::string notCreated = inits.empty() ? "ContainerCreating" : "PodInitializing";

  std::vector<DeviceView> devices;
  long long generation = 0;
  if (in.deployment) {
    generation = in.deployment->generation();
    devices = devicesOf(*in.deployment, podName);
  }
  int reachable = 0;
  for (const auto& d : devices) reachable += d.online ? 1 : 0;

  Json initStatuses = Json::array();
  std::vector<std::string> incomplete;  // init containers not done everywhere
  std::vector<std::string> unready;     // app containers and sidecars not ready everywhere
  for (const auto& c : inits) {
    Aggregate a =
        aggregate(in, devices, podName, c, generation, "PodInitializing", reachable, out.notices);
    bool done = c.sidecar ? a.started && a.running : a.terminated && !a.failedExit;
    if (!done || reachable == 0) incomplete.push_back(c.name);
    if (c.sidecar && !a.ready) unready.push_back(c.name);
    initStatuses.push_back(std::move(a.status));
  }
  Json statuses = Json::array();
  for (const auto& c : apps) {
    Aggregate a =
        aggregate(in, devices, podName, c, generation, notCreated, reachable, out.notices);
    if (!a.ready) unready.push_back(c.name);
    statuses.push_back(std::move(a.status));
  }

  std::vector<std::string> onlinePhases;
  std::map<std::string, std::string> deviceCategory =
      categorizeDevices(devices, onlinePhases, out.notices);

  bool haveDevices = in.deployment && !devices.empty() && in.mappingError.empty();
  std::string phase = podPhase(prevPhase, haveDevices, reachable, devices.size(), onlinePhases,
                               in.mappingError.empty());

  bool initialized = incomplete.empty() || phase == "Running" || phase == "Succeeded";
  bool ready = haveDevices && reachable > 0 && unready.empty() && phase == "Running";
  std::string notReadyReason = "ContainersNotReady";
  std::string notReadyMessage =
      unready.empty() ? "" : "containers with unready status: " + bracketList(unready);
  if (haveDevices && reachable == 0) {
    notReadyReason = "DeviceOffline";
    notReadyMessage = in.deviceMode ? "device " + devices.front().id + " is offline"
                                    : "every targeted device is offline";
  }
  if (phase == "Succeeded" || phase == "Failed") {
    notReadyReason = phase == "Succeeded" ? "PodCompleted" : "PodFailed";
    notReadyMessage.clear();
  }
  bool sandboxes = haveDevices && reachable > 0;
  for (const auto& d : devices) {
    if (!d.online) continue;
    bool hasSandbox = d.pod && !d.pod->podIP.empty() && !d.pod->terminating;
    sandboxes = sandboxes && hasSandbox;
  }
  out.status = {
      {"phase", phase},
      {"conditions",
       Json::array({condition("PodReadyToStartContainers", sandboxes, "", "", now),
                    condition("Initialized", initialized, "ContainersNotInitialized",
                              "containers with incomplete status: " + bracketList(incomplete), now),
                    condition("Ready", ready, notReadyReason, notReadyMessage, now),
                    condition("ContainersReady", ready, notReadyReason, notReadyMessage, now),
                    condition("PodScheduled", true, "", "", now)})},
      {"containerStatuses", statuses},
      {"startTime", now}};
  if (!inits.empty()) out.status["initContainerStatuses"] = initStatuses;

  Json podIPs = setAddresses(devices, out.status);
  if (!in.mappingError.empty()) {
    out.status["message"] = in.mappingError;
    out.status["reason"] = "CreateContainerConfigError";
  } else if (haveDevices && reachable == 0) {
    out.status["message"] = notReadyMessage;
    out.status["reason"] = "DeviceOffline";
  } else if (in.deviceMode && !devices.empty() && devices.front().pod &&
             devices.front().pod->reason == "Evicted") {
    out.status["reason"] = "Evicted";
    out.status["message"] = devices.front().pod->message;
  }

  out.devicesAnnotation = summaryAnnotation(in, devices, deviceCategory, podIPs, generation);
  return out;
}

}  // namespace skiff::edge_provider
