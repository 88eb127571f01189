// SimAgent: the protocol side of a simulated device (docs/protocol.md), independent of the MQTT
// client that carries it, so tests (SimDevice over common::bus) and benchmarks (many devices
// over libmosquitto) answer the hub exactly alike. It verifies desired documents with the hub's
// signing key like the real agent (refusing forged, stale or foreign ones with
// reported.desiredError), "runs" every module at once (state running, ready, spec hash of the
// spec), reports, publishes metrics and answers the RPCs ping, logs (with follow + cancel,
// tailLines, sinceSeconds, timestamps) and restart. Each module has a timestamped log that tests
// write to (writeLog); following streams get those lines as they are written, plus (by default)
// a synthetic "tick" line every tick. Failures can be injected per module. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/protocol/protocol.h"

namespace skiff::test {

struct OutMessage {
  std::string topic;
  std::string payload;
  int qos = 1;
  bool retained = false;
};

class SimAgent {
 public:
  SimAgent(std::string deviceId, std::string signingPublicKeyPem, std::string arch = "arm64");

  const std::string& deviceId() const { return deviceId_; }
  // Topics the agent subscribes to: its desired state and RPC requests.
  std::vector<std::string> subscriptions() const;
  // Presence "offline" (the Last Will).
  OutMessage will() const;
  // What the agent sends after (re)connecting: presence online and a report.
  std::vector<OutMessage> hello();
  // A received message; returns what to publish in answer (reports, RPC responses).
  std::vector<OutMessage> onMessage(const std::string& topic, std::string_view payload,
                                    const std::string& responseTopic);
  // Periodic work (every ~100 ms): a line for each following logs stream.
  std::vector<OutMessage> tick();
  OutMessage report();
  OutMessage metrics();

  // Inspection and fault injection.
  std::int64_t appliedVersion() const;
  std::optional<common::protocol::DesiredState> applied() const;
  std::optional<common::protocol::DesiredError> desiredError() const;
  std::vector<std::string> moduleNames() const;
  int restarts(const std::string& module) const;
  std::size_t desiredReceived() const;  // desired payloads seen (accepted or refused)
  // The module reports waiting/<reason> (e.g. ErrImagePull) from now on ("" clears).
  void setFailure(const std::string& module, const std::string& reason);
  // Replaces a module's log (each line stamped now). Without one, a module logs
  // "<module> started" and "<module> ready".
  void setLogLines(const std::string& module, std::vector<std::string> lines);
  // The module writes a line (a newline is added if missing): appended to its log and returned
  // as the RPC responses that carry it to every following stream of that module (publish them).
  std::vector<OutMessage> writeLog(const std::string& module, std::string line);
  // Following streams get a synthetic "<module> tick N" line on every tick() (default on).
  void setFollowTicks(bool on);
  // The module reports health "unhealthy" (a failing liveness probe) while on.
  void setUnhealthy(const std::string& module, bool on);
  // A module's restart count as reported (e.g. a simulated crash loop counting up).
  void setRestartCount(const std::string& module, int count);
  int followers() const;
  // Benchmarks: accept documents after a schema check without verifying the signature (each
  // real device verifies on its own CPU; one simulator process verifying for thousands would
  // measure itself rather than the hub). On by default.
  void setVerifySignatures(bool on);

 private:
  OutMessage reportLocked();
  std::vector<OutMessage> onRpc(std::string_view payload, const std::string& responseTopic);
  OutMessage response(const std::string& topic, const common::protocol::RpcResponse& r) const;
  struct LogLine {
    std::int64_t atMs = 0;
    std::string text;  // ends with '\n'
  };
  std::vector<LogLine>& logOf(const std::string& module);  // mu_ held
  // As the logs RPC returns it (with timestamps: "<RFC 3339 with µs> <text>").
  static std::string logText(const LogLine& l, bool timestamps);

  const std::string deviceId_;
  const std::string publicKeyPem_;
  const std::string arch_;
  mutable std::mutex mu_;
  std::int64_t seq_ = 0;
  std::optional<common::protocol::DesiredState> applied_;
  std::optional<common::protocol::DesiredError> error_;
  std::map<std::string, common::protocol::ModuleStatus> modules_;
  std::map<std::string, std::string> failures_;
  std::set<std::string> unhealthy_;
  std::map<std::string, std::vector<LogLine>> logs_;
  bool followTicks_ = true;
  std::map<std::string, int> restarts_;
  std::size_t desiredReceived_ = 0;
  bool verify_ = true;
  struct Follower {
    std::string topic;
    std::string module;
    std::int64_t seq = 0;
    int lines = 0;
    bool timestamps = false;
  };
  std::map<std::string, Follower> followers_;  // by request id
};

}  // namespace skiff::test
