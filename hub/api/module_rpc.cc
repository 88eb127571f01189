// Logs and restart over MQTT RPC.
#include "hub/api/module_rpc.h"

#include "common/protocol/protocol.h"

namespace skiff::hub::api {

namespace proto = common::protocol;
using common::Status;

namespace {

Status checkTarget(fleet::Fleet& fleet, const std::string& deviceId, const std::string& module) {
  if (auto s = proto::validateDeviceId(deviceId); !s.isOk()) return s.withContext("deviceId");
  if (auto s = proto::validateModuleName(module); !s.isOk()) return s.withContext("module");
  if (!fleet.deviceExists(deviceId)) {
    return common::notFound("device \"" + deviceId + "\" not found");
  }
  if (!fleet.deviceOnline(deviceId)) {
    return common::unavailable("device \"" + deviceId + "\" is offline");
  }
  return Status::ok();
}

}  // namespace

Status streamLogs(fleet::Fleet& fleet, mqtt::RpcClient& rpc, const LogsQuery& q,
                  const std::function<bool(std::string_view)>& onChunk,
                  const std::function<bool()>& cancelled, std::chrono::milliseconds timeout,
                  const std::function<void()>& onAccepted) {
  if (q.tailLines < 0) return common::invalidArgument("tailLines: must not be negative");
  if (q.sinceSeconds < 0) return common::invalidArgument("sinceSeconds: must not be negative");
  SKIFF_RETURN_IF_ERROR(checkTarget(fleet, q.deviceId, q.module));
  common::Json params = {{"module", q.module}};
  if (q.tailLines > 0) params["tailLines"] = q.tailLines;
  if (q.sinceSeconds > 0) params["sinceSeconds"] = q.sinceSeconds;
  if (q.follow) params["follow"] = true;
  if (q.timestamps) params["timestamps"] = true;
  SKIFF_ASSIGN_OR_RETURN(auto call, rpc.start(q.deviceId, "logs", std::move(params)));
  auto waited = std::chrono::milliseconds(0);
  bool first = true;
  while (true) {
    if (cancelled()) {
      rpc.cancel(call);
      return common::Status::ok();
    }
    auto next = call->next(std::chrono::milliseconds(250));
    if (!next.isOk()) {
      rpc.finish(call);
      return next.status();
    }
    if (!*next) {
      waited += std::chrono::milliseconds(250);
      // The first answer must come within timeout; later silence is normal while following.
      if ((first || !q.follow) && waited >= timeout) {
        rpc.cancel(call);
        return common::unavailable("device \"" + q.deviceId + "\" did not answer within " +
                                   std::to_string(timeout.count()) + " ms");
      }
      continue;
    }
    waited = std::chrono::milliseconds(0);
    const proto::RpcResponse& r = **next;
    if (!r.ok) {
      rpc.finish(call);
      return proto::rpcStatus(r);
    }
    if (first && onAccepted) onAccepted();
    first = false;
    if (r.result.is_object() && r.result.contains("data") && r.result["data"].is_string()) {
      const auto& data = r.result["data"].get_ref<const std::string&>();
      if (!data.empty() && !onChunk(data)) {
        rpc.cancel(call);
        return common::Status::ok();
      }
    }
    if (r.final) {
      rpc.finish(call);
      return common::Status::ok();
    }
  }
}

Status restartModule(fleet::Fleet& fleet, mqtt::RpcClient& rpc, const std::string& deviceId,
                     const std::string& module, std::chrono::milliseconds timeout) {
  SKIFF_RETURN_IF_ERROR(checkTarget(fleet, deviceId, module));
  SKIFF_ASSIGN_OR_RETURN(auto call, rpc.start(deviceId, "restart", {{"module", module}}));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto next = call->next(std::chrono::milliseconds(250));
    if (!next.isOk()) {
      rpc.finish(call);
      return next.status();
    }
    if (!*next) continue;
    if (!(*next)->ok) {
      rpc.finish(call);
      return proto::rpcStatus(**next);
    }
    if ((*next)->final) {
      rpc.finish(call);
      return common::Status::ok();
    }
  }
  rpc.finish(call);
  return common::deadlineExceeded("device \"" + deviceId + "\" did not confirm the restart of " +
                                  module + " within " + std::to_string(timeout.count()) + " ms");
}

}  // namespace skiff::hub::api
