// Windowed, coalescing desired-state publisher.
#include "hub/mqtt/publisher.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "common/log.h"
#include "common/protocol/protocol.h"

namespace skiff::hub::mqtt {

namespace proto = common::protocol;
using common::Status;

struct DesiredPublisher::Metrics {
  prometheus::Counter* acked = nullptr;
  prometheus::Counter* failed = nullptr;
  prometheus::Counter* superseded = nullptr;
  prometheus::Gauge* inflight = nullptr;
  prometheus::Gauge* queued = nullptr;
};

DesiredPublisher::DesiredPublisher(common::bus::MessageBus& bus, PublisherOptions opts,
                                   AckHandler onAcked)
    : bus_(bus), opts_(std::move(opts)), onAcked_(std::move(onAcked)), metrics_(new Metrics) {
  if (opts_.window == 0) opts_.window = 1;
  if (opts_.metrics) {
    auto& fam = prometheus::BuildCounter()
                    .Name("skiff_hub_desired_publishes_total")
                    .Help(
                        "Desired-state publishes by outcome (acked by the broker, failed and "
                        "queued again, superseded by a newer document before being sent)")
                    .Register(*opts_.metrics);
    metrics_->acked = &fam.Add({{"result", "acked"}});
    metrics_->failed = &fam.Add({{"result", "failed"}});
    metrics_->superseded = &fam.Add({{"result", "superseded"}});
    metrics_->inflight = &prometheus::BuildGauge()
                              .Name("skiff_hub_desired_inflight")
                              .Help("Desired-state publishes awaiting the broker's PUBACK")
                              .Register(*opts_.metrics)
                              .Add({});
    metrics_->queued = &prometheus::BuildGauge()
                            .Name("skiff_hub_desired_queued")
                            .Help("Desired documents waiting for the in-flight window")
                            .Register(*opts_.metrics)
                            .Add({});
  }
}

DesiredPublisher::~DesiredPublisher() { stop(std::chrono::milliseconds(0)); }

void DesiredPublisher::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { pump(); });
}

void DesiredPublisher::stop(std::chrono::milliseconds drain) {
  if (drain.count() > 0) waitDrained(drain);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DesiredPublisher::submit(fleet::DesiredDoc doc) {
  std::lock_guard lock(mu_);
  std::string id = doc.deviceId;
  auto q = queued_.find(id);
  if (q != queued_.end()) {
    if (metrics_->superseded) metrics_->superseded->Increment();
    q->second = std::move(doc);
  } else {
    queued_.emplace(id, std::move(doc));
    if (!inflight_.contains(id)) order_.push_back(id);
  }
  if (metrics_->queued) metrics_->queued->Set(static_cast<double>(queued_.size()));
  cv_.notify_all();
}

void DesiredPublisher::onConnection(bool connected) {
  std::lock_guard lock(mu_);
  connected_ = connected;
  windowFull_ = false;
  cv_.notify_all();
}

std::size_t DesiredPublisher::queued() const {
  std::lock_guard lock(mu_);
  return queued_.size();
}

std::size_t DesiredPublisher::inflight() const {
  std::lock_guard lock(mu_);
  return inflight_.size();
}

bool DesiredPublisher::waitDrained(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return drainedCv_.wait_for(lock, timeout,
                             [this] {
                               return (queued_.empty() && inflight_.empty()) || !connected_ ||
                                      stopping_;
                             }) &&
         queued_.empty() && inflight_.empty();
}

void DesiredPublisher::complete(const std::string& deviceId, std::uint64_t attempt,
                                const Status& s) {
  fleet::DesiredDoc acked;
  bool ok = false;
  {
    std::lock_guard lock(mu_);
    auto it = inflight_.find(deviceId);
    if (it == inflight_.end() || it->second.attempt != attempt) return;  // timed out earlier
    fleet::DesiredDoc doc = std::move(it->second.doc);
    inflight_.erase(it);
    windowFull_ = false;
    if (s.isOk()) {
      ok = true;
      acked = std::move(doc);
      if (metrics_->acked) metrics_->acked->Increment();
      if (queued_.contains(deviceId)) order_.push_back(deviceId);
    } else {
      if (metrics_->failed) metrics_->failed->Increment();
      if (!queued_.contains(deviceId)) queued_.emplace(deviceId, std::move(doc));
      order_.push_front(deviceId);
    }
    if (metrics_->inflight) metrics_->inflight->Set(static_cast<double>(inflight_.size()));
    cv_.notify_all();
    drainedCv_.notify_all();
  }
  if (ok && onAcked_) onAcked_(acked);
}

void DesiredPublisher::pump() {
  std::unique_lock lock(mu_);
  auto lastSweep = std::chrono::steady_clock::now();
  while (!stopping_) {
    auto now = std::chrono::steady_clock::now();
    if (now - lastSweep > std::chrono::seconds(1)) {
      lastSweep = now;
      for (auto it = inflight_.begin(); it != inflight_.end();) {
        if (connected_ && now - it->second.since > opts_.ackTimeout) {
          common::log::warn("desired publish not acknowledged in time; retrying",
                            {{"device", it->first}, {"version", it->second.doc.version}});
          if (metrics_->failed) metrics_->failed->Increment();
          if (!queued_.contains(it->first)) queued_.emplace(it->first, std::move(it->second.doc));
          order_.push_front(it->first);
          it = inflight_.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (!connected_ || order_.empty() || inflight_.size() >= opts_.window || windowFull_) {
      cv_.wait_for(lock, windowFull_ ? std::chrono::milliseconds(50) : std::chrono::seconds(1));
      if (windowFull_ && inflight_.empty()) windowFull_ = false;
      continue;
    }
    std::string id = std::move(order_.front());
    order_.pop_front();
    auto q = queued_.find(id);
    if (q == queued_.end() || inflight_.contains(id)) continue;
    fleet::DesiredDoc doc = std::move(q->second);
    queued_.erase(q);
    std::uint64_t attempt = ++attempts_;
    std::string topic = proto::topicFor(id, proto::Channel::kDesired);
    common::bus::Message msg{topic, doc.clear ? std::string() : doc.payload, 1, true};
    inflight_.emplace(id, InFlight{std::move(doc), attempt, now});
    if (metrics_->inflight) metrics_->inflight->Set(static_cast<double>(inflight_.size()));
    if (metrics_->queued) metrics_->queued->Set(static_cast<double>(queued_.size()));
    bool clear = msg.payload.empty();
    lock.unlock();
    Status s = bus_.publish(
        msg, [this, id, attempt](const Status& outcome) { complete(id, attempt, outcome); });
    if (s.isOk() && clear) {
      // The protocol's last word for a deleted device: offline, retained.
      proto::Presence offline;
      offline.at = common::formatRfc3339(std::chrono::system_clock::now());
      (void)bus_.publish({proto::topicFor(id, proto::Channel::kPresence),
                          common::dumpJson(proto::toJson(offline)), 1, true});
    }
    lock.lock();
    if (!s.isOk()) {
      auto it = inflight_.find(id);
      if (it != inflight_.end() && it->second.attempt == attempt) {
        if (!queued_.contains(id)) queued_.emplace(id, std::move(it->second.doc));
        inflight_.erase(it);
        order_.push_front(id);
      }
      // Connected but refused: the client's own in-flight limit. Wait for an acknowledgement.
      if (connected_) windowFull_ = true;
    }
  }
}

}  // namespace skiff::hub::mqtt
