// Simulated agent behaviour (protocol payloads only).
#include "tests/support/sim_agent.h"

#include "common/clock.h"
#include "common/tls.h"

namespace skiff::test {

namespace proto = common::protocol;
using common::Json;

namespace {

std::string now() { return common::formatRfc3339(std::chrono::system_clock::now()); }

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string SimAgent::logText(const LogLine& l, bool timestamps) {
  if (!timestamps) return l.text;
  return common::formatRfc3339Micro(
             std::chrono::system_clock::time_point(std::chrono::milliseconds(l.atMs))) +
         " " + l.text;
}

SimAgent::SimAgent(std::string deviceId, std::string signingPublicKeyPem, std::string arch)
    : deviceId_(std::move(deviceId)),
      publicKeyPem_(std::move(signingPublicKeyPem)),
      arch_(std::move(arch)) {}

std::vector<std::string> SimAgent::subscriptions() const {
  return {proto::topicFor(deviceId_, proto::Channel::kDesired),
          proto::topicFor(deviceId_, proto::Channel::kRpcRequest)};
}

OutMessage SimAgent::will() const {
  proto::Presence p;
  p.online = false;
  return {proto::topicFor(deviceId_, proto::Channel::kPresence), common::dumpJson(proto::toJson(p)),
          1, true};
}

std::vector<OutMessage> SimAgent::hello() {
  proto::Presence p;
  p.online = true;
  p.at = now();
  p.agentVersion = "sim-0.1";
  std::lock_guard lock(mu_);
  return {{proto::topicFor(deviceId_, proto::Channel::kPresence),
           common::dumpJson(proto::toJson(p)), 1, true},
          reportLocked()};
}

OutMessage SimAgent::report() {
  std::lock_guard lock(mu_);
  return reportLocked();
}

OutMessage SimAgent::reportLocked() {
  proto::Reported r;
  r.deviceId = deviceId_;
  r.seq = ++seq_;
  r.reportedAt = now();
  r.appliedVersion = applied_ ? applied_->version : 0;
  r.desiredError = error_;
  for (const auto& [name, st] : modules_) {
    proto::ModuleStatus s = st;
    auto f = failures_.find(name);
    if (f != failures_.end()) {
      s.state = proto::ModuleState::kWaiting;
      s.reason = f->second;
      s.message = "simulated " + f->second;
      s.ready = false;
    }
    if (unhealthy_.contains(name)) s.health = proto::Health::kUnhealthy;
    auto rs = restarts_.find(name);
    if (rs != restarts_.end()) s.restartCount = rs->second;
    r.modules.push_back(std::move(s));
  }
  // One sandbox per pod, its phase what the kubelet's rules make of the containers.
  if (applied_) {
    int n = 0;
    for (const auto& p : applied_->pods) {
      proto::PodStatus ps;
      ps.name = p.name;
      ps.deploymentId = p.deploymentId;
      ps.specHash = proto::specHash(p);
      ps.podIP = "10.88." + std::to_string(n / 250) + "." + std::to_string(2 + n % 250);
      ++n;
      ps.hostIP = "192.0.2.1";
      ps.initialized = true;
      ps.phase = "Running";
      ps.ready = true;
      for (const auto& m : r.modules) {
        if (proto::podOfModule(m.name) != p.name) continue;
        if (m.state != proto::ModuleState::kRunning || !m.ready) ps.ready = false;
        if (m.state == proto::ModuleState::kWaiting && m.restartCount == 0) ps.phase = "Pending";
      }
      r.pods.push_back(std::move(ps));
    }
  }
  r.facts.arch = arch_;
  r.facts.osRelease = "Simulated 1.0";
  r.facts.kernel = "6.1.0-sim";
  r.facts.hostname = deviceId_;
  r.facts.cpus = 4;
  r.facts.memoryBytes = std::int64_t{4} << 30;
  r.facts.diskBytes = std::int64_t{32} << 30;
  r.facts.engine = "sim 1.0";
  r.facts.engineApiVersion = "1.41";
  r.facts.agentVersion = "sim-0.1";
  return {proto::topicFor(deviceId_, proto::Channel::kReported), common::dumpJson(proto::toJson(r)),
          1, false};
}

OutMessage SimAgent::metrics() {
  proto::Metrics m;
  m.at = now();
  m.cpuPercent = 12.5;
  m.memoryUsedBytes = std::int64_t{1} << 30;
  m.memoryTotalBytes = std::int64_t{4} << 30;
  m.diskUsedBytes = std::int64_t{5} << 30;
  m.diskTotalBytes = std::int64_t{32} << 30;
  m.temperatureCelsius = 48.5;
  m.load1 = 0.42;
  std::lock_guard lock(mu_);
  for (const auto& [name, st] : modules_) m.modules.push_back({name, 1.5, 5 << 20});
  return {proto::topicFor(deviceId_, proto::Channel::kMetrics), common::dumpJson(proto::toJson(m)),
          0, false};
}

std::vector<OutMessage> SimAgent::onMessage(const std::string& topic, std::string_view payload,
                                            const std::string& responseTopic) {
  if (topic == proto::topicFor(deviceId_, proto::Channel::kRpcRequest)) {
    return onRpc(payload, responseTopic);
  }
  if (topic != proto::topicFor(deviceId_, proto::Channel::kDesired)) return {};
  if (payload.empty()) return {};  // retained state cleared (device deleted)
  std::lock_guard lock(mu_);
  ++desiredReceived_;
  common::Result<proto::DesiredState> doc = common::internalError("unset");
  if (verify_) {
    doc = proto::verifyDesired(payload, publicKeyPem_);
  } else {
    auto j = proto::parsePayload(payload);
    doc = j.isOk() ? proto::desiredStateFromJson(*j)
                   : common::Result<proto::DesiredState>(j.status());
  }
  if (!doc.isOk()) {
    std::int64_t version = 0;
    if (auto j = proto::parsePayload(payload); j.isOk() && j->is_object()) {
      version = j->value("version", std::int64_t{0});
    }
    error_ = proto::DesiredError{version,
                                 doc.status().code() == common::StatusCode::kUnauthenticated
                                     ? "SignatureInvalid"
                                     : "Malformed",
                                 doc.status().message()};
    return {reportLocked()};
  }
  if (doc->deviceId != deviceId_) {
    error_ = proto::DesiredError{doc->version, "WrongDevice",
                                 "document for " + doc->deviceId + ", not " + deviceId_};
    return {reportLocked()};
  }
  if (applied_ && doc->version <= applied_->version) {
    if (*doc == *applied_) return {};
    error_ = proto::DesiredError{doc->version, "StaleVersion",
                                 "version " + std::to_string(doc->version) + " is not newer than " +
                                     std::to_string(applied_->version)};
    return {reportLocked()};
  }
  error_.reset();
  std::map<std::string, proto::ModuleStatus> next;
  for (const auto& p : doc->pods) {
    // Init containers completed, sidecars and app containers running.
    auto add = [&](const proto::ContainerSpec& c, proto::ContainerKind kind) {
      proto::ModuleStatus s;
      std::string name = proto::moduleName(p.name, c.name);
      std::string hash = common::tls::sha256Hex(common::dumpJson(proto::toJson(c)));
      auto old = modules_.find(name);
      bool same = old != modules_.end() && old->second.specHash == hash;
      s.name = name;
      s.kind = kind;
      s.deploymentId = p.deploymentId;
      s.specHash = hash;
      s.image = c.image;
      s.imageId = "sha256:" + hash.substr(0, 64);
      s.containerId = same ? old->second.containerId : hash.substr(0, 12);
      s.startedAt = same ? old->second.startedAt : now();
      s.ready = true;
      if (kind == proto::ContainerKind::kInit) {
        s.state = proto::ModuleState::kTerminated;
        s.exitCode = 0;
        s.reason = "Completed";
        s.finishedAt = s.startedAt;
      } else {
        s.state = proto::ModuleState::kRunning;
        s.started = true;
        s.health = proto::Health::kHealthy;
      }
      next[name] = std::move(s);
    };
    for (const auto& c : p.initContainers) {
      add(c, proto::isSidecar(c) ? proto::ContainerKind::kSidecar : proto::ContainerKind::kInit);
    }
    for (const auto& c : p.containers) add(c, proto::ContainerKind::kContainer);
  }
  modules_ = std::move(next);
  applied_ = std::move(*doc);
  return {reportLocked()};
}

OutMessage SimAgent::response(const std::string& topic, const proto::RpcResponse& r) const {
  return {topic, common::dumpJson(proto::toJson(r)), 1, false};
}

std::vector<OutMessage> SimAgent::onRpc(std::string_view payload,
                                        const std::string& responseTopic) {
  auto j = proto::parsePayload(payload);
  if (!j.isOk()) return {};
  auto req = proto::rpcRequestFromJson(*j);
  if (!req.isOk()) return {};
  std::string topic =
      responseTopic.empty() ? proto::rpcResponseTopic(deviceId_, req->id) : responseTopic;
  std::lock_guard lock(mu_);
  auto fail = [&](const common::Status& s) {
    return std::vector<OutMessage>{response(topic, proto::rpcError(req->id, 0, s))};
  };
  proto::RpcResponse ok;
  ok.id = req->id;
  if (req->method == "ping") {
    ok.result = {{"pong", true}, {"at", now()}};
    return {response(topic, ok)};
  }
  if (req->method == "cancel") {
    std::string id = req->params.value("id", "");
    std::vector<OutMessage> out;
    auto f = followers_.find(id);
    if (f != followers_.end()) {
      proto::RpcResponse end;
      end.id = id;
      end.seq = f->second.seq;
      end.final = true;
      out.push_back(response(f->second.topic, end));
      followers_.erase(f);
    }
    out.push_back(response(topic, ok));
    return out;
  }
  std::string module = req->params.value("module", "");
  if (req->method != "logs" && req->method != "restart") {
    return fail(common::invalidArgument("unknown method " + req->method));
  }
  if (!modules_.contains(module)) {
    return fail(common::notFound("module \"" + module + "\" is not running on " + deviceId_));
  }
  if (req->method == "restart") {
    restarts_[module]++;
    return {response(topic, ok), reportLocked()};
  }
  const auto& log = logOf(module);
  std::int64_t since = req->params.value("sinceSeconds", std::int64_t{0});
  std::int64_t tail = req->params.value("tailLines", std::int64_t{0});
  bool timestamps = req->params.value("timestamps", false);
  std::size_t first = 0;
  if (since > 0) {
    std::int64_t cutoff = nowMs() - since * 1000;
    while (first < log.size() && log[first].atMs < cutoff) ++first;
  }
  if (tail > 0 && static_cast<std::size_t>(tail) < log.size() - first) {
    first = log.size() - static_cast<std::size_t>(tail);
  }
  std::string data;
  for (std::size_t i = first; i < log.size(); ++i) data += logText(log[i], timestamps);
  bool follow = req->params.value("follow", false);
  ok.final = !follow;
  ok.result = {{"data", data}};
  if (follow) followers_[req->id] = Follower{topic, module, 1, 0, timestamps};
  return {response(topic, ok)};
}

std::vector<SimAgent::LogLine>& SimAgent::logOf(const std::string& module) {
  auto it = logs_.find(module);
  if (it != logs_.end()) return it->second;
  std::int64_t at = nowMs();
  return logs_[module] = {{at, module + " started\n"}, {at, module + " ready\n"}};
}

std::vector<OutMessage> SimAgent::writeLog(const std::string& module, std::string line) {
  if (line.empty() || line.back() != '\n') line += '\n';
  std::lock_guard lock(mu_);
  auto& log = logOf(module);
  log.push_back({nowMs(), std::move(line)});
  if (log.size() > 10000) log.erase(log.begin(), log.begin() + 1000);
  std::vector<OutMessage> out;
  for (auto& [id, f] : followers_) {
    if (f.module != module) continue;
    proto::RpcResponse r;
    r.id = id;
    r.seq = f.seq++;
    r.final = false;
    r.result = {{"data", logText(log.back(), f.timestamps)}};
    out.push_back(response(f.topic, r));
  }
  return out;
}

void SimAgent::setFollowTicks(bool on) {
  std::lock_guard lock(mu_);
  followTicks_ = on;
}

void SimAgent::setUnhealthy(const std::string& module, bool on) {
  std::lock_guard lock(mu_);
  if (on) {
    unhealthy_.insert(module);
  } else {
    unhealthy_.erase(module);
  }
}

void SimAgent::setRestartCount(const std::string& module, int count) {
  std::lock_guard lock(mu_);
  restarts_[module] = count;
}

std::vector<OutMessage> SimAgent::tick() {
  std::lock_guard lock(mu_);
  std::vector<OutMessage> out;
  if (!followTicks_) return out;
  for (auto& [id, f] : followers_) {
    proto::RpcResponse r;
    r.id = id;
    r.seq = f.seq++;
    r.final = false;
    r.result = {{"data", f.module + " tick " + std::to_string(++f.lines) + "\n"}};
    out.push_back(response(f.topic, r));
  }
  return out;
}

std::int64_t SimAgent::appliedVersion() const {
  std::lock_guard lock(mu_);
  return applied_ ? applied_->version : 0;
}

std::optional<proto::DesiredState> SimAgent::applied() const {
  std::lock_guard lock(mu_);
  return applied_;
}

std::optional<proto::DesiredError> SimAgent::desiredError() const {
  std::lock_guard lock(mu_);
  return error_;
}

std::vector<std::string> SimAgent::moduleNames() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, s] : modules_) out.push_back(name);
  return out;
}

int SimAgent::restarts(const std::string& module) const {
  std::lock_guard lock(mu_);
  auto it = restarts_.find(module);
  return it == restarts_.end() ? 0 : it->second;
}

std::size_t SimAgent::desiredReceived() const {
  std::lock_guard lock(mu_);
  return desiredReceived_;
}

void SimAgent::setFailure(const std::string& module, const std::string& reason) {
  std::lock_guard lock(mu_);
  if (reason.empty()) {
    failures_.erase(module);
  } else {
    failures_[module] = reason;
  }
}

void SimAgent::setLogLines(const std::string& module, std::vector<std::string> lines) {
  std::lock_guard lock(mu_);
  std::int64_t at = nowMs();
  auto& log = logs_[module];
  log.clear();
  for (auto& l : lines) log.push_back({at, std::move(l)});
}

void SimAgent::setVerifySignatures(bool on) {
  std::lock_guard lock(mu_);
  verify_ = on;
}

int SimAgent::followers() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(followers_.size());
}

}  // namespace skiff::test
