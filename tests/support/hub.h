// HubFixture: a real skiff-hub with its real broker, for integration and e2e tests of the hub and
// of the components that talk to it (virtual node / edge provider, agent, dashboard).
//
// create() runs `skiff-hub init` into a temp dir, starts Mosquitto with the generated config
// (TLS, client certificates, CRL, per-device ACL) and skiff-hub on ephemeral 127.0.0.1 ports,
// and waits until the hub answers /healthz and is connected to the broker. Both processes are
// stopped by PID in the destructor (their logs are printed if the test failed).
//
//   auto hub = HubFixture::create().value();
//   auto creds = hub->enrollDevice("pi-01", {{"site", "a"}}).value();   // real enrollment
//   auto dev = SimDevice::start(hub->simDeviceOptions(creds)).value();  // an agent look-alike
//   auto stub = hub->stub();  auto ctx = hub->context();               // gRPC as admin
//
// Not thread-safe; create it on the test's main thread (processes die with that thread).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/status.h"
#include "skiff/v1/hub.grpc.pb.h"
#include "tests/support/process.h"
#include "tests/support/sim_device.h"

namespace skiff::test {

struct HubFixtureOptions {
  std::string hubBinary;                // "" = $SKIFF_HUB_BIN, else the build tree's skiff-hub
  std::string dashboardDir;             // "" = none (the hub answers / with "not installed")
  std::vector<std::string> extraFlags;  // appended to `skiff-hub run`
  std::chrono::milliseconds startTimeout = std::chrono::seconds(60);
};

// What an enrolled device holds (files under <dataDir>/test-devices/).
struct DeviceCredentials {
  std::string deviceId;
  std::string certFile, keyFile, caFile;
  std::string mqttUrl;
  std::string signingPublicKeyPem;
  std::string renewUrl;
};

class HubFixture {
 public:
  static common::Result<std::unique_ptr<HubFixture>> create(HubFixtureOptions opts = {});
  ~HubFixture();
  HubFixture(const HubFixture&) = delete;
  HubFixture& operator=(const HubFixture&) = delete;

  std::string grpcAddress() const;  // 127.0.0.1:<port>
  std::string httpsUrl() const;     // https://127.0.0.1:<port>
  std::string mqttUrl() const;      // mqtts://127.0.0.1:<port>
  std::string caFile() const;       // the hub CA: verifies the hub and the broker
  // Base64 SHA-256 of the hub HTTPS certificate's public key (SubjectPublicKeyInfo): Chromium's
  // --ignore-certificate-errors-spki-list pin, which accepts that key and nothing else.
  common::Result<std::string> httpsKeyPin() const;
  const std::string& adminToken() const { return adminToken_; }
  const std::string& readerToken() const { return readerToken_; }
  const std::string& dataDir() const { return dir_.path(); }
  std::string signingPublicKeyPem() const;
  std::string skiffctlConfig() const;  // <dataDir>/skiffctl.toml (admin)

  // gRPC stub over TLS; context() carries the token ("" = none) and a 30 s deadline.
  std::unique_ptr<v1::Hub::Stub> stub() const;
  std::unique_ptr<grpc::ClientContext> context(const std::string& token) const;
  std::unique_ptr<grpc::ClientContext> context() const { return context(adminToken_); }

  // Real flows through the hub's APIs.
  common::Status createDevice(const std::string& id,
                              const std::map<std::string, std::string>& labels = {});
  common::Result<std::string> createEnrollmentToken(const std::string& id,
                                                    std::int64_t ttlSeconds = 0);
  // Creates a key + CSR and POSTs them with the token to /api/v1/enroll.
  common::Result<DeviceCredentials> enroll(const std::string& id, const std::string& token);
  // createDevice + createEnrollmentToken + enroll.
  common::Result<DeviceCredentials> enrollDevice(
      const std::string& id, const std::map<std::string, std::string>& labels = {});
  // A certificate for `cn` signed by the hub CA behind the hub's back (unknown-device tests).
  common::Result<DeviceCredentials> issueCertificate(const std::string& cn);
  SimDeviceOptions simDeviceOptions(const DeviceCredentials& c) const;

  // Lifecycle. stopHub() sends SIGTERM (clean shutdown); killHub() SIGKILL.
  common::Status startHub();
  void stopHub();
  void killHub();
  common::Status restartHub();
  common::Status startBroker();
  void stopBroker();
  common::Status restartBroker();
  bool hubRunning();
  pid_t hubPid() const;
  pid_t brokerPid() const;
  std::string hubLog() const;
  std::string brokerLog() const;
  // GET <httpsUrl>/metrics.
  common::Result<std::string> metrics() const;
  // Value of one sample line of /metrics ("name{labels}"), 0 if absent.
  double metric(const std::string& sample) const;

 private:
  HubFixture(HubFixtureOptions opts, TempDir dir);
  common::Status waitHubReady();

  HubFixtureOptions opts_;
  TempDir dir_;
  std::string hubBinary_;
  int grpcPort_ = 0;
  int httpPort_ = 0;
  int mqttPort_ = 0;
  std::string adminToken_;
  std::string readerToken_;
  int enrollments_ = 0;
  std::optional<Subprocess> broker_;
  std::optional<Subprocess> hub_;
};

}  // namespace skiff::test
