// Topic dispatch for the hub's MQTT subscriptions.
#include "hub/mqtt/router.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "common/log.h"

namespace skiff::hub::mqtt {

namespace proto = common::protocol;

struct Router::Metrics {
  prometheus::Counter* unexpected = nullptr;
  prometheus::Counter* dropped = nullptr;
};

namespace {
constexpr std::size_t kMaxQueued = 200000;
constexpr std::size_t kBatch = 256;  // handled at once, without waiting for the gather window
// How long the ingest thread gathers messages after the first one: a report's added latency.
constexpr std::chrono::milliseconds kGather{10};
}  // namespace

Router::Router(fleet::Fleet& fleet, RpcClient& rpc, std::shared_ptr<prometheus::Registry> metrics)
    : fleet_(fleet), rpc_(rpc), metrics_(new Metrics) {
  if (metrics) {
    metrics_->unexpected = &prometheus::BuildCounter()
                                .Name("skiff_hub_mqtt_unexpected_topics_total")
                                .Help("Messages on topics the protocol does not define")
                                .Register(*metrics)
                                .Add({});
    metrics_->dropped = &prometheus::BuildCounter()
                             .Name("skiff_hub_mqtt_ingest_dropped_total")
                             .Help("Device messages dropped because the ingest queue was full")
                             .Register(*metrics)
                             .Add({});
  }
}

Router::~Router() { stop(); }

void Router::start() {
  std::lock_guard lock(qmu_);
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
}

void Router::stop() {
  {
    std::lock_guard lock(qmu_);
    stopping_ = true;
  }
  qcv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Router::onMessage(const common::bus::Message& m) {
  std::lock_guard lock(qmu_);
  if (queue_.size() >= kMaxQueued) {
    if (metrics_->dropped) metrics_->dropped->Increment();
    return;
  }
  queue_.push_back(m);
  // Wake the ingest thread only when it may be waiting for work: on the first message (idle
  // wait) and when a batch is full (gathering wait). Messages in between just queue.
  if (queue_.size() == 1 || queue_.size() == kBatch) qcv_.notify_all();
}

bool Router::waitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(qmu_);
  return qcv_.wait_for(lock, timeout, [this] { return queue_.empty() && busy_ == 0; });
}

void Router::loop() {
  std::vector<common::bus::Message> batch;
  std::unique_lock lock(qmu_);
  while (true) {
    qcv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, everything handled
    // Gather for a moment: a fleet's heartbeats arrive one by one, and waking this thread for
    // each cost more CPU than handling it (hub idle CPU, docs/benchmarks.md).
    qcv_.wait_for(lock, kGather, [this] { return stopping_ || queue_.size() >= kBatch; });
    // The two vectors trade places and keep their capacity: no allocation per batch.
    batch.swap(queue_);
    busy_ = batch.size();
    lock.unlock();
    for (const auto& m : batch) handle(m);
    batch.clear();
    lock.lock();
    busy_ = 0;
    qcv_.notify_all();
  }
}

std::vector<std::string> Router::subscriptions() {
  return {proto::allDevicesFilter(proto::Channel::kReported),
          proto::allDevicesFilter(proto::Channel::kPresence),
          proto::allDevicesFilter(proto::Channel::kMetrics), proto::allRpcResponsesFilter()};
}

void Router::warn(const std::string& what, const std::string& topic, const std::string& error) {
  {
    std::lock_guard lock(mu_);
    auto now = std::chrono::steady_clock::now();
    if (now - windowStart_ > std::chrono::minutes(1)) {
      if (suppressed_ > 0) {
        common::log::warn("rejected device messages not logged",
                          {{"count", suppressed_}, {"window", "1m"}});
      }
      windowStart_ = now;
      warnings_ = 0;
      suppressed_ = 0;
    }
    if (++warnings_ > 20) {
      ++suppressed_;
      return;
    }
  }
  common::log::warn(what, {{"topic", topic}, {"error", error}});
}

void Router::handle(const common::bus::Message& m) {
  auto t = proto::parseDeviceTopic(m.topic);
  if (!t) {
    if (metrics_->unexpected) metrics_->unexpected->Increment();
    warn("message on an unexpected topic", m.topic, "");
    return;
  }
  std::optional<fleet::IngestError> err;
  if (t->rest == "reported") {
    err = fleet_.ingestReported(t->deviceId, m.payload);
  } else if (t->rest == "presence") {
    // The hub's own "offline" for a deleted device comes back here; so does an empty retained
    // message clearing the topic. Neither is news.
    if (m.payload.empty()) return;
    err = fleet_.ingestPresence(t->deviceId, m.payload);
    // Responses of the agent's running RPCs (followed logs) are lost with its connection.
    if (!err && !fleet_.deviceOnline(t->deviceId)) {
      rpc_.interrupt(t->deviceId,
                     common::unavailable("device \"" + t->deviceId + "\" went offline"));
    }
  } else if (t->rest == "metrics") {
    err = fleet_.ingestMetrics(t->deviceId, m.payload);
  } else if (t->rest.starts_with("rpc/response/")) {
    std::string requestId = t->rest.substr(13);
    if (!rpc_.onResponse(t->deviceId, requestId, m.payload)) {
      warn("rpc response dropped (malformed, or no such request)", m.topic, "");
    }
    return;
  } else {
    if (metrics_->unexpected) metrics_->unexpected->Increment();
    warn("message on an unexpected topic", m.topic, "");
    return;
  }
  if (err) warn("device message rejected", m.topic, err->status.toString());
}

}  // namespace skiff::hub::mqtt
