// Pod status from the hub (docs/virtual-node.md "Status mapping"): the deployment's per-device
// view (DeploymentStatus.devices: presence, applied generation, module statuses as reported by
// the agents) becomes a v1.PodStatus — phase, conditions, containerStatuses with real states,
// reasons, restart counts, image digests and last terminations — plus the skiff.io/devices
// summary annotation and the device problems worth an Event. Pure function; thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/protocol/protocol.h"
#include "skiff/v1/hub.pb.h"

namespace skiff::edge_provider {

using common::Json;

inline constexpr std::string_view kDevicesAnnotation = "skiff.io/devices";

struct StatusInput {
  const Json* pod = nullptr;                            // the pod (spec, previous status)
  const ::skiff::v1::Deployment* deployment = nullptr;  // null: not (yet) on the hub
  std::string mappingError;                             // the pod could not be converted: why
  std::string hubError;                                 // the last apply failed: why
  bool deviceMode = false;
  std::chrono::system_clock::time_point now;
};

// A device problem (or milestone) for an Event; `key` identifies the condition so the caller
// records it once while it lasts.
struct DeviceNotice {
  std::string key;
  std::string type;  // Normal | Warning
  std::string reason;
  std::string message;
};

struct StatusOutput {
  Json status = Json::object();  // v1.PodStatus
  std::string devicesAnnotation;  // JSON: {"targeted":…,"running":…,"failed":…,"offline":…,…}
  std::vector<DeviceNotice> notices;
};

StatusOutput computePodStatus(const StatusInput& in);

// Reasons the agents report for a container that cannot run (waiting) — failures, not progress.
bool isFailureReason(std::string_view reason);

}  // namespace skiff::edge_provider
