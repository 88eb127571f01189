// A device's status for one deployment (see outcome.h).
#include "hub/fleet/outcome.h"

#include <set>
#include <string>
#include <vector>

namespace skiff::hub::fleet {

namespace proto = common::protocol;
using common::Json;

bool isFailing(const proto::ModuleStatus& s) {
  static const std::set<std::string, std::less<>> kWaiting = {
      "CrashLoopBackOff",  "ErrImagePull",     "ImagePullBackOff",           "CreateContainerError",
      "RunContainerError", "InvalidImageName", "CreateContainerConfigError", "ErrImageNeverPull"};
  if (s.state == proto::ModuleState::kWaiting) return kWaiting.contains(s.reason);
  if (s.state == proto::ModuleState::kTerminated) {
    return s.reason == "Error" || s.reason == "OOMKilled" ||
           (s.exitCode.has_value() && *s.exitCode != 0 && s.reason != "Completed");
  }
  return false;
}

bool isFailing(const proto::Reported& r, const proto::ModuleStatus& s) {
  if (s.kind == proto::ContainerKind::kSidecar) {
    std::string_view pod = proto::podOfModule(s.name);
    for (const auto& p : r.pods) {
      if (p.name == pod && (p.phase == "Succeeded" || p.phase == "Failed")) return false;
    }
  }
  return isFailing(s);
}

std::uint8_t deviceOutcome(const CompiledDeployment& dep, const DeviceSide& d,
                           v1::DeviceModules* detail) {
  const DeploymentRecord& r = dep.record;
  const std::int64_t required = d.requiredVersion;
  const proto::Reported* rep = d.reported;
  std::int64_t appliedVersion = rep != nullptr ? rep->appliedVersion : 0;
  bool isApplied = required > 0 && appliedVersion >= required;
  Json statuses;  // per-device detail only when asked for (no allocation otherwise)
  Json podStatuses;
  std::vector<std::string> shadowed;
  bool allRunning = true;
  bool anyFailing = false;
  for (std::size_t i = 0; i < r.spec.pods.size(); ++i) {
    const auto& p = r.spec.pods[i];
    const auto* winner = d.content != nullptr ? d.content->podNamed(p.name) : nullptr;
    if (winner != nullptr && winner->deployment->id() != r.spec.id) {
      if (detail != nullptr) shadowed.push_back(p.name);
      continue;
    }
    const proto::PodStatus* found = nullptr;
    if (rep != nullptr) {
      for (const auto& s : rep->pods) {
        if (s.name == p.name && s.deploymentId == r.spec.id) found = &s;
      }
    }
    if (found != nullptr && detail != nullptr) podStatuses.push_back(proto::toJson(*found));
    bool current = found != nullptr && !found->terminating && found->specHash == dep.specHashes[i];
    bool works =
        current && ((found->phase == "Running" && found->ready) || found->phase == "Succeeded");
    if (!works) allRunning = false;
    if (current && found->phase == "Failed") anyFailing = true;
    if (rep == nullptr) continue;
    for (const auto& m : rep->modules) {
      if (m.deploymentId != r.spec.id || proto::podOfModule(m.name) != p.name) continue;
      if (detail != nullptr) statuses.push_back(proto::toJson(m));
      if (current && isFailing(*rep, m)) anyFailing = true;
    }
  }
  std::string error;
  if (rep != nullptr && rep->desiredError) {
    const auto& e = *rep->desiredError;
    if (detail != nullptr) error = e.reason + (e.message.empty() ? "" : ": " + e.message);
    if (e.version >= required || e.version == 0) anyFailing = true;
  }
  std::uint8_t bits = 0;
  if (isApplied) bits |= kApplied;
  if (d.online && isApplied && allRunning) bits |= kRunning;
  if (d.online && anyFailing) bits |= kFailed;
  if (!d.online) bits |= kOffline;
  if (detail != nullptr) {
    detail->set_device_id(std::string(d.id));
    detail->set_online(d.online);
    detail->set_applied(isApplied);
    detail->set_desired_version(d.desiredVersion);
    detail->set_applied_version(appliedVersion);
    detail->set_modules_json(common::dumpJson(statuses.is_null() ? Json::array() : statuses));
    detail->set_pods_json(common::dumpJson(podStatuses.is_null() ? Json::array() : podStatuses));
    detail->set_error(error);
    for (auto& s : shadowed) detail->add_shadowed_pods(s);
  }
  return bits;
}

}  // namespace skiff::hub::fleet
