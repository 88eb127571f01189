// One device's status for one deployment (docs/hub.md "Deployment status"), as pure functions:
// whether it applied the desired version carrying the deployment's generation, runs every pod
// the deployment contributes (shadowed pods aside), has a failing container or refused its
// document, or is offline — and the per-device detail (DeviceModules) the API shows. Fleet's
// counts and views use them, and so does the fake hub of the edge provider's tests
// (tests/edge_provider/fake_hub.h), so that the double cannot drift from the hub.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/protocol/protocol.h"
#include "hub/fleet/desired.h"
#include "skiff/v1/hub.pb.h"

namespace skiff::hub::fleet {

// Waiting/terminated reasons that mean a container does not work (and will not by itself).
bool isFailing(const common::protocol::ModuleStatus& s);
// As above, in the context of the device's report: the sidecars of a pod that has completed
// (Succeeded or Failed) were stopped by the agent, the way the kubelet stops them, and their
// exit code says nothing about the pod (the pod's phase does).
bool isFailing(const common::protocol::Reported& r, const common::protocol::ModuleStatus& s);

// A device's outcome for one deployment, as bits.
enum Outcome : std::uint8_t { kApplied = 1, kRunning = 2, kFailed = 4, kOffline = 8 };

// What the outcome depends on, on the device's side.
struct DeviceSide {
  std::string_view id;
  bool online = false;
  const common::protocol::Reported* reported = nullptr;  // its last report, if any
  const DesiredContent* content = nullptr;  // its composed desired state (who wins each pod)
  std::int64_t desiredVersion = 0;          // the newest version composed for it
  // The first desired version that carried the deployment's current generation (0: none yet).
  std::int64_t requiredVersion = 0;
};

// Outcome bits of `d` for `dep`; fills detail (the per-device entry of the status) when given.
std::uint8_t deviceOutcome(const CompiledDeployment& dep, const DeviceSide& d,
                           v1::DeviceModules* detail);

}  // namespace skiff::hub::fleet
