// DesiredPublisher: puts desired documents on the broker (retained, QoS 1) with a bounded
// in-flight window, so a fan-out to thousands of devices neither floods the connection nor
// waits for each acknowledgement in turn (docs/hub.md "Fan-out").
//
// Per device at most one document is in flight; a newer document submitted meanwhile replaces
// any queued one (only the newest matters, the topic is retained) and goes out after the
// in-flight one is acknowledged, so the broker always ends with the newest. Documents that fail
// (connection lost) are queued again unless superseded; while disconnected nothing is sent and
// the queue is resumed on reconnect. Acknowledged documents are reported through onAcked
// (called on the bus callback thread, never with the publisher's lock held).
//
// Threading: thread-safe; one pump thread publishes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/bus/message_bus.h"
#include "hub/fleet/fleet.h"

namespace prometheus {
class Registry;
}

namespace skiff::hub::mqtt {

struct PublisherOptions {
  std::size_t window = 256;  // QoS 1 publishes awaiting PUBACK
  // An in-flight publish without an outcome for this long is treated as failed and retried.
  std::chrono::milliseconds ackTimeout{60000};
  std::shared_ptr<prometheus::Registry> metrics;
};

class DesiredPublisher final : public fleet::DesiredSink {
 public:
  using AckHandler = std::function<void(const fleet::DesiredDoc&)>;
  DesiredPublisher(common::bus::MessageBus& bus, PublisherOptions opts, AckHandler onAcked);
  ~DesiredPublisher() override;

  void submit(fleet::DesiredDoc doc) override;
  // From the bus connection handler.
  void onConnection(bool connected);
  void start();
  // Waits up to drain for in-flight and queued documents (while connected), then stops.
  void stop(std::chrono::milliseconds drain);

  std::size_t queued() const;
  std::size_t inflight() const;
  // Blocks until nothing is queued or in flight (true) or timeout.
  bool waitDrained(std::chrono::milliseconds timeout) const;

 private:
  struct Metrics;
  void pump();
  void complete(const std::string& deviceId, std::uint64_t attempt, const common::Status& s);

  common::bus::MessageBus& bus_;
  PublisherOptions opts_;
  AckHandler onAcked_;
  std::unique_ptr<Metrics> metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  mutable std::condition_variable drainedCv_;
  std::unordered_map<std::string, fleet::DesiredDoc> queued_;
  std::deque<std::string> order_;  // device ids with a queued document, FIFO
  struct InFlight {
    fleet::DesiredDoc doc;
    std::uint64_t attempt;
    std::chrono::steady_clock::time_point since;
  };
  std::unordered_map<std::string, InFlight> inflight_;
  std::uint64_t attempts_ = 0;
  bool connected_ = false;
  bool stopping_ = false;
  bool windowFull_ = false;  // the client refused a publish: wait for an acknowledgement
  std::thread thread_;
};

}  // namespace skiff::hub::mqtt
