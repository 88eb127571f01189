// RPC over MQTT v5 (see rpc_server.h).
#include "edge_agent/rpc_server.h"

#include <set>

#include "common/clock.h"
#include "common/log.h"

namespace skiff::edge_agent {

namespace protocol = common::protocol;
using common::Json;
using common::Status;

namespace {

struct LogsParams {
  std::string module;
  int tailLines = -1;
  std::int64_t sinceSeconds = 0;
  bool follow = false;
  bool timestamps = false;
};

common::Result<LogsParams> parseLogsParams(const Json& p) {
  if (!p.is_object()) return common::invalidArgument("params: must be an object");
  static const std::set<std::string> kKnown = {"module", "tailLines", "sinceSeconds", "follow",
                                               "timestamps"};
  for (const auto& [k, v] : p.items()) {
    if (kKnown.count(k) == 0) return common::invalidArgument("params." + k + ": unknown field");
  }
  common::JsonFields f(p, "params");
  LogsParams out;
  SKIFF_ASSIGN_OR_RETURN(out.module, f.requireString("module"));
  SKIFF_RETURN_IF_ERROR(protocol::validateModuleName(out.module).withContext("params.module"));
  SKIFF_ASSIGN_OR_RETURN(auto tail, f.optionalInt("tailLines"));
  if (tail) {
    if (*tail < 0 || *tail > 1000000) {
      return common::invalidArgument("params.tailLines: must be between 0 and 1000000");
    }
    out.tailLines = static_cast<int>(*tail);
  }
  SKIFF_ASSIGN_OR_RETURN(auto since, f.optionalInt("sinceSeconds"));
  if (since) {
    if (*since <= 0 || *since > 10LL * 365 * 86400) {
      return common::invalidArgument("params.sinceSeconds: must be a positive number of seconds");
    }
    out.sinceSeconds = *since;
  }
  SKIFF_ASSIGN_OR_RETURN(auto follow, f.optionalBool("follow"));
  out.follow = follow.value_or(false);
  SKIFF_ASSIGN_OR_RETURN(auto ts, f.optionalBool("timestamps"));
  out.timestamps = ts.value_or(false);
  return out;
}

common::Result<std::string> singleStringParam(const Json& p, const std::string& key) {
  if (!p.is_object()) return common::invalidArgument("params: must be an object");
  for (const auto& [k, v] : p.items()) {
    if (k != key) return common::invalidArgument("params." + k + ": unknown field");
  }
  return common::JsonFields(p, "params").requireString(key);
}

}  // namespace

RpcServer::RpcServer(std::string deviceId, common::bus::MessageBus& bus, Reconciler& reconciler,
                     engine::ContainerIo& io, std::chrono::milliseconds maxFollow)
    : deviceId_(std::move(deviceId)),
      bus_(bus),
      reconciler_(reconciler),
      io_(io),
      maxFollow_(maxFollow) {}

bool RpcServer::respond(Call& call, bool final, const Json& result) {
  protocol::RpcResponse r;
  r.id = call.id;
  r.seq = call.seq++;
  r.final = final;
  r.result = result;
  common::bus::Message m;
  m.topic = call.responseTopic;
  m.payload = common::dumpJson(protocol::toJson(r));
  m.qos = 1;
  m.correlationData = call.correlation;
  // Worker threads wait for the broker's acknowledgement: a big log tail is paced by the
  // connection instead of overrunning the in-flight window.
  Status s = common::bus::publishAndWait(bus_, m, std::chrono::seconds(10));
  if (!s.isOk()) {
    common::log::warn("rpc: response not delivered", {{"id", call.id}, {"error", s.toString()}});
    return false;
  }
  return true;
}

void RpcServer::fail(Call& call, const Status& s) {
  common::bus::Message m;
  m.topic = call.responseTopic;
  m.payload = common::dumpJson(protocol::toJson(protocol::rpcError(call.id, call.seq++, s)));
  m.qos = 1;
  m.correlationData = call.correlation;
  (void)bus_.publish(m);
}

bool RpcServer::spawn(const std::shared_ptr<Call>& call, std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (shuttingDown_) {
      fail(*call, common::unavailable("agent is shutting down"));
      return false;
    }
    if (running_ >= kMaxConcurrent) {
      fail(*call, common::resourceExhausted("too many concurrent RPCs (" +
                                            std::to_string(kMaxConcurrent) + ")"));
      return false;
    }
    ++running_;
    active_[call->id] = call;
  }
  std::thread([this, call, fn = std::move(fn)] {
    fn();
    std::lock_guard lock(mu_);
    auto it = active_.find(call->id);
    if (it != active_.end() && it->second == call) active_.erase(it);
    --running_;
    cv_.notify_all();
  }).detach();
  return true;
}

void RpcServer::handle(const common::bus::Message& m) {
  auto call = std::make_shared<Call>();
  auto payload = protocol::parsePayload(m.payload);
  protocol::RpcRequest req;
  Status bad;
  if (!payload.isOk()) {
    bad = payload.status();
  } else {
    auto r = protocol::rpcRequestFromJson(*payload);
    if (r.isOk()) {
      req = std::move(r).value();
    } else {
      bad = r.status();
    }
  }
  if (!bad.isOk()) {
    // Without a valid id there is no response topic we may write to.
    std::string id = payload.isOk() && payload->contains("id") && (*payload)["id"].is_string()
                         ? (*payload)["id"].get<std::string>()
                         : "";
    common::log::warn("rpc: refusing malformed request", {{"error", bad.toString()}});
    auto parsedTopic = protocol::parseDeviceTopic(m.responseTopic);
    if (id.empty() || !parsedTopic || parsedTopic->deviceId != deviceId_ ||
        m.responseTopic != protocol::rpcResponseTopic(deviceId_, id)) {
      return;
    }
    call->id = id;
    call->responseTopic = m.responseTopic;
    call->correlation = m.correlationData;
    fail(*call, bad);
    return;
  }
  call->id = req.id;
  call->responseTopic = protocol::rpcResponseTopic(deviceId_, req.id);
  call->correlation = m.correlationData.empty() ? req.id : m.correlationData;
  if (!m.responseTopic.empty() && m.responseTopic != call->responseTopic) {
    common::log::warn("rpc: ignoring a response topic outside this device's namespace",
                      {{"id", req.id}, {"responseTopic", m.responseTopic}});
  }

  if (req.method == "ping") {
    if (!req.params.is_object() || !req.params.empty()) {
      fail(*call, common::invalidArgument("params: ping takes no parameters"));
      return;
    }
    protocol::RpcResponse r;
    r.id = req.id;
    r.result = {{"pong", true}, {"at", common::formatRfc3339(std::chrono::system_clock::now())}};
    common::bus::Message out;
    out.topic = call->responseTopic;
    out.payload = common::dumpJson(protocol::toJson(r));
    out.correlationData = call->correlation;
    (void)bus_.publish(out);
    return;
  }
  if (req.method == "logs") {
    auto params = parseLogsParams(req.params);
    if (!params.isOk()) {
      fail(*call, params.status());
      return;
    }
    spawn(call, [this, call, req] { runLogs(call, req); });
    return;
  }
  if (req.method == "restart") {
    auto module = singleStringParam(req.params, "module");
    if (!module.isOk()) {
      fail(*call, module.status());
      return;
    }
    spawn(call, [this, call, module = *module] { runRestart(call, module); });
    return;
  }
  if (req.method == "cancel") {
    auto target = singleStringParam(req.params, "id");
    if (!target.isOk()) {
      fail(*call, target.status());
      return;
    }
    std::shared_ptr<Call> victim;
    {
      std::lock_guard lock(mu_);
      auto it = active_.find(*target);
      if (it != active_.end()) victim = it->second;
    }
    if (!victim) {
      fail(*call, common::notFound("no running request \"" + *target + "\""));
      return;
    }
    victim->cancelled = true;
    protocol::RpcResponse r;
    r.id = req.id;
    common::bus::Message out;
    out.topic = call->responseTopic;
    out.payload = common::dumpJson(protocol::toJson(r));
    out.correlationData = call->correlation;
    (void)bus_.publish(out);
    return;
  }
  fail(*call, common::invalidArgument("method: unsupported \"" + req.method +
                                      "\" (ping, logs, restart, cancel)"));
}

void RpcServer::runLogs(const std::shared_ptr<Call>& call, protocol::RpcRequest req) {
  LogsParams p = *parseLogsParams(req.params);
  auto id = reconciler_.containerOf(p.module);
  if (!id.isOk()) {
    fail(*call, id.status());
    return;
  }
  engine::LogOptions o;
  o.tailLines = p.tailLines;
  o.follow = p.follow;
  o.timestamps = p.timestamps;
  if (p.sinceSeconds > 0) {
    o.since = std::chrono::system_clock::now() - std::chrono::seconds(p.sinceSeconds);
  }
  auto deadline = std::chrono::steady_clock::now() + maxFollow_;
  auto cancelled = [this, call, deadline] {
    if (call->cancelled || std::chrono::steady_clock::now() >= deadline) return true;
    std::lock_guard lock(mu_);
    return shuttingDown_;
  };
  // The hub receives a stream's chunks in seq order: once one is lost (broker unreachable, a
  // reconnect), later ones could never be shown, so the stream ends at the first undelivered
  // chunk instead of following (and failing every publish) for up to maxFollow_.
  bool lost = false;
  Status s = io_.logs(
      *id, o,
      [&](std::string_view data, bool) {
        while (!data.empty() && !lost) {
          std::string_view chunk = data.substr(0, kMaxChunk);
          data.remove_prefix(chunk.size());
          lost = !respond(*call, false, Json{{"data", std::string(chunk)}});
        }
        return !lost && !cancelled();
      },
      [&] { return lost || cancelled(); });
  if (lost) {
    common::log::info("rpc: log stream ended, a chunk could not be delivered", {{"id", call->id}});
    return;
  }
  if (!s.isOk()) {
    fail(*call, s);
    return;
  }
  respond(*call, true, Json{{"data", ""}});
}

void RpcServer::runRestart(const std::shared_ptr<Call>& call, std::string module) {
  Status s = reconciler_.restartModule(module);
  if (!s.isOk()) {
    fail(*call, s);
    return;
  }
  respond(*call, true, Json::object());
}

void RpcServer::shutdown() {
  std::unique_lock lock(mu_);
  shuttingDown_ = true;
  for (auto& [id, call] : active_) call->cancelled = true;
  cv_.wait_for(lock, std::chrono::seconds(10), [this] { return running_ == 0; });
}

}  // namespace skiff::edge_agent
