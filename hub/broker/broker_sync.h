// BrokerSync: makes the broker refuse deleted devices (docs/hub.md "Revocation").
//
// Mosquitto 2.0 re-reads its `crlfile` and `acl_file` on SIGHUP (measured with Debian's 2.0.11:
// new TLS handshakes with a revoked certificate fail at once, live connections are not
// re-checked). So on every change of the revoked set BrokerSync
//  1. writes a CRL (hub CA) of every revoked, unexpired device certificate, plus a fresh
//     short-lived "probe" certificate revoked in the same list;
//  2. writes the ACL with `user <id> / topic deny #` for deleted device ids, which also stops
//     message delivery on connections opened before the deletion;
//  3. makes the broker reload (SIGHUP to --broker-pid-file, or --broker-reload-command);
//  4. confirms the reload by connecting with the probe certificate until the broker refuses it
//     (so "revoked" means "the broker refuses it", not "a file was written");
//  5. takes over each deleted device's MQTT session (client id = device id, clean start), which
//     disconnects an agent still connected with the old certificate.
// Writes are atomic (temp + rename); CRL thisUpdate strictly increases.
//
// Threading: one worker thread; trigger() is thread-safe and coalesces.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/net.h"
#include "common/status.h"
#include "common/tls.h"
#include "hub/fleet/fleet.h"

namespace prometheus {
class Registry;
}

namespace skiff::hub::broker {

struct BrokerSyncOptions {
  std::string crlFile;
  std::string aclFile;
  std::string pidFile;        // broker pid for SIGHUP ("" = none)
  std::string reloadCommand;  // run with /bin/sh -c ("" = none)
  const common::tls::CertificateAuthority* ca = nullptr;
  std::string probeDir;          // probe certificate files go here
  std::string mqttUrl;           // mqtts://host:port: probe and session takeover target
  common::tls::TlsFiles hubTls;  // the hub's MQTT client certificate (takeover)
  std::chrono::milliseconds confirmTimeout{15000};
  std::shared_ptr<prometheus::Registry> metrics;
};

class BrokerSync {
 public:
  using SnapshotFn = std::function<fleet::RevocationSnapshot()>;
  BrokerSync(BrokerSyncOptions opts, SnapshotFn snapshot);
  ~BrokerSync();

  // Startup: writes the files and reloads the broker only if they lack a revocation or a
  // denial. Blocking; errors are logged and returned but the hub keeps running.
  common::Status initialSync();
  void start();
  // A revocation or denial changed: sync soon (coalesced).
  void trigger();
  void stop();
  // Blocks until every trigger so far has been processed (tests).
  bool waitSynced(std::chrono::milliseconds timeout);
  // How the broker is told to reload, for logs ("" = not configured).
  std::string reloadMechanism() const;

 private:
  struct Metrics;
  common::Status sync(bool onlyIfNeeded);
  common::Status reloadBroker();
  void confirmRefusal(const common::tls::TlsFiles& probe, const std::string& serial);
  void kickSessions(const std::set<std::string>& denied);
  void loop();

  BrokerSyncOptions opts_;
  SnapshotFn snapshot_;
  std::unique_ptr<Metrics> metrics_;
  std::optional<common::HostPort> broker_;
  struct Probe {
    std::string serial;
    std::chrono::system_clock::time_point issuedAt;
    std::chrono::system_clock::time_point notAfter;
  };
  std::vector<Probe> probes_;  // worker thread only
  std::set<std::string> kicked_;
  std::chrono::system_clock::time_point lastIssued_{};

  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t requested_ = 0;
  std::uint64_t done_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace skiff::hub::broker
