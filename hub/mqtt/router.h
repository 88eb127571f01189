// Router: dispatches every message the hub receives from the broker by topic (docs/protocol.md)
// to the fleet (reported, presence, metrics) or the RPC client (rpc/response/<id>). Rejected
// messages leave the state unchanged; they are counted in Prometheus metrics by the fleet and
// logged here at a bounded rate. Runs on the bus callback thread.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>

#include "common/bus/message_bus.h"
#include "hub/fleet/fleet.h"
#include "hub/mqtt/rpc_client.h"

namespace prometheus {
class Registry;
}

namespace skiff::hub::mqtt {

class Router {
 public:
  Router(fleet::Fleet& fleet, RpcClient& rpc, std::shared_ptr<prometheus::Registry> metrics);
  ~Router();
  void onMessage(const common::bus::Message& m);
  // The subscriptions the router needs (QoS 1).
  static std::vector<std::string> subscriptions();

 private:
  struct Metrics;
  void warn(const std::string& what, const std::string& topic, const std::string& error);
  fleet::Fleet& fleet_;
  RpcClient& rpc_;
  std::unique_ptr<Metrics> metrics_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point windowStart_{};
  int warnings_ = 0;
  int suppressed_ = 0;
};

}  // namespace skiff::hub::mqtt
