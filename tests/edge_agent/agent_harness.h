// Test harness for skiff-agent against real peers:
//   HubDouble    — what the hub does for one device, following docs/hub-api.md and
//                  docs/protocol.md: an HTTPS enrollment/renewal endpoint (common/http server with
//                  its own server CA; device certificates are signed by the Mosquitto fixture's CA,
//                  as the hub CA signs them in production), the Ed25519 signing key, and an MQTT
//                  client as user "hub" (TLS, the broker's ACL) that publishes signed desired
//                  documents and collects reported/presence/metrics/RPC responses.
//   AgentProcess — the real skiff-agent binary (or the arm64 one under qemu-aarch64-static) as a
//                  child process: enroll, run, SIGTERM, kill -9.
//   AgentPeers   — Mosquitto (TLS + ACL), docker-registry with busybox, Podman's Docker API.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/bus/message_bus.h"
#include "common/http/server.h"
#include "common/protocol/protocol.h"
#include "common/tls.h"
#include "tests/support/mosquitto.h"
#include "tests/support/podman.h"
#include "tests/support/process.h"
#include "tests/support/registry.h"

namespace skiff::test {

namespace protocol = common::protocol;

struct HubDoubleOptions {
  std::chrono::seconds certValidity{24 * 3600};
};

class HubDouble {
 public:
  static Result<std::unique_ptr<HubDouble>> create(MosquittoFixture& broker,
                                                   HubDoubleOptions opts = {});
  ~HubDouble();

  // ---- Enrollment endpoint ----
  std::string url() const;  // https://127.0.0.1:<port>
  std::string caFile() const { return dir_.file("hub-ca.crt"); }
  std::string caFingerprint() const { return caFingerprint_; }
  // A one-time token that enrolls deviceId.
  std::string addToken(const std::string& deviceId);
  int enrollments() const;
  int renewals() const;
  void setCertValidity(std::chrono::seconds v);

  // ---- Desired state ----
  const common::tls::PrivateKey& signingKey() const { return signingKey_; }
  // Signed wire document.
  std::string sign(const protocol::DesiredState& d) const;
  // Publishes a signed document (retained, QoS 1) and waits for the broker's acknowledgement.
  Status publishDesired(const protocol::DesiredState& d);
  Status publishRaw(const std::string& deviceId, const std::string& payload);

  // ---- Observations ----
  // Waits for a reported document satisfying pred (checks the latest one first).
  Result<protocol::Reported> waitReported(
      const std::string& deviceId, const std::function<bool(const protocol::Reported&)>& pred,
      std::chrono::milliseconds timeout, std::string_view what = "report");
  std::optional<protocol::Reported> latestReported(const std::string& deviceId);
  std::vector<protocol::Reported> reportedHistory(const std::string& deviceId);
  Result<protocol::Presence> waitPresence(const std::string& deviceId, bool online,
                                          std::chrono::milliseconds timeout);
  Result<protocol::Metrics> waitMetrics(const std::string& deviceId,
                                        const std::function<bool(const protocol::Metrics&)>& pred,
                                        std::chrono::milliseconds timeout);
  // Sends an RPC and collects its responses until the final one (or timeout).
  Result<std::vector<protocol::RpcResponse>> rpc(const std::string& deviceId,
                                                 const protocol::RpcRequest& req,
                                                 std::chrono::milliseconds timeout,
                                                 const std::function<void()>& whileWaiting = {});
  // Responses received so far for an RPC id (for streams).
  std::vector<protocol::RpcResponse> rpcResponses(const std::string& id);
  Status sendRpc(const std::string& deviceId, const protocol::RpcRequest& req);
  bool busConnected() const { return bus_ && bus_->isConnected(); }
  Status waitBusConnected(std::chrono::milliseconds timeout) {
    return bus_->waitConnected(timeout);
  }

 private:
  HubDouble(MosquittoFixture& broker, HubDoubleOptions opts, TempDir dir);
  void onMessage(const common::bus::Message& m);
  void handleHttp(const common::http::Request& req, common::http::ResponseWriter& w);

  MosquittoFixture& broker_;
  HubDoubleOptions opts_;
  TempDir dir_;
  common::tls::PrivateKey signingKey_;
  std::string caFingerprint_;
  std::unique_ptr<common::http::Server> http_;
  std::unique_ptr<common::bus::MessageBus> bus_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> tokens_;  // token → device id
  std::map<std::string, bool> usedTokens_;
  int enrollments_ = 0;
  int renewals_ = 0;
  std::map<std::string, std::vector<protocol::Reported>> reported_;
  std::map<std::string, std::vector<protocol::Presence>> presence_;
  std::map<std::string, std::vector<protocol::Metrics>> metrics_;
  std::map<std::string, std::vector<protocol::RpcResponse>> rpc_;
  std::vector<std::string> badPayloads_;
};

struct AgentRunOptions {
  std::vector<std::string> extraArgs;
  bool arm64 = false;  // run the cross-built binary under qemu-aarch64-static
  // Short sync/heartbeat/metrics intervals and debug logs (tests); false: production defaults.
  bool testIntervals = true;
};

class AgentProcess {
 public:
  // Path of the host binary and of the arm64 one ("" when it was not built).
  static std::string hostBinary();
  static std::string arm64Binary();
  // The host's skiff-pause (next to the host binary).
  static std::string pauseBinary();

  AgentProcess(std::string stateDir, std::string engineSocket, std::string logDir,
               AgentRunOptions opts = {});
  ~AgentProcess();

  // `skiff-agent enroll ...` (blocking).
  Result<CommandResult> enroll(const std::vector<std::string>& args);
  Status start();
  // SIGTERM and wait; returns the exit code.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(20));
  Status kill9();
  bool running();
  int pid() const { return proc_ ? proc_->pid() : -1; }
  std::string log() const;
  const std::string& stateDir() const { return stateDir_; }

 private:
  std::vector<std::string> command() const;
  std::string stateDir_;
  std::string engineSocket_;
  std::string logDir_;
  AgentRunOptions opts_;
  int starts_ = 0;
  std::optional<Subprocess> proc_;
};

// The three real peers an agent test needs.
struct AgentPeers {
  std::unique_ptr<MosquittoFixture> broker;
  std::unique_ptr<RegistryFixture> registry;
  std::unique_ptr<PodmanFixture> podman;
  std::unique_ptr<HubDouble> hub;
  static Result<AgentPeers> create(HubDoubleOptions hubOpts = {});
};

// A busybox container running `sh -c <shellScript...>` with the registry's image.
protocol::ContainerSpec busyboxContainer(const RegistryFixture& registry, const std::string& name,
                                         const std::vector<std::string>& shellScript);
// A pod of one busybox container for the module name "<pod>/<container>" (deployment
// "dep-<pod>", 2 s grace period): the pod counterpart of a schema-1 module.
protocol::PodSpec busyboxModule(const RegistryFixture& registry, const std::string& module,
                                const std::vector<std::string>& shellScript);

// A desired document for deviceId.
protocol::DesiredState desiredDoc(const std::string& deviceId, std::int64_t version,
                                  std::vector<protocol::PodSpec> pods);

// The status of module ("<pod>/<container>") or pod in a report (nullptr if absent).
const protocol::ModuleStatus* moduleIn(const protocol::Reported& r, const std::string& module);
const protocol::PodStatus* podIn(const protocol::Reported& r, const std::string& pod);

// Enrolls a device through the binary against the hub double; ASSERT-style failures as Status.
Status enrollDevice(AgentProcess& agent, HubDouble& hub, const std::string& deviceId);

// `podman inspect` of a container via the Docker API: State.Status ("running", "exited"), or
// NotFound.
Result<std::string> containerState(PodmanFixture& podman, const std::string& id);
// Ids of every container (all states) carrying label key=value (infra containers of pod
// sandboxes included; io.skiff.kind=container selects app containers).
Result<std::vector<std::string>> containersWithLabel(PodmanFixture& podman, const std::string& key,
                                                     const std::string& value);

}  // namespace skiff::test
