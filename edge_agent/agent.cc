// The running agent (see agent.h).
#include "edge_agent/agent.h"

#include <malloc.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "common/bus/message_bus.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/token_bucket.h"
#include "edge_agent/desired_store.h"
#include "edge_agent/engine/docker_engine.h"
#include "edge_agent/enrollment.h"
#include "edge_agent/identity.h"
#include "edge_agent/rpc_server.h"
#include "edge_agent/system_info.h"

namespace skiff::edge_agent {

namespace protocol = common::protocol;
namespace bus = common::bus;
using common::Result;
using common::Status;
using Clock = std::chrono::steady_clock;

namespace {

class Agent {
 public:
  Agent(AgentConfig config, Identity identity)
      : config_(std::move(config)),
        files_{config_.stateDir},
        identity_(std::move(identity)),
        engine_(engine::DockerEngineOptions{config_.engineSocket}),
        store_(config_.stateDir, identity_.deviceId, identity_.hubSigningKeyPem),
        reconciler_(reconcilerOptions(), engine_, engine_, engine_, [this] { markDirty(); }),
        cpu_(std::string("/")) {}

  Status run(std::stop_token stop);

 private:
  ReconcilerOptions reconcilerOptions() const {
    ReconcilerOptions o = config_.reconciler;
    o.agentId = identity_.deviceId;
    o.stateDir = config_.stateDir;
    if (o.hostIP.empty()) o.hostIP = primaryAddress();
    return o;
  }
  Status connect();
  void disconnect(bool announceOffline);
  void onMessage(const bus::Message& m);
  void onConnection(bool connected, const std::string& reason);
  void markDirty() {
    {
      std::lock_guard lock(mu_);
      dirty_ = true;
    }
    cv_.notify_all();
  }
  void publishPresence();
  bool publishReport(bool force);
  // Collects metrics every metricsInterval on its own thread (engine stats calls are slow and
  // must not hold reports back); the loop publishes them.
  void metricsLoop(std::stop_token stop);
  protocol::Metrics collectMetrics();
  void refreshFacts();
  void checkRenewal();

  AgentConfig config_;
  IdentityFiles files_;
  Identity identity_;
  engine::DockerEngine engine_;
  DesiredStore store_;
  Reconciler reconciler_;
  CpuSampler cpu_;

  std::unique_ptr<bus::MessageBus> bus_;
  std::unique_ptr<RpcServer> rpc_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = true;
  bool justConnected_ = false;

  std::int64_t seq_ = 0;
  protocol::Reported lastReported_;
  bool reportedOnce_ = false;
  // Report rate limit (loop thread only): 10 reports at once (a pod's start makes about 6),
  // then one per reportDebounce.
  common::TokenBucket reportBudget_{10, config_.reportDebounce};
  std::optional<protocol::DesiredError> bootError_;
  protocol::DeviceFacts facts_;
  Clock::time_point factsRefreshedAt_{};
  // Metrics thread only.
  std::map<std::string, std::pair<std::uint64_t, std::chrono::system_clock::time_point>> cpuLast_;
  std::optional<protocol::Metrics> pendingMetrics_;  // under mu_: collected, to publish
};

Status Agent::connect() {
  bus::BusOptions o;
  o.url = config_.mqttUrl.empty() ? identity_.mqttUrl : config_.mqttUrl;
  o.clientId = identity_.deviceId;
  if (o.url.starts_with("mqtts://")) {
    o.tls = common::tls::TlsFiles{files_.cert(), files_.key(), files_.ca()};
  }
  bus::Message will;
  will.topic = protocol::topicFor(identity_.deviceId, protocol::Channel::kPresence);
  will.payload = common::dumpJson(protocol::toJson(protocol::Presence{false, "", ""}));
  will.qos = 1;
  will.retained = true;
  o.will = will;
  SKIFF_ASSIGN_OR_RETURN(bus_, bus::makePahoBus(o));
  rpc_ = std::make_unique<RpcServer>(identity_.deviceId, *bus_, reconciler_, engine_);
  bus_->setHandlers([this](const bus::Message& m) { onMessage(m); },
                    [this](bool c, const std::string& r) { onConnection(c, r); });
  SKIFF_RETURN_IF_ERROR(
      bus_->subscribe(protocol::topicFor(identity_.deviceId, protocol::Channel::kDesired), 1));
  SKIFF_RETURN_IF_ERROR(
      bus_->subscribe(protocol::topicFor(identity_.deviceId, protocol::Channel::kRpcRequest), 1));
  bus_->start();
  return Status::ok();
}

void Agent::disconnect(bool announceOffline) {
  if (rpc_) rpc_->shutdown();
  if (bus_) {
    if (announceOffline && bus_->isConnected()) {
      bus::Message m;
      m.topic = protocol::topicFor(identity_.deviceId, protocol::Channel::kPresence);
      m.payload = common::dumpJson(protocol::toJson(protocol::Presence{false, "", ""}));
      m.retained = true;
      Status s = bus::publishAndWait(*bus_, m, std::chrono::seconds(3));
      if (!s.isOk()) common::log::warn("could not announce offline", {{"error", s.toString()}});
    }
    bus_->stop();
  }
  rpc_.reset();
  bus_.reset();
}

void Agent::onConnection(bool connected, const std::string&) {
  if (!connected) return;
  {
    std::lock_guard lock(mu_);
    justConnected_ = true;
    dirty_ = true;
  }
  cv_.notify_all();
}

void Agent::onMessage(const bus::Message& m) {
  auto topic = protocol::parseDeviceTopic(m.topic);
  if (!topic || topic->deviceId != identity_.deviceId) return;
  if (topic->rest == "rpc/request") {
    if (rpc_) rpc_->handle(m);
    return;
  }
  if (topic->rest != "desired") return;
  if (m.payload.empty()) {
    common::log::info("desired state cleared on the broker; keeping the current one");
    return;
  }
  DesiredDecision d = store_.offer(m.payload);
  switch (d.kind) {
    case DesiredDecision::Kind::kRefused:
      common::log::warn(
          "refused desired state",
          {{"version", d.error.version}, {"reason", d.error.reason}, {"message", d.error.message}});
      break;
    case DesiredDecision::Kind::kAccepted:
      common::log::info("accepted desired state",
                        {{"version", d.document.version}, {"pods", d.document.pods.size()}});
      {
        std::lock_guard lock(mu_);
        bootError_.reset();
      }
      reconciler_.setDesired(d.document);
      break;
    case DesiredDecision::Kind::kUnchanged: {
      std::lock_guard lock(mu_);
      bootError_.reset();
    }
      if (!reconciler_.hasDesired()) reconciler_.setDesired(d.document);
      break;
  }
  markDirty();
}

void Agent::publishPresence() {
  bus::Message m;
  m.topic = protocol::topicFor(identity_.deviceId, protocol::Channel::kPresence);
  protocol::Presence p{true, common::formatRfc3339(std::chrono::system_clock::now()),
                       config_.agentVersion};
  m.payload = common::dumpJson(protocol::toJson(p));
  m.retained = true;
  if (Status s = bus_->publish(m); !s.isOk()) {
    common::log::warn("presence not published", {{"error", s.toString()}});
  }
}

void Agent::refreshFacts() {
  if (!facts_.engine.empty() && Clock::now() - factsRefreshedAt_ < std::chrono::minutes(10)) return;
  if (facts_.engine.empty() && Clock::now() - factsRefreshedAt_ < std::chrono::seconds(10) &&
      factsRefreshedAt_ != Clock::time_point{}) {
    return;
  }
  factsRefreshedAt_ = Clock::now();
  protocol::DeviceFacts f = collectFacts(config_.stateDir);
  f.agentVersion = config_.agentVersion;
  if (auto v = engine_.version(); v.isOk()) {
    f.engine = v->name + " " + v->version;
    f.engineApiVersion = v->apiVersion;
  }
  facts_ = f;
}

bool Agent::publishReport(bool force) {
  refreshFacts();
  protocol::Reported r;
  r.deviceId = identity_.deviceId;
  r.appliedVersion = store_.appliedVersion();
  r.desiredError = store_.lastError();
  if (!r.desiredError) {
    std::lock_guard lock(mu_);
    r.desiredError = bootError_;
  }
  auto statuses = reconciler_.statuses();
  r.pods = std::move(statuses.pods);
  r.modules = std::move(statuses.modules);
  r.facts = facts_;
  if (!force && reportedOnce_ && r == lastReported_) return true;
  protocol::Reported out = r;
  out.seq = ++seq_;
  out.reportedAt = common::formatRfc3339(std::chrono::system_clock::now());
  bus::Message m;
  m.topic = protocol::topicFor(identity_.deviceId, protocol::Channel::kReported);
  m.payload = common::dumpJson(protocol::toJson(out));
  Status s = bus_->publish(m);
  if (!s.isOk()) {
    common::log::debug("report not published", {{"error", s.toString()}});
    return false;
  }
  lastReported_ = r;
  reportedOnce_ = true;
  reportBudget_.take();
  return true;
}

void Agent::metricsLoop(std::stop_token stop) {
  std::mutex waitMu;
  std::condition_variable_any waitCv;
  std::unique_lock waitLock(waitMu);
  auto next = Clock::now() + std::chrono::seconds(1);
  while (!waitCv.wait_until(waitLock, stop, next, [] { return false; }) && !stop.stop_requested()) {
    protocol::Metrics m = collectMetrics();
    {
      std::lock_guard lock(mu_);
      pendingMetrics_ = std::move(m);
    }
    cv_.notify_all();
    // Give memory freed since (a burst of pod starts, large desired documents) back to the
    // system: glibc keeps freed heap otherwise, and the agent's resident size is a target.
    malloc_trim(0);
    next = Clock::now() + config_.metricsInterval;
  }
}

protocol::Metrics Agent::collectMetrics() {
  protocol::Metrics metrics = collectHostMetrics(cpu_, config_.stateDir);
  std::map<std::string, std::pair<std::uint64_t, std::chrono::system_clock::time_point>> seen;
  for (const auto& [module, id] : reconciler_.runningContainers()) {
    auto st = engine_.stats(id);
    if (!st.isOk()) continue;
    protocol::ModuleUsage u;
    u.name = module;
    u.memoryBytes = st->memoryBytes;
    auto prev = cpuLast_.find(id);
    if (prev != cpuLast_.end() && st->at > prev->second.second &&
        st->cpuTotalNanos >= prev->second.first) {
      double wallNs = static_cast<double>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(st->at - prev->second.second)
              .count());
      u.cpuPercent = 100.0 * static_cast<double>(st->cpuTotalNanos - prev->second.first) / wallNs;
    }
    seen[id] = {st->cpuTotalNanos, st->at};
    metrics.modules.push_back(u);
  }
  cpuLast_ = std::move(seen);
  return metrics;
}

void Agent::checkRenewal() {
  auto renewed = renewIfDue(files_);
  if (!renewed.isOk()) {
    common::log::warn("certificate renewal failed; will retry",
                      {{"error", renewed.status().toString()}});
    return;
  }
  if (!*renewed) return;
  auto id = loadIdentity(files_);
  if (id.isOk()) identity_.mqttUrl = id->mqttUrl;
  // The MQTT client reads its certificate when it connects: reconnect with the new one.
  common::log::info("reconnecting to MQTT with the renewed certificate");
  disconnect(false);
  if (Status s = connect(); !s.isOk()) {
    common::log::error("cannot reconnect after renewal", {{"error", s.toString()}});
  }
}

Status Agent::run(std::stop_token stop) {
  SKIFF_RETURN_IF_ERROR(common::makeDirs(config_.stateDir, 0700));
  // Offline autonomy: act on the last accepted document before (and without) any broker.
  if (auto doc = store_.load()) {
    common::log::info("reconciling from the persisted desired state",
                      {{"version", doc->version}, {"pods", doc->pods.size()}});
    reconciler_.setDesired(*doc);
  } else if (!store_.loadError().empty()) {
    std::lock_guard lock(mu_);
    bootError_ = protocol::DesiredError{0, "Malformed", store_.loadError()};
    common::log::warn(
        "no usable persisted desired state; leaving containers alone until the hub "
        "sends one",
        {{"error", store_.loadError()}});
  } else {
    common::log::info("no desired state yet; waiting for the hub");
  }
  reconciler_.start();
  SKIFF_RETURN_IF_ERROR(connect());
  common::log::info("agent running",
                    {{"deviceId", identity_.deviceId},
                     {"engine", config_.engineSocket},
                     {"mqtt", config_.mqttUrl.empty() ? identity_.mqttUrl : config_.mqttUrl}});

  auto nextHeartbeat = Clock::now() + config_.heartbeatInterval;
  auto nextRenewal = Clock::now() + std::chrono::seconds(5);
  std::jthread metrics([this](std::stop_token s) { metricsLoop(s); });
  std::stop_callback wake(stop, [this] { cv_.notify_all(); });
  while (!stop.stop_requested()) {
    bool dirty = false;
    bool connectedNow = false;
    std::optional<protocol::Metrics> toPublish;
    {
      std::unique_lock lock(mu_);
      auto until = std::min(nextHeartbeat, nextRenewal);
      cv_.wait_until(lock, until, [&] {
        return dirty_ || justConnected_ || pendingMetrics_ || stop.stop_requested();
      });
      if (stop.stop_requested()) break;
      connectedNow = justConnected_;
      justConnected_ = false;
      toPublish.swap(pendingMetrics_);
    }
    if (connectedNow && bus_ && bus_->isConnected()) publishPresence();
    {
      // Changes are reported at once while the bucket has a token (the few successive changes
      // of a pod's start each reach Kubernetes without delay); beyond that, changes are
      // coalesced into one report per reportDebounce, so a burst (many containers changing at
      // once) makes a few reports, not hundreds.
      std::unique_lock lock(mu_);
      auto wait = reportBudget_.delay();
      if (dirty_ && !connectedNow && wait > Clock::duration::zero()) {
        cv_.wait_for(lock, wait, [&] { return stop.stop_requested(); });
      }
      dirty = dirty_;
      dirty_ = false;
    }
    auto now = Clock::now();
    bool heartbeat = now >= nextHeartbeat;
    if (bus_ && bus_->isConnected() && (dirty || heartbeat || connectedNow)) {
      if (!publishReport(heartbeat || connectedNow)) {
        std::lock_guard lock(mu_);
        dirty_ = dirty_ || dirty;  // try again on the next event / heartbeat
      }
    }
    if (heartbeat) nextHeartbeat = now + config_.heartbeatInterval;
    if (toPublish && bus_ && bus_->isConnected()) {
      bus::Message m;
      m.topic = protocol::topicFor(identity_.deviceId, protocol::Channel::kMetrics);
      m.payload = common::dumpJson(protocol::toJson(*toPublish));
      m.qos = 0;
      (void)bus_->publish(m);
    }
    if (now >= nextRenewal) {
      checkRenewal();
      nextRenewal = Clock::now() + config_.renewCheckInterval;
    }
  }
  metrics.request_stop();
  metrics.join();
  common::log::info("stopping; containers keep running");
  disconnect(true);
  engine_.cancelAll();
  reconciler_.stop();
  common::log::info("stopped");
  return Status::ok();
}

}  // namespace

Status runAgent(const AgentConfig& config, std::stop_token stop) {
  SKIFF_ASSIGN_OR_RETURN(Identity identity, loadIdentity(IdentityFiles{config.stateDir}));
  auto agent = std::make_unique<Agent>(config, std::move(identity));
  return agent->run(stop);
}

}  // namespace skiff::edge_agent
