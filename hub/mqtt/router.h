// Router: dispatches every message the hub receives from the broker by topic (docs/protocol.md)
// to the fleet (reported, presence, metrics) or the RPC client (rpc/response/<id>). Rejected
// messages leave the state unchanged; they are counted in Prometheus metrics by the fleet and
// logged here at a bounded rate.
//
// Threading: onMessage() runs on the bus callback thread and only queues; one ingest thread
// parses and applies messages in arrival order, in batches gathered for up to 10 ms. The bus thread
// stays free for the publisher's PUBACKs, so a fan-out's acknowledgements are not stuck behind
// thousands of reports. The queue is bounded (messages beyond it are dropped and counted).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

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
  void start();
  void stop();
  // Queues the message (bus callback thread).
  void onMessage(const common::bus::Message& m);
  // Blocks until everything queued so far was handled (tests, benchmarks).
  bool waitIdle(std::chrono::milliseconds timeout);
  // The subscriptions the router needs (QoS 1).
  static std::vector<std::string> subscriptions();

 private:
  struct Metrics;
  void warn(const std::string& what, const std::string& topic, const std::string& error);
  void handle(const common::bus::Message& m);
  void loop();
  fleet::Fleet& fleet_;
  RpcClient& rpc_;
  std::unique_ptr<Metrics> metrics_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point windowStart_{};
  int warnings_ = 0;
  int suppressed_ = 0;
  std::mutex qmu_;
  std::condition_variable qcv_;
  std::vector<common::bus::Message> queue_;
  std::size_t busy_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace skiff::hub::mqtt
