// Pod status aggregation over a deployment's devices.
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

struct DeviceView {
  std::string id;
  bool online = false;
  bool applied = false;
  std::string error;
  std::vector<ModuleStatus> modules;
  std::vector<std::string> shadowed;
};

const ModuleStatus* find(const DeviceView& d, const std::string& name) {
  for (const auto& m : d.modules) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

Observed observe(const DeviceView& d, const std::string& module, long long generation) {
  Observed o;
  o.deviceId = d.id;
  o.online = d.online;
  o.module = find(d, module);
  if (!d.error.empty()) {
    o.reason = "CreateContainerError";
    o.message = "device " + d.id + " refused its desired state: " + d.error;
    return o;
  }
  if (std::find(d.shadowed.begin(), d.shadowed.end(), module) != d.shadowed.end()) {
    o.reason = "ModuleShadowed";
    o.message =
        "device " + d.id + ": module " + module + " is overridden by a higher-priority deployment";
    return o;
  }
  if (!d.applied || o.module == nullptr) {
    o.reason = "ContainerCreating";
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
      if (o.reason.empty()) o.reason = "ContainerCreating";
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

}  // namespace

bool isFailureReason(std::string_view reason) {
  return reason == "CrashLoopBackOff" || reason == "ImagePullBackOff" || reason == "ErrImagePull" ||
         reason == "CreateContainerError" || reason == "CreateContainerConfigError" ||
         reason == "InvalidImageName" || reason == "RunContainerError" ||
         reason == "ModuleShadowed" || reason == "ErrImageNeverPull";
}

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

  std::vector<std::pair<std::string, std::string>> containers;  // name, image
  for (const auto& c : jsonField(spec, "containers"))
    containers.emplace_back(jsonString(c, "name"), jsonString(c, "image"));

  // Devices of the deployment.
  std::vector<DeviceView> devices;
  long long generation = 0;
  if (in.deployment) {
    generation = in.deployment->generation();
    for (const auto& dm : in.deployment->status().devices()) {
      DeviceView d;
      d.id = dm.device_id();
      d.online = dm.online();
      d.applied = dm.applied();
      d.error = dm.error();
      d.shadowed.assign(dm.shadowed_modules().begin(), dm.shadowed_modules().end());
      if (!dm.modules_json().empty()) {
        auto j = common::parseJson(dm.modules_json());
        if (j.isOk() && j->is_array()) {
          for (std::size_t i = 0; i < j->size(); ++i) {
            auto ms = protocol::moduleStatusFromJson((*j)[i], "modules[" + std::to_string(i) + "]");
            if (ms.isOk()) d.modules.push_back(std::move(*ms));
          }
        }
      }
      devices.push_back(std::move(d));
    }
    std::sort(devices.begin(), devices.end(),
              [](const DeviceView& a, const DeviceView& b) { return a.id < b.id; });
  }

  // Per container: the devices' observations and the aggregate.
  Json statuses = Json::array();
  std::vector<std::string> unready;
  bool allRunning = !containers.empty();  // every reachable device runs every container
  bool allStarted = !containers.empty();  // every reachable device has started every container
  bool allTerminated = !containers.empty();
  bool anyFailedTermination = false;
  int reachable = 0;
  for (const auto& d : devices) reachable += d.online ? 1 : 0;
  std::map<std::string, std::vector<Observed>> byDevice;  // online devices' observations

  for (const auto& [cname, image] : containers) {
    std::string module = moduleNameFor(podName, cname);
    std::vector<Observed> obs;
    for (const auto& d : devices) obs.push_back(observe(d, module, generation));
    const Observed* pick = nullptr;
    int maxRestarts = 0;
    bool ready = reachable > 0;
    for (const auto& o : obs) {
      if (o.module) maxRestarts = std::max(maxRestarts, o.module->restartCount);
      if (!o.online) continue;
      bool running = o.kind == Observed::Kind::kRunning;
      bool terminated = o.kind == Observed::Kind::kTerminated;
      bool moduleReady = running && o.module && o.module->ready;
      ready = ready && moduleReady;
      allRunning = allRunning && running;
      allTerminated = allTerminated && terminated;
      bool started = running || terminated || (o.module && o.module->restartCount > 0);
      allStarted = allStarted && started;
      if (failedTermination(o)) anyFailedTermination = true;
      byDevice[o.deviceId].push_back(o);
    }
    // The device that speaks for the container: the first failing one, else one not yet
    // running, else the first running (or terminated) one; offline devices only as a fallback.
    auto rank = [&](const Observed& o) {
      if (!o.online) return 5;
      if (o.kind == Observed::Kind::kWaiting && isFailureReason(o.reason)) return 0;
      if (failedTermination(o)) return 1;
      if (o.kind == Observed::Kind::kWaiting) return 2;
      if (o.kind == Observed::Kind::kRunning) return 3;
      return 4;
    };
    for (const auto& o : obs) {
      if (pick == nullptr || rank(o) < rank(*pick)) pick = &o;
    }
    Json cs = {{"name", cname},
               {"image", image},
               {"imageID", ""},
               {"ready", ready},
               {"restartCount", maxRestarts},
               {"started", false}};
    if (!ready) unready.push_back(cname);
    if (pick == nullptr) {
      Json w = {
          {"reason", in.mappingError.empty() ? "ContainerCreating" : "CreateContainerConfigError"}};
      std::string msg = !in.mappingError.empty() ? in.mappingError
                        : !in.hubError.empty()   ? in.hubError
                        : in.deployment          ? "no device matches selector \"" +
                                              in.deployment->target_selector() + "\""
                                        : "waiting for the hub";
      if (in.deployment && in.mappingError.empty() && in.hubError.empty()) {
        w["reason"] = "NoMatchingDevices";
      }
      w["message"] = msg;
      cs["state"] = {{"waiting", w}};
    } else {
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
        cs["state"]["waiting"]["message"] = cs["state"]["waiting"].value("message", "") + " (and " +
                                            std::to_string(others) + " more devices)";
      }
      cs["started"] = shown.kind == Observed::Kind::kRunning;
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
    }
    statuses.push_back(std::move(cs));

    // Notices: per device and container, while the condition lasts.
    for (const auto& o : obs) {
      if (!o.online) continue;
      std::string base = o.deviceId + "/" + cname + "/";
      if (o.kind == Observed::Kind::kWaiting && isFailureReason(o.reason)) {
        std::string reason = o.reason == "CrashLoopBackOff" ? "BackOff" : "Failed";
        std::string msg =
            o.reason == "CrashLoopBackOff"
                ? "Back-off restarting failed container " + cname + " on device " + o.deviceId
                : "device " + o.deviceId + ": container " + cname + ": " + o.reason +
                      (o.message.empty() ? "" : ": " + o.message);
        out.notices.push_back({base + o.reason, "Warning", reason, msg});
      } else if (failedTermination(o)) {
        out.notices.push_back({base + "terminated/" + o.module->finishedAt, "Warning", "Failed",
                               "device " + o.deviceId + ": container " + cname +
                                   " terminated with exit code " +
                                   std::to_string(o.module->exitCode.value_or(0))});
      } else if (o.kind == Observed::Kind::kRunning && o.module) {
        out.notices.push_back({base + "started/" + o.module->containerId + "/" +
                                   std::to_string(o.module->restartCount),
                               "Normal", "Started",
                               "device " + o.deviceId + ": started container " + cname});
        if (o.module->health == protocol::Health::kUnhealthy) {
          out.notices.push_back(
              {base + "unhealthy", "Warning", "Unhealthy",
               "device " + o.deviceId + ": container " + cname + ": liveness probe failed"});
        }
      }
    }
  }
  for (const auto& d : devices) {
    if (!d.online) {
      out.notices.push_back(
          {d.id + "/offline", "Warning", "DeviceOffline", "device " + d.id + " is offline"});
    }
    if (!d.error.empty()) {
      out.notices.push_back({d.id + "/refused/" + d.error, "Warning", "DesiredStateRefused",
                             "device " + d.id + " refused its desired state: " + d.error});
    }
  }
  // Per device: offline, failed (refused, or a container failing), running (every container
  // running and ready), completed (every container exited 0, restartPolicy not Always), pending.
  std::map<std::string, std::string> deviceCategory;
  for (const auto& d : devices) {
    std::string cat;
    if (!d.online) {
      cat = "offline";
    } else if (!d.error.empty()) {
      cat = "failed";
    } else {
      bool failed = false, running = true, completed = restartPolicy != "Always";
      for (const auto& o : byDevice[d.id]) {
        failed = failed || (o.kind == Observed::Kind::kWaiting && isFailureReason(o.reason)) ||
                 (failedTermination(o) && restartPolicy == "Never");
        running = running && o.kind == Observed::Kind::kRunning && o.module && o.module->ready;
        completed = completed && o.kind == Observed::Kind::kTerminated && !failedTermination(o);
      }
      cat = failed ? "failed" : running ? "running" : completed ? "completed" : "pending";
    }
    deviceCategory[d.id] = cat;
  }

  // Phase (Kubernetes phases are one-way: Running never returns to Pending; terminal stays).
  std::string phase = "Pending";
  bool haveDevices = in.deployment && !devices.empty() && in.mappingError.empty();
  if (prevPhase == "Succeeded" || prevPhase == "Failed") {
    phase = prevPhase;
  } else if (haveDevices && reachable > 0) {
    bool everywhere = reachable == static_cast<int>(devices.size());
    if (allTerminated && restartPolicy != "Always" && everywhere) {
      phase =
          anyFailedTermination ? (restartPolicy == "Never" ? "Failed" : "Running") : "Succeeded";
    } else if (allRunning || (prevPhase == "Running" && allStarted)) {
      phase = "Running";
    } else if (allStarted && restartPolicy != "Always") {
      phase = "Running";  // some finished, others still run
    }
  } else if (haveDevices && prevPhase == "Running") {
    phase = "Running";  // every device offline: last known phase, not ready
  }
  if (prevPhase == "Running" && phase == "Pending" && in.mappingError.empty()) phase = "Running";

  bool ready = haveDevices && reachable > 0 && unready.empty() && phase == "Running";
  std::string notReadyReason = "ContainersNotReady";
  std::string notReadyMessage;
  if (!unready.empty()) {
    notReadyMessage = "containers with unready status: [";
    for (std::size_t i = 0; i < unready.size(); ++i) notReadyMessage += (i ? " " : "") + unready[i];
    notReadyMessage += "]";
  }
  if (haveDevices && reachable == 0) {
    notReadyReason = "DeviceOffline";
    notReadyMessage = in.deviceMode ? "device " + devices.front().id + " is offline"
                                    : "every targeted device is offline";
  }
  out.status = {
      {"phase", phase},
      {"conditions",
       Json::array({condition("PodScheduled", true, "", "", now),
                    condition("Initialized", true, "", "", now),
                    condition("ContainersReady", ready, notReadyReason, notReadyMessage, now),
                    condition("Ready", ready, notReadyReason, notReadyMessage, now)})},
      {"containerStatuses", statuses},
      {"startTime", now}};
  if (!in.mappingError.empty()) {
    out.status["message"] = in.mappingError;
    out.status["reason"] = "CreateContainerConfigError";
  } else if (haveDevices && reachable == 0) {
    out.status["message"] = notReadyMessage;
    out.status["reason"] = "DeviceOffline";
  }

  // Summary annotation.
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
                  {"devices", listed}};
  if (in.deployment) {
    summary["deployment"] = in.deployment->id();
    summary["generation"] = generation;
  }
  out.devicesAnnotation = common::dumpJson(summary);
  return out;
}

}  // namespace skiff::edge_provider
