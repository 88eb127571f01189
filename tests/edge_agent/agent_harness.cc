// Agent test harness (see agent_harness.h).
#include "tests/edge_agent/agent_harness.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <iostream>

#include "common/clock.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/net.h"
#include "tests/support/http.h"

namespace skiff::test {

namespace tls = common::tls;
namespace bus = common::bus;
using common::Json;
using common::urlEncode;

namespace {

Json errorBody(const std::string& code, const std::string& message) {
  return {{"error", {{"code", code}, {"message", message}}}};
}

}  // namespace

// ---- HubDouble ------------------------------------------------------------------------------

HubDouble::HubDouble(MosquittoFixture& broker, HubDoubleOptions opts, TempDir dir)
    : broker_(broker), opts_(opts), dir_(std::move(dir)) {}

HubDouble::~HubDouble() {
  if (bus_) bus_->stop();
  if (http_) http_->stop();
}

Result<std::unique_ptr<HubDouble>> HubDouble::create(MosquittoFixture& broker,
                                                     HubDoubleOptions opts) {
  SKIFF_ASSIGN_OR_RETURN(TempDir dir, TempDir::create("hub-double"));
  std::unique_ptr<HubDouble> hub(new HubDouble(broker, opts, std::move(dir)));
  SKIFF_ASSIGN_OR_RETURN(hub->signingKey_, tls::PrivateKey::generate(tls::KeyType::kEd25519));

  // The HTTPS endpoint's own CA; the served chain includes it so it can be pinned by fingerprint.
  SKIFF_ASSIGN_OR_RETURN(auto ca, tls::CertificateAuthority::create("skiff-hub-double-ca"));
  tls::IssueOptions server;
  server.commonName = "127.0.0.1";
  server.dnsNames = {"localhost"};
  server.ipAddresses = {"127.0.0.1"};
  server.usage = tls::CertUsage::kServer;
  SKIFF_ASSIGN_OR_RETURN(auto leaf, ca.issueNew(server));
  SKIFF_ASSIGN_OR_RETURN(std::string caPem, ca.certificate().toPem());
  SKIFF_ASSIGN_OR_RETURN(std::string leafPem, leaf.cert.toPem());
  SKIFF_ASSIGN_OR_RETURN(std::string keyPem, leaf.key.toPem());
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(hub->caFile(), caPem));
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(hub->dir_.file("server.crt"), leafPem + caPem));
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(hub->dir_.file("server.key"), keyPem, 0600));
  hub->caFingerprint_ = ca.certificate().fingerprintSha256();

  common::http::ServerOptions so;
  so.listen = {"127.0.0.1", 0};
  // Devices renew with the client certificate the broker's CA (our "hub CA") issued.
  so.tls =
      tls::TlsFiles{hub->dir_.file("server.crt"), hub->dir_.file("server.key"), broker.caFile()};
  so.clientAuth = tls::ClientAuth::kOptional;
  so.component = "hub-double";
  HubDouble* self = hub.get();
  SKIFF_ASSIGN_OR_RETURN(
      hub->http_, common::http::Server::start(
                      so, [self](const common::http::Request& r, common::http::ResponseWriter& w) {
                        self->handleHttp(r, w);
                      }));

  SKIFF_ASSIGN_OR_RETURN(auto hubCert, broker.issueClientCert("hub"));
  bus::BusOptions bo;
  bo.url = broker.url();
  bo.clientId = "hub-double";
  bo.tls = tls::TlsFiles{hubCert.certFile, hubCert.keyFile, hubCert.caFile};
  bo.cleanStart = true;
  bo.minReconnectDelay = std::chrono::milliseconds(100);
  bo.maxReconnectDelay = std::chrono::milliseconds(1000);
  SKIFF_ASSIGN_OR_RETURN(hub->bus_, bus::makePahoBus(bo));
  hub->bus_->setHandlers([self](const bus::Message& m) { self->onMessage(m); },
                         [](bool, const std::string&) {});
  for (auto ch :
       {protocol::Channel::kReported, protocol::Channel::kPresence, protocol::Channel::kMetrics}) {
    SKIFF_RETURN_IF_ERROR(hub->bus_->subscribe(protocol::allDevicesFilter(ch), 1));
  }
  SKIFF_RETURN_IF_ERROR(hub->bus_->subscribe(protocol::allRpcResponsesFilter(), 1));
  hub->bus_->start();
  SKIFF_RETURN_IF_ERROR(hub->bus_->waitConnected(std::chrono::seconds(20)));
  return hub;
}

std::string HubDouble::url() const { return "https://127.0.0.1:" + std::to_string(http_->port()); }

std::string HubDouble::addToken(const std::string& deviceId) {
  std::lock_guard lock(mu_);
  std::string token = "tok-" + deviceId + "-" + std::to_string(tokens_.size());
  tokens_[token] = deviceId;
  return token;
}

int HubDouble::enrollments() const {
  std::lock_guard lock(mu_);
  return enrollments_;
}

int HubDouble::renewals() const {
  std::lock_guard lock(mu_);
  return renewals_;
}

void HubDouble::setCertValidity(std::chrono::seconds v) {
  std::lock_guard lock(mu_);
  opts_.certValidity = v;
}

void HubDouble::handleHttp(const common::http::Request& req, common::http::ResponseWriter& w) {
  auto reply = [&w](int status, const Json& body) {
    w.send(status, "application/json", common::dumpJson(body));
  };
  bool enroll = req.path == "/api/v1/enroll";
  bool renew = req.path == "/api/v1/renew";
  if (req.method != "POST" || (!enroll && !renew)) {
    reply(404, errorBody("NotFound", "no route " + req.method + " " + req.path));
    return;
  }
  auto body = common::parseJson(req.body);
  if (!body.isOk() || !body->is_object() || !body->contains("csr") || !(*body)["csr"].is_string()) {
    reply(400, errorBody("InvalidArgument", "body: expected {\"csr\": ...}"));
    return;
  }
  std::string deviceId;
  std::chrono::seconds validity;
  {
    std::lock_guard lock(mu_);
    validity = opts_.certValidity;
    if (enroll) {
      if (!body->contains("token") || !(*body)["token"].is_string()) {
        reply(401, errorBody("Unauthenticated", "token: required"));
        return;
      }
      std::string token = (*body)["token"];
      auto it = tokens_.find(token);
      if (it == tokens_.end()) {
        reply(401, errorBody("Unauthenticated", "unknown enrollment token"));
        return;
      }
      if (usedTokens_[token]) {
        reply(401, errorBody("Unauthenticated", "enrollment token already used"));
        return;
      }
      deviceId = it->second;
    } else {
      if (!req.clientCommonName) {
        reply(401, errorBody("Unauthenticated", "renewal needs the device's client certificate"));
        return;
      }
      deviceId = *req.clientCommonName;
    }
  }
  auto csr = tls::CertificateRequest::fromPem((*body)["csr"].get<std::string>());
  if (!csr.isOk() || !csr->verify().isOk()) {
    reply(400, errorBody("InvalidArgument", "csr: not a valid, self-signed CSR"));
    return;
  }
  auto cert = broker_.signClientCsr((*body)["csr"].get<std::string>(), deviceId, validity);
  auto caPem = common::readFile(broker_.caFile());
  auto pub = signingKey_.publicKeyPem();
  if (!cert.isOk() || !caPem.isOk() || !pub.isOk()) {
    reply(500, errorBody("Internal", "issuing failed"));
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (enroll) {
      usedTokens_[(*body)["token"].get<std::string>()] = true;
      ++enrollments_;
    } else {
      ++renewals_;
    }
  }
  reply(200, Json{{"deviceId", deviceId},
                  {"certificate", *cert},
                  {"caCertificate", *caPem},
                  {"mqttUrl", broker_.url()},
                  {"hubSigningPublicKey", *pub},
                  {"renewUrl", url() + "/api/v1/renew"}});
}

std::string HubDouble::sign(const protocol::DesiredState& d) const {
  auto s = protocol::signDesired(d, signingKey_);
  EXPECT_TRUE(s.isOk()) << s.status();
  return s.isOk() ? *s : std::string();
}

Status HubDouble::publishRaw(const std::string& deviceId, const std::string& payload) {
  bus::Message m;
  m.topic = protocol::topicFor(deviceId, protocol::Channel::kDesired);
  m.payload = payload;
  m.qos = 1;
  m.retained = true;
  SKIFF_RETURN_IF_ERROR(bus_->waitConnected(std::chrono::seconds(30)));
  return bus::publishAndWait(*bus_, m, std::chrono::seconds(10));
}

Status HubDouble::publishDesired(const protocol::DesiredState& d) {
  return publishRaw(d.deviceId, sign(d));
}

void HubDouble::onMessage(const bus::Message& m) {
  auto topic = protocol::parseDeviceTopic(m.topic);
  if (!topic) return;
  auto payload = protocol::parsePayload(m.payload);
  std::lock_guard lock(mu_);
  if (!payload.isOk()) {
    badPayloads_.push_back(m.topic + ": " + payload.status().toString());
    return;
  }
  if (topic->rest == "reported") {
    auto r = protocol::reportedFromJson(*payload);
    if (r.isOk()) {
      reported_[topic->deviceId].push_back(*r);
    } else {
      badPayloads_.push_back(m.topic + ": " + r.status().toString());
      ADD_FAILURE() << "agent published an invalid report: " << r.status();
    }
  } else if (topic->rest == "presence") {
    auto p = protocol::presenceFromJson(*payload);
    if (p.isOk()) presence_[topic->deviceId].push_back(*p);
  } else if (topic->rest == "metrics") {
    auto mt = protocol::metricsFromJson(*payload);
    if (mt.isOk()) {
      metrics_[topic->deviceId].push_back(*mt);
    } else {
      ADD_FAILURE() << "agent published invalid metrics: " << mt.status();
    }
  } else if (topic->rest.starts_with("rpc/response/")) {
    auto r = protocol::rpcResponseFromJson(*payload);
    if (r.isOk()) {
      if (m.correlationData != r->id) {
        ADD_FAILURE() << "rpc response without the request's correlation data: "
                      << m.correlationData;
      }
      rpc_[r->id].push_back(*r);
    } else {
      ADD_FAILURE() << "agent published an invalid rpc response: " << r.status();
    }
  }
  cv_.notify_all();
}

Result<protocol::Reported> HubDouble::waitReported(
    const std::string& deviceId, const std::function<bool(const protocol::Reported&)>& pred,
    std::chrono::milliseconds timeout, std::string_view what) {
  std::unique_lock lock(mu_);
  std::size_t checked = 0;
  std::optional<protocol::Reported> found;
  cv_.wait_for(lock, timeout, [&] {
    auto& v = reported_[deviceId];
    // The latest report first (it may already satisfy pred), then every new one.
    if (checked == 0 && !v.empty() && pred(v.back())) {
      found = v.back();
      return true;
    }
    for (; checked < v.size(); ++checked) {
      if (pred(v[checked])) {
        found = v[checked];
        checked = v.size();
        return true;
      }
    }
    return false;
  });
  if (found) return *found;
  std::string last = reported_[deviceId].empty()
                         ? "none"
                         : common::dumpJson(protocol::toJson(reported_[deviceId].back()));
  return common::deadlineExceeded("no " + std::string(what) + " from " + deviceId + " within " +
                                  std::to_string(timeout.count()) + " ms; last report: " + last);
}

std::optional<protocol::Reported> HubDouble::latestReported(const std::string& deviceId) {
  std::lock_guard lock(mu_);
  auto& v = reported_[deviceId];
  if (v.empty()) return std::nullopt;
  return v.back();
}

std::vector<protocol::Reported> HubDouble::reportedHistory(const std::string& deviceId) {
  std::lock_guard lock(mu_);
  return reported_[deviceId];
}

Result<protocol::Presence> HubDouble::waitPresence(const std::string& deviceId, bool online,
                                                   std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  bool ok = cv_.wait_for(lock, timeout, [&] {
    auto& v = presence_[deviceId];
    return !v.empty() && v.back().online == online;
  });
  if (!ok) {
    return common::deadlineExceeded("presence of " + deviceId + " did not become " +
                                    (online ? "online" : "offline"));
  }
  return presence_[deviceId].back();
}

Result<protocol::Metrics> HubDouble::waitMetrics(
    const std::string& deviceId, const std::function<bool(const protocol::Metrics&)>& pred,
    std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  std::optional<protocol::Metrics> found;
  cv_.wait_for(lock, timeout, [&] {
    for (const auto& m : metrics_[deviceId]) {
      if (pred(m)) {
        found = m;
        return true;
      }
    }
    return false;
  });
  if (found) return *found;
  return common::deadlineExceeded("no matching metrics from " + deviceId);
}

Status HubDouble::sendRpc(const std::string& deviceId, const protocol::RpcRequest& req) {
  bus::Message m;
  m.topic = protocol::topicFor(deviceId, protocol::Channel::kRpcRequest);
  m.payload = common::dumpJson(protocol::toJson(req));
  m.qos = 1;
  m.responseTopic = protocol::rpcResponseTopic(deviceId, req.id);
  m.correlationData = req.id;
  return bus::publishAndWait(*bus_, m, std::chrono::seconds(10));
}

Result<std::vector<protocol::RpcResponse>> HubDouble::rpc(
    const std::string& deviceId, const protocol::RpcRequest& req, std::chrono::milliseconds timeout,
    const std::function<void()>& whileWaiting) {
  SKIFF_RETURN_IF_ERROR(sendRpc(deviceId, req));
  if (whileWaiting) whileWaiting();
  std::unique_lock lock(mu_);
  bool done = cv_.wait_for(lock, timeout, [&] {
    auto& v = rpc_[req.id];
    return !v.empty() && v.back().final;
  });
  if (!done) {
    return common::deadlineExceeded("rpc " + req.method + " " + req.id + ": no final response (" +
                                    std::to_string(rpc_[req.id].size()) + " messages)");
  }
  return rpc_[req.id];
}

std::vector<protocol::RpcResponse> HubDouble::rpcResponses(const std::string& id) {
  std::lock_guard lock(mu_);
  return rpc_[id];
}

// ---- AgentProcess ---------------------------------------------------------------------------

std::string AgentProcess::hostBinary() { return SKIFF_AGENT_BIN; }

std::string AgentProcess::pauseBinary() {
  return std::filesystem::path(SKIFF_AGENT_BIN).parent_path().string() + "/skiff-pause";
}

std::string AgentProcess::arm64Binary() {
  std::string p = SKIFF_AGENT_ARM64_BIN;
  return common::readFile(p).isOk() ? p : std::string();
}

AgentProcess::AgentProcess(std::string stateDir, std::string engineSocket, std::string logDir,
                           AgentRunOptions opts)
    : stateDir_(std::move(stateDir)),
      engineSocket_(std::move(engineSocket)),
      logDir_(std::move(logDir)),
      opts_(std::move(opts)) {}

AgentProcess::~AgentProcess() {
  if (::testing::Test::HasFailure()) {
    std::cerr << "[skiff-test] agent log tail:\n"
              << fileTail(logDir_ + "/agent-" + std::to_string(starts_) + ".log", 12000) << "\n";
  }
  if (proc_) proc_->stop(std::chrono::seconds(20));
}

std::vector<std::string> AgentProcess::command() const {
  if (opts_.arm64) return {"qemu-aarch64-static", arm64Binary()};
  return {hostBinary()};
}

Result<CommandResult> AgentProcess::enroll(const std::vector<std::string>& args) {
  std::vector<std::string> argv = command();
  argv.insert(argv.end(), {"enroll", "--state-dir", stateDir_});
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, {}, std::chrono::seconds(120));
}

Status AgentProcess::start() {
  if (proc_ && proc_->isRunning()) return common::alreadyExists("agent already running");
  proc_.reset();
  SubprocessOptions so;
  so.argv = command();
  so.argv.insert(so.argv.end(), {"run", "--state-dir", stateDir_, "--engine", engineSocket_});
  if (opts_.testIntervals) {
    so.argv.insert(so.argv.end(), {"--log-level", "debug", "--sync-interval", "500ms",
                                   "--heartbeat-interval", "3s", "--metrics-interval", "2s"});
  }
  so.argv.insert(so.argv.end(), opts_.extraArgs.begin(), opts_.extraArgs.end());
  so.logFile = logDir_ + "/agent-" + std::to_string(++starts_) + ".log";
  SKIFF_ASSIGN_OR_RETURN(Subprocess p, Subprocess::start(std::move(so)));
  proc_.emplace(std::move(p));
  return Status::ok();
}

int AgentProcess::stop(std::chrono::milliseconds grace) {
  if (!proc_) return -1;
  int rc = proc_->stop(grace);
  proc_.reset();
  return rc;
}

Status AgentProcess::kill9() {
  if (!proc_) return common::notFound("agent not running");
  SKIFF_RETURN_IF_ERROR(proc_->signal(SIGKILL));
  proc_->stop(std::chrono::seconds(5));
  proc_.reset();
  return Status::ok();
}

bool AgentProcess::running() { return proc_ && proc_->isRunning(); }

std::string AgentProcess::log() const {
  return common::readFile(logDir_ + "/agent-" + std::to_string(starts_) + ".log").valueOr("");
}

// ---- Peers and helpers ----------------------------------------------------------------------

Result<AgentPeers> AgentPeers::create(HubDoubleOptions hubOpts) {
  AgentPeers p;
  MosquittoOptions mo;
  mo.tls = true;
  SKIFF_ASSIGN_OR_RETURN(p.broker, MosquittoFixture::create(mo));
  SKIFF_ASSIGN_OR_RETURN(p.registry, RegistryFixture::create());
  PodmanOptions po;
  po.insecureRegistries = {p.registry->hostPort()};
  SKIFF_ASSIGN_OR_RETURN(p.podman, PodmanFixture::create(po));
  SKIFF_ASSIGN_OR_RETURN(p.hub, HubDouble::create(*p.broker, hubOpts));
  return p;
}

protocol::ContainerSpec busyboxContainer(const RegistryFixture& registry, const std::string& name,
                                         const std::vector<std::string>& shellScript) {
  protocol::ContainerSpec c;
  c.name = name;
  c.image = registry.imageRef("latest");
  c.command = {"sh", "-c"};
  c.args = shellScript;
  return c;
}

protocol::PodSpec busyboxModule(const RegistryFixture& registry, const std::string& module,
                                const std::vector<std::string>& shellScript) {
  auto slash = module.find('/');
  protocol::PodSpec p;
  p.name = module.substr(0, slash);
  p.deploymentId = "dep-" + p.name;
  p.terminationGracePeriodSeconds = 2;
  p.containers = {busyboxContainer(
      registry, slash == std::string::npos ? "main" : module.substr(slash + 1), shellScript)};
  return p;
}

protocol::DesiredState desiredDoc(const std::string& deviceId, std::int64_t version,
                                  std::vector<protocol::PodSpec> pods) {
  protocol::DesiredState d;
  d.deviceId = deviceId;
  d.version = version;
  d.issuedAt = common::formatRfc3339(std::chrono::system_clock::now());
  std::sort(pods.begin(), pods.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  d.pods = std::move(pods);
  return d;
}

const protocol::ModuleStatus* moduleIn(const protocol::Reported& r, const std::string& module) {
  for (const auto& m : r.modules) {
    if (m.name == module) return &m;
  }
  return nullptr;
}

const protocol::PodStatus* podIn(const protocol::Reported& r, const std::string& pod) {
  for (const auto& p : r.pods) {
    if (p.name == pod) return &p;
  }
  return nullptr;
}

Status enrollDevice(AgentProcess& agent, HubDouble& hub, const std::string& deviceId) {
  std::string token = hub.addToken(deviceId);
  SKIFF_ASSIGN_OR_RETURN(CommandResult r, agent.enroll({"--hub", hub.url(), "--token", token,
                                                        "--ca-file", hub.caFile()}));
  if (r.exitCode != 0) {
    return common::internalError("enroll exited with " + std::to_string(r.exitCode) + ": " +
                                 r.output);
  }
  return Status::ok();
}

Result<std::string> containerState(PodmanFixture& podman, const std::string& id) {
  SKIFF_ASSIGN_OR_RETURN(
      auto r, httpGet("http://d/v1.40/containers/" + id + "/json", {}, podman.socketPath()));
  if (r.status == 404) return common::notFound("container " + id + " does not exist");
  auto j = common::parseJson(r.body);
  if (!j.isOk()) return j.status();
  return (*j)["State"]["Status"].get<std::string>();
}

Result<std::vector<std::string>> containersWithLabel(PodmanFixture& podman, const std::string& key,
                                                     const std::string& value) {
  std::string filter =
      urlEncode(common::dumpJson(Json{{"label", Json::array({key + "=" + value})}}));
  SKIFF_ASSIGN_OR_RETURN(auto r,
                         httpGet("http://d/v1.40/containers/json?all=true&filters=" + filter, {},
                                 podman.socketPath()));
  auto j = common::parseJson(r.body);
  if (!j.isOk() || !j->is_array()) return common::internalError("bad list reply: " + r.body);
  std::vector<std::string> ids;
  for (const auto& c : *j) ids.push_back(c["Id"].get<std::string>());
  return ids;
}

}  // namespace skiff::test
