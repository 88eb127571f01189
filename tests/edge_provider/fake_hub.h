// FakeHub — a TEST DOUBLE of skiff-hub's gRPC API (proto/skiff/v1/hub.proto), in memory, served
// over TLS on 127.0.0.1 with bearer-token auth, for the edge provider's and the virtual node's
// tests. It follows hub.proto's documented semantics so the real hub can replace it:
// - ApplyDeployment validates and normalizes with the hub's own code (hub::validateDeployment)
//   and creates or replaces by id; an identical spec (labels and annotations included) changes
//   nothing, any change increments the generation, as the hub's Fleet does. Credentials are
//   returned without passwords. DeleteDeployment answers NOT_FOUND when absent.
// - Per device, the desired state is the hub's own composition (hub::fleet::composeDesired):
//   the union of the pods of every deployment whose selector matches the device's labels ∪
//   implicit labels, one per pod name by priority, then the newer deployment, then the smaller
//   id. A device's desired version increases only when its pod set really changes.
// - DeploymentStatus: the hub's own rules (hub::fleet::deviceOutcome): targeted, applied,
//   running, failed, offline, and per device the DeviceModules entry the hub would show.
// - Watch*: a snapshot (ADDED per match), SYNCED, then ADDED/MODIFIED/DELETED; objects leaving
//   the selection are DELETED. Streams end with UNAVAILABLE when the server stops.
// - StreamLogs: NOT_FOUND for unknown devices/modules, UNAVAILABLE for offline devices; tail_lines,
//   since_seconds, timestamps, follow.
// Devices are simulated: with auto-report on (the default) a device "applies" its desired state
// and reports every pod running and ready (init containers completed) shortly after it changes,
// like an agent would; behaviours make a container ("<pod>/<container>") crash-loop, fail to
// pull, or exit. The test controls presence, labels,
// facts, logs and explicit reports. State survives restartServer(), as the real hub's store.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/protocol/protocol.h"
#include "common/status.h"
#include "skiff/v1/hub.pb.h"

namespace skiff::test {

struct FakeHubOptions {
  std::string adminToken = "fake-hub-admin-token";
  std::string readerToken = "fake-hub-reader-token";
  int port = 0;  // 0: pick a free loopback port
  // Delay between a desired-state change and the simulated agent's report.
  std::chrono::milliseconds reportDelay{50};
  // How often a crash-looping module restarts.
  std::chrono::milliseconds crashInterval{300};
};

// How a simulated device runs one module.
struct ModuleBehaviour {
  enum class Kind { kRun, kCrashLoop, kPullError, kExit, kNotReady } kind = Kind::kRun;
  int exitCode = 0;  // kExit
};

class FakeHub {
 public:
  static common::Result<std::unique_ptr<FakeHub>> start(FakeHubOptions opts = {});
  ~FakeHub();

  std::string address() const;  // "127.0.0.1:<port>"
  int port() const;
  const std::string& caPem() const;  // the CA that signed the server certificate
  const std::string& adminToken() const;
  const std::string& readerToken() const;

  // Stops serving (open streams end with UNAVAILABLE) / serves again on the same port. State is
  // kept, as the real hub keeps it in its store.
  void stopServer();
  common::Status startServer();
  common::Status restartServer();

  // ---- devices (what enrollment, presence and reports would change) ----
  void addDevice(const std::string& id, const std::map<std::string, std::string>& labels,
                 const common::protocol::DeviceFacts& facts, bool online = true);
  void removeDevice(const std::string& id);
  void setOnline(const std::string& id, bool online);
  void setLabels(const std::string& id, const std::map<std::string, std::string>& labels);
  void setAutoReport(const std::string& id, bool on);
  void setBehaviour(const std::string& id, const std::string& module, ModuleBehaviour b);
  // An explicit report from the device (replaces its reported document).
  void report(const std::string& id, const common::protocol::Reported& r);
  void appendLog(const std::string& id, const std::string& module, const std::string& text);
  void setBrokerConnected(bool connected);

  // ---- introspection ----
  std::optional<::skiff::v1::Deployment> deployment(const std::string& id) const;
  std::vector<::skiff::v1::Deployment> deployments() const;
  std::vector<common::protocol::PodSpec> desiredPods(const std::string& deviceId) const;
  std::int64_t desiredVersion(const std::string& deviceId) const;
  std::optional<common::protocol::Reported> reported(const std::string& deviceId) const;
  int applyCalls() const;
  int deleteCalls() const;

 private:
  struct State;
  class Service;
  FakeHub() = default;
  std::shared_ptr<State> state_;
  std::unique_ptr<Service> service_;
};

// A DeviceFacts value for tests ("arm64", 4 CPUs, 4 GiB).
common::protocol::DeviceFacts testFacts(const std::string& arch = "arm64", int cpus = 4,
                                        std::int64_t memoryBytes = 4LL << 30);

}  // namespace skiff::test
