// MQTT v5 request/response relay to agents.
#include "hub/mqtt/rpc_client.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <vector>

#include "common/log.h"
#include "hub/random_id.h"

namespace skiff::hub::mqtt {

namespace proto = common::protocol;
using common::Result;

struct RpcClient::Metrics {
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  prometheus::Counter* rejected = nullptr;
};

std::string newRequestId() { return randomAlnum(16); }

RpcClient::RpcClient(common::bus::MessageBus& bus, std::shared_ptr<prometheus::Registry> metrics)
    : bus_(bus), metrics_(new Metrics) {
  if (metrics) {
    metrics_->requests = &prometheus::BuildCounter()
                              .Name("skiff_hub_rpc_requests_total")
                              .Help("RPC requests sent to agents, by method")
                              .Register(*metrics);
    metrics_->rejected = &prometheus::BuildCounter()
                              .Name("skiff_hub_rpc_responses_rejected_total")
                              .Help("RPC responses dropped: malformed, or for no request")
                              .Register(*metrics)
                              .Add({});
  }
}

RpcClient::~RpcClient() { closeAll(); }

Result<std::optional<proto::RpcResponse>> RpcClient::Call::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return closed_ || pending_.contains(nextSeq_); });
  auto it = pending_.find(nextSeq_);
  if (it != pending_.end()) {
    proto::RpcResponse r = std::move(it->second);
    pending_.erase(it);
    ++nextSeq_;
    return std::optional<proto::RpcResponse>(std::move(r));
  }
  if (closed_) {
    return closedReason_.isOk() ? common::unavailable("hub is shutting down") : closedReason_;
  }
  return std::optional<proto::RpcResponse>();
}

Result<std::shared_ptr<RpcClient::Call>> RpcClient::start(const std::string& deviceId,
                                                          const std::string& method,
                                                          common::Json params) {
  auto call = std::make_shared<Call>();
  call->id_ = newRequestId();
  call->deviceId_ = deviceId;
  proto::RpcRequest req{call->id_, method, std::move(params)};
  common::bus::Message m;
  m.topic = proto::topicFor(deviceId, proto::Channel::kRpcRequest);
  m.payload = common::dumpJson(proto::toJson(req));
  m.qos = 1;
  m.responseTopic = proto::rpcResponseTopic(deviceId, call->id_);
  m.correlationData = call->id_;
  {
    std::lock_guard lock(mu_);
    calls_[call->id_] = call;
  }
  if (auto s = bus_.publish(m); !s.isOk()) {
    std::lock_guard lock(mu_);
    calls_.erase(call->id_);
    return common::unavailable("cannot reach device " + deviceId + ": " + s.message());
  }
  if (metrics_->requests) metrics_->requests->Add({{"method", method}}).Increment();
  return call;
}

void RpcClient::finish(const std::shared_ptr<Call>& call) {
  if (!call) return;
  std::lock_guard lock(mu_);
  calls_.erase(call->id_);
}

void RpcClient::cancel(const std::shared_ptr<Call>& call) {
  if (!call) return;
  finish(call);
  proto::RpcRequest req{newRequestId(), "cancel", common::Json{{"id", call->id_}}};
  common::bus::Message m;
  m.topic = proto::topicFor(call->deviceId_, proto::Channel::kRpcRequest);
  m.payload = common::dumpJson(proto::toJson(req));
  m.qos = 1;
  m.responseTopic = proto::rpcResponseTopic(call->deviceId_, req.id);
  m.correlationData = req.id;
  if (auto s = bus_.publish(m); !s.isOk()) {
    common::log::debug("rpc cancel not sent", {{"device", call->deviceId_}, {"id", call->id_}});
  }
}

bool RpcClient::onResponse(const std::string& deviceId, const std::string& requestId,
                           std::string_view payload) {
  auto reject = [this] {
    if (metrics_->rejected) metrics_->rejected->Increment();
    return false;
  };
  std::shared_ptr<Call> call;
  {
    std::lock_guard lock(mu_);
    auto it = calls_.find(requestId);
    if (it == calls_.end()) return reject();
    call = it->second;
  }
  if (call->deviceId_ != deviceId) return reject();
  auto j = proto::parsePayload(payload);
  if (!j.isOk()) return reject();
  auto r = proto::rpcResponseFromJson(*j);
  if (!r.isOk() || r->id != requestId) {
    common::log::debug("malformed rpc response",
                       {{"device", deviceId}, {"error", r.status().toString()}});
    return reject();
  }
  std::lock_guard lock(call->mu_);
  if (r->seq < call->nextSeq_) return true;            // a QoS 1 duplicate
  if (call->pending_.size() >= 4096) return reject();  // the caller stopped reading
  call->pending_.emplace(r->seq, std::move(*r));
  call->cv_.notify_all();
  return true;
}

void RpcClient::interrupt(const std::string& deviceId, const common::Status& why) {
  std::vector<std::shared_ptr<Call>> victims;
  {
    std::lock_guard lock(mu_);
    for (auto it = calls_.begin(); it != calls_.end();) {
      if (deviceId.empty() || it->second->deviceId_ == deviceId) {
        victims.push_back(it->second);
        it = calls_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : victims) {
    std::lock_guard lock(c->mu_);
    c->closed_ = true;
    c->closedReason_ = why;
    c->cv_.notify_all();
  }
}

void RpcClient::closeAll() {
  std::map<std::string, std::shared_ptr<Call>> calls;
  {
    std::lock_guard lock(mu_);
    calls.swap(calls_);
  }
  for (auto& [id, c] : calls) {
    std::lock_guard lock(c->mu_);
    c->closed_ = true;
    c->cv_.notify_all();
  }
}

}  // namespace skiff::hub::mqtt
