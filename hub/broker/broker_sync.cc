// CRL + ACL regeneration, broker reload, confirmation probe and session takeover.
#include "hub/broker/broker_sync.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/bus/message_bus.h"
#include "common/fs.h"
#include "common/log.h"
#include "hub/broker/crl.h"
#include "hub/broker/mosquitto_config.h"
#include "hub/broker/tls_probe.h"

extern char** environ;

namespace skiff::hub::broker {

using common::Result;
using common::Status;
using SysClock = std::chrono::system_clock;

struct BrokerSync::Metrics {
  prometheus::Family<prometheus::Counter>* reloads = nullptr;
  prometheus::Family<prometheus::Counter>* confirmations = nullptr;
  prometheus::Counter* kicks = nullptr;
  prometheus::Gauge* revoked = nullptr;
  void reload(const char* result) {
    if (reloads) reloads->Add({{"result", result}}).Increment();
  }
  void confirm(const char* result) {
    if (confirmations) confirmations->Add({{"result", result}}).Increment();
  }
};

namespace {

std::optional<common::HostPort> mqttsHostPort(const std::string& url) {
  if (!url.starts_with("mqtts://")) return std::nullopt;
  auto hp = common::parseHostPort(url.substr(8));
  if (!hp.isOk()) return std::nullopt;
  return *hp;
}

Status runCommand(const std::string& cmd) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, "/bin/sh", nullptr, &attr, const_cast<char* const*>(argv), environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return common::unavailable(std::string("starting /bin/sh: ") + std::strerror(rc));
  int status = 0;
  for (int i = 0; i < 300; ++i) {  // 30 s
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::ok();
      return common::unavailable("broker reload command \"" + cmd + "\" failed (status " +
                                 std::to_string(status) + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return common::deadlineExceeded("broker reload command \"" + cmd + "\" took longer than 30 s");
}

}  // namespace

BrokerSync::BrokerSync(BrokerSyncOptions opts, SnapshotFn snapshot)
    : opts_(std::move(opts)), snapshot_(std::move(snapshot)), metrics_(new Metrics) {
  broker_ = mqttsHostPort(opts_.mqttUrl);
  if (opts_.metrics) {
    metrics_->reloads = &prometheus::BuildCounter()
                             .Name("skiff_hub_broker_reloads_total")
                             .Help("Broker reloads after a revocation, by result")
                             .Register(*opts_.metrics);
    metrics_->confirmations =
        &prometheus::BuildCounter()
             .Name("skiff_hub_revocation_checks_total")
             .Help(
                 "Probe connections after a reload: refused (the revocation is in force), "
                 "timeout (the broker still accepts revoked certificates), skipped")
             .Register(*opts_.metrics);
    metrics_->kicks = &prometheus::BuildCounter()
                           .Name("skiff_hub_session_takeovers_total")
                           .Help("MQTT sessions of deleted devices taken over to disconnect them")
                           .Register(*opts_.metrics)
                           .Add({});
    metrics_->revoked = &prometheus::BuildGauge()
                             .Name("skiff_hub_revoked_certificates")
                             .Help("Unexpired device certificates in the broker's CRL")
                             .Register(*opts_.metrics)
                             .Add({});
  }
}

BrokerSync::~BrokerSync() { stop(); }

std::string BrokerSync::reloadMechanism() const {
  if (!opts_.pidFile.empty()) return "SIGHUP to the pid in " + opts_.pidFile;
  if (!opts_.reloadCommand.empty()) return "command: " + opts_.reloadCommand;
  return "";
}

Status BrokerSync::initialSync() {
  Status s = sync(true);
  if (!s.isOk()) common::log::warn("broker revocation sync failed", {{"error", s.toString()}});
  // Devices deleted before this start are denied by the ACL; their sessions were taken over
  // when they were deleted, so only later deletions are kicked.
  kicked_ = snapshot_().deniedDevices;
  return s;
}

void BrokerSync::start() {
  std::lock_guard lock(mu_);
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
}

void BrokerSync::trigger() {
  std::lock_guard lock(mu_);
  ++requested_;
  cv_.notify_all();
}

void BrokerSync::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool BrokerSync::waitSynced(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  std::uint64_t target = requested_;
  return cv_.wait_for(lock, timeout, [&] { return done_ >= target || stopping_; });
}

void BrokerSync::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait(lock, [this] { return stopping_ || requested_ > done_; });
    if (stopping_) break;
    std::uint64_t upTo = requested_;
    lock.unlock();
    Status s = sync(false);
    if (!s.isOk()) common::log::error("broker revocation sync failed", {{"error", s.toString()}});
    kickSessions(snapshot_().deniedDevices);
    lock.lock();
    done_ = upTo;
    cv_.notify_all();
  }
}

Status BrokerSync::reloadBroker() {
  if (!opts_.pidFile.empty()) {
    auto text = common::readFile(opts_.pidFile);
    if (!text.isOk()) return text.status().withContext("broker pid file");
    long pid = std::strtol(text->c_str(), nullptr, 10);
    if (pid <= 1) return common::invalidArgument("broker pid file " + opts_.pidFile + ": no pid");
    if (::kill(static_cast<pid_t>(pid), SIGHUP) != 0) {
      return common::unavailable("SIGHUP to broker pid " + std::to_string(pid) + ": " +
                                 std::strerror(errno));
    }
    return Status::ok();
  }
  if (!opts_.reloadCommand.empty()) return runCommand(opts_.reloadCommand);
  return common::unavailable("no way to reload the broker configured");
}

Status BrokerSync::sync(bool onlyIfNeeded) {
  if (opts_.ca == nullptr) return common::invalidArgument("broker sync: no CA");
  fleet::RevocationSnapshot snap = snapshot_();
  auto now = SysClock::now();
  std::set<std::string> wanted;
  for (const auto& r : snap.revoked) wanted.insert(r.serial);
  std::string acl = aclFile(snap.deniedDevices);
  if (metrics_->revoked) metrics_->revoked->Set(static_cast<double>(wanted.size()));

  std::optional<CrlInfo> existing;
  if (auto pem = common::readFile(opts_.crlFile); pem.isOk()) {
    if (auto info = readCrl(*pem); info.isOk()) existing = std::move(*info);
  }
  if (onlyIfNeeded && existing) {
    bool covered = std::includes(existing->serials.begin(), existing->serials.end(), wanted.begin(),
                                 wanted.end());
    auto currentAcl = common::readFile(opts_.aclFile);
    if (covered && currentAcl.isOk() && *currentAcl == acl) return Status::ok();
  }

  bool canReload = !reloadMechanism().empty();
  bool canProbe = canReload && broker_.has_value();
  // Strictly increasing thisUpdate: OpenSSL keeps every CRL it ever loaded for an issuer and
  // prefers the newest, so two lists issued within one second could hide a revocation.
  auto floor = std::max(lastIssued_, existing ? existing->thisUpdate : SysClock::time_point{});
  auto issuedAt = std::chrono::time_point_cast<std::chrono::seconds>(now);
  if (issuedAt <= floor) {
    auto wait = floor + std::chrono::seconds(1) - now;
    std::this_thread::sleep_for(wait);
    issuedAt = std::chrono::time_point_cast<std::chrono::seconds>(floor + std::chrono::seconds(1));
  }
  probes_.erase(std::remove_if(probes_.begin(), probes_.end(),
                               [&](const Probe& p) { return p.notAfter < now; }),
                probes_.end());
  common::tls::TlsFiles probeFiles;
  std::string probeSerial;
  if (canProbe) {
    common::tls::IssueOptions io;
    io.commonName = "skiff-revocation-probe";
    io.usage = common::tls::CertUsage::kClient;
    io.validity = std::chrono::minutes(10);
    auto kc = opts_.ca->issueNew(io);
    if (kc.isOk()) {
      probeFiles = {opts_.probeDir + "/revocation-probe.pem",
                    opts_.probeDir + "/revocation-probe.key", opts_.hubTls.caFile};
      auto certPem = kc->cert.toPem();
      auto keyPem = kc->key.toPem();
      if (certPem.isOk() && keyPem.isOk() &&
          common::writeFileAtomic(probeFiles.certFile, *certPem, 0644).isOk() &&
          common::writeFileAtomic(probeFiles.keyFile, *keyPem, 0600).isOk()) {
        probeSerial = kc->cert.serialHex();
        probes_.push_back({probeSerial, now, kc->cert.notAfter()});
      }
    }
  }
  std::vector<CrlEntry> entries;
  for (const auto& r : snap.revoked) {
    entries.push_back({r.serial, SysClock::time_point(std::chrono::milliseconds(r.revokedAtMs))});
  }
  for (const auto& p : probes_) entries.push_back({p.serial, p.issuedAt});
  SKIFF_ASSIGN_OR_RETURN(std::string crl, buildCrl(*opts_.ca, entries, issuedAt));
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(opts_.crlFile, crl, 0644));
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(opts_.aclFile, acl, 0644));
  lastIssued_ = issuedAt;
  if (!canReload) {
    metrics_->reload("unconfigured");
    common::log::warn(
        "revocation written but the broker was not told to reload: pass --broker-pid-file or "
        "--broker-reload-command (or reload Mosquitto yourself)",
        {{"crl", opts_.crlFile}, {"acl", opts_.aclFile}});
    return Status::ok();
  }
  Status reloaded = reloadBroker();
  if (!reloaded.isOk()) {
    metrics_->reload("failed");
    return reloaded.withContext("reloading the broker");
  }
  metrics_->reload("ok");
  common::log::info("broker reloaded with the revocation list",
                    {{"revoked", static_cast<std::int64_t>(wanted.size())},
                     {"denied", static_cast<std::int64_t>(snap.deniedDevices.size())},
                     {"via", reloadMechanism()}});
  if (!probeSerial.empty()) {
    confirmRefusal(probeFiles, probeSerial);
  } else {
    metrics_->confirm("skipped");
  }
  return Status::ok();
}

void BrokerSync::confirmRefusal(const common::tls::TlsFiles& probe, const std::string& serial) {
  auto deadline = std::chrono::steady_clock::now() + opts_.confirmTimeout;
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = probeMqttTls(*broker_, probe, "skiff-probe-" + serial.substr(0, 12),
                          std::chrono::seconds(3));
    if (r.isOk() && *r == ProbeOutcome::kRefused) {
      metrics_->confirm("refused");
      common::log::debug("broker refuses revoked certificates", {{"probe", serial}});
      return;
    }
    last = r.isOk() ? "accepted" : r.status().toString();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  metrics_->confirm("timeout");
  common::log::error(
      "the broker still accepts a revoked certificate after reloading: check that its listener "
      "has `crlfile` set to the hub's CRL and `require_certificate true`",
      {{"crl", opts_.crlFile}, {"last", last}});
}

void BrokerSync::kickSessions(const std::set<std::string>& denied) {
  for (auto it = kicked_.begin(); it != kicked_.end();) {
    it = denied.contains(*it) ? std::next(it) : kicked_.erase(it);
  }
  if (!broker_ || opts_.hubTls.certFile.empty()) return;
  for (const auto& id : denied) {
    if (kicked_.contains(id)) continue;
    kicked_.insert(id);
    common::bus::BusOptions o;
    o.url = opts_.mqttUrl;
    o.clientId = id;
    o.tls = opts_.hubTls;
    o.cleanStart = true;
    o.sessionExpiry = std::chrono::seconds(0);
    o.connectTimeout = std::chrono::seconds(5);
    auto bus = common::bus::makePahoBus(o);
    if (!bus.isOk()) continue;
    (*bus)->start();
    Status s = (*bus)->waitConnected(std::chrono::seconds(8));
    (*bus)->stop();
    if (s.isOk()) {
      if (metrics_->kicks) metrics_->kicks->Increment();
      common::log::info("took over the MQTT session of a deleted device", {{"device", id}});
    } else {
      common::log::warn("could not take over a deleted device's session",
                        {{"device", id}, {"error", s.toString()}});
    }
  }
}

}  // namespace skiff::hub::broker
