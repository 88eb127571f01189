// Module operations relayed to the agent over MQTT RPC (docs/protocol.md "RPC"), shared by the
// gRPC StreamLogs/RestartModule and the REST logs endpoint. Blocking; thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "hub/fleet/fleet.h"
#include "hub/mqtt/rpc_client.h"

namespace skiff::hub::api {

struct LogsQuery {
  std::string deviceId;
  std::string module;
  bool follow = false;
  std::int64_t tailLines = 0;
  std::int64_t sinceSeconds = 0;
  bool timestamps = false;
};

// Validates the query (NotFound for an unknown device, InvalidArgument for a bad module name or
// negative numbers, Unavailable when the device is offline), then streams the agent's chunks to
// onChunk until the final message. onChunk returning false or cancelled() turning true ends the
// stream and tells the agent to cancel it. timeout bounds the wait for each message (while not
// following; a following stream waits as long as the client stays). onAccepted (optional) runs
// once when the agent's first successful answer arrives, before its data (if any) goes to
// onChunk: from then on the request cannot fail with an error status, so a client may be told
// the stream has started even if the module has not written anything yet.
common::Status streamLogs(fleet::Fleet& fleet, mqtt::RpcClient& rpc, const LogsQuery& q,
                          const std::function<bool(std::string_view)>& onChunk,
                          const std::function<bool()>& cancelled, std::chrono::milliseconds timeout,
                          const std::function<void()>& onAccepted = {});

common::Status restartModule(fleet::Fleet& fleet, mqtt::RpcClient& rpc, const std::string& deviceId,
                             const std::string& module, std::chrono::milliseconds timeout);

}  // namespace skiff::hub::api
