// RpcClient: the hub's side of the agent RPC (docs/protocol.md "RPC"): publishes a request to
// skiff/v1/devices/<id>/rpc/request with the MQTT v5 response topic and correlation data, and
// routes the agent's response stream (rpc/response/<requestId>, subscribed once for all devices)
// to the waiting caller, in seq order without duplicates (QoS 1 may redeliver).
//
// Threading: thread-safe. onResponse() runs on the bus callback thread and only queues.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/bus/message_bus.h"
#include "common/json.h"
#include "common/protocol/protocol.h"
#include "common/status.h"

namespace prometheus {
class Registry;
}

namespace skiff::hub::mqtt {

class RpcClient {
 public:
  // One outstanding request. next() returns the responses in order; the last has final=true.
  class Call {
   public:
    const std::string& id() const { return id_; }
    const std::string& deviceId() const { return deviceId_; }
    // The next response, nullopt on timeout. Unavailable once the client is shutting down or the
    // call was interrupted (the reason given to interrupt()).
    common::Result<std::optional<common::protocol::RpcResponse>> next(
        std::chrono::milliseconds timeout);

   private:
    friend class RpcClient;
    std::string id_;
    std::string deviceId_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::int64_t, common::protocol::RpcResponse> pending_;  // by seq
    std::int64_t nextSeq_ = 0;
    bool closed_ = false;
    common::Status closedReason_;
  };

  RpcClient(common::bus::MessageBus& bus, std::shared_ptr<prometheus::Registry> metrics);
  ~RpcClient();

  // Sends a request. Unavailable if the broker connection is down.
  common::Result<std::shared_ptr<Call>> start(const std::string& deviceId,
                                              const std::string& method, common::Json params);
  // Forgets the call (late responses are dropped).
  void finish(const std::shared_ptr<Call>& call);
  // Asks the agent to end a following request (method "cancel"), then finish()es it.
  void cancel(const std::shared_ptr<Call>& call);
  // From the bus: a message on skiff/v1/devices/<deviceId>/rpc/response/<requestId>. Returns
  // false (and counts it) when malformed or for no outstanding request.
  bool onResponse(const std::string& deviceId, const std::string& requestId,
                  std::string_view payload);
  // Ends every call (shutdown).
  void closeAll();
  // Ends the calls to deviceId ("" = every call) with `why`: responses that were lost cannot be
  // recovered (a call's responses are delivered in seq order), so a caller waiting for them —
  // a followed log stream — would otherwise wait forever. Called when the device goes offline
  // and when the hub loses its broker connection.
  void interrupt(const std::string& deviceId, const common::Status& why);

 private:
  struct Metrics;
  common::bus::MessageBus& bus_;
  std::unique_ptr<Metrics> metrics_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Call>> calls_;
};

// A request id: 16 random characters of [A-Za-z0-9].
std::string newRequestId();

}  // namespace skiff::hub::mqtt
