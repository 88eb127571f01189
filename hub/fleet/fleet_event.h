// One entry of the hub's event log (device enrolled, deployment failing on a device, ...), as
// Fleet records it and the REST/SSE API and skiffctl show it.
#pragma once

#include <cstdint>
#include <string>

namespace skiff::hub::fleet {

struct FleetEvent {
  std::uint64_t seq = 0;
  std::string type;  // Normal | Warning
  std::string reason;
  std::string message;
  std::string deviceId;
  std::string deploymentId;
  std::int64_t atMs = 0;
};

}  // namespace skiff::hub::fleet
