// The agent's side of RPC over MQTT v5 request/response (docs/protocol.md "RPC"): ping, logs
// (tail, since, follow as a stream of ≤ 64 KiB chunks, cancel) and restart.
//
// handle() is called on the bus callback thread: it parses and validates the request (bad
// requests get a final InvalidArgument response at once) and runs slow methods (logs, restart)
// on their own threads, at most kMaxConcurrent at a time (beyond: ResourceExhausted). Responses go
// to the request's MQTT v5 response topic when it is this device's rpc/response/<id> topic (the
// only ones the broker lets us write), else to that topic computed from the request id; the
// request's correlation data is echoed. Following streams end on cancel, when the container
// stops, after maxFollow, or at shutdown(); each ends with a final message. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/bus/message_bus.h"
#include "common/protocol/protocol.h"
#include "edge_agent/engine/container_engine.h"
#include "edge_agent/reconciler.h"

namespace skiff::edge_agent {

class RpcServer {
 public:
  static constexpr int kMaxConcurrent = 16;
  static constexpr std::size_t kMaxChunk = 64 * 1024;

  RpcServer(std::string deviceId, common::bus::MessageBus& bus, Reconciler& reconciler,
            engine::ContainerIo& io, std::chrono::milliseconds maxFollow = std::chrono::hours(1));
  ~RpcServer() { shutdown(); }
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  // One rpc/request message. Non-blocking.
  void handle(const common::bus::Message& m);
  // Ends every stream (each gets its final message if the bus is up) and joins the threads.
  void shutdown();

 private:
  struct Call {
    std::string id;
    std::string responseTopic;
    std::string correlation;
    std::int64_t seq = 0;
    std::atomic<bool> cancelled{false};
  };
  // Publishes one response and waits for the broker's acknowledgement; false (logged) if it
  // could not be delivered.
  bool respond(Call& call, bool final, const common::Json& result);
  void fail(Call& call, const common::Status& s);
  void runLogs(const std::shared_ptr<Call>& call, common::protocol::RpcRequest req);
  void runRestart(const std::shared_ptr<Call>& call, std::string module);
  bool spawn(const std::shared_ptr<Call>& call, std::function<void()> fn);

  const std::string deviceId_;
  common::bus::MessageBus& bus_;
  Reconciler& reconciler_;
  engine::ContainerIo& io_;
  const std::chrono::milliseconds maxFollow_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool shuttingDown_ = false;
  int running_ = 0;
  std::map<std::string, std::shared_ptr<Call>> active_;
  std::vector<std::thread> threads_;
};

}  // namespace skiff::edge_agent
