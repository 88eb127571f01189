// Startup, liveness and readiness probes for running containers (Kubernetes semantics:
// initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold, failureThreshold; while a
// startup probe has not succeeded only it runs, and the container is neither started nor ready).
// exec probes run through the engine's exec API; httpGet succeeds on 200-399; tcpSocket on an
// accepted connection.
//
// Where a probe without `host` connects: 127.0.0.1:<hostPort> when the probed port is published
// (traffic stays on the device's loopback), else the pod's IP when the pod has its own network
// namespace (as a kubelet probes the pod IP), else 127.0.0.1:<port> (host networking). Lifecycle
// hooks' httpGet uses the same rule (httpGetCheck).
//
// One thread per probed container (containers without probes cost nothing). Results are read
// with state(); every transition (started, ready flips, health flips, startup or liveness fails)
// calls onChange(module) on the probe thread, which must only enqueue work. track() does not:
// its caller reports the fresh state with its own status change. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/protocol/protocol.h"
#include "edge_agent/engine/container_engine.h"

namespace skiff::edge_agent {

struct ProbeTarget {
  std::string containerId;
  std::string containerIp;
  std::vector<common::protocol::PortMapping> ports;
};

// Runs one probe attempt (exposed for tests). Ok = success; the Status explains a failure.
common::Status runProbe(engine::ContainerIo& io, const common::protocol::Probe& probe,
                        const ProbeTarget& target);

// One HTTP GET against a container port (probes and lifecycle hooks): Ok for 200-399.
struct HttpGetCheck {
  std::string scheme = "HTTP";
  std::string host;  // "" = the target's address (see above)
  int port = 0;
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
};
common::Status httpGetCheck(const HttpGetCheck& check, const ProbeTarget& target,
                            std::chrono::milliseconds timeout, std::string_view userAgent);

class Prober {
 public:
  using OnChange = std::function<void(const std::string& module)>;
  struct State {
    bool started = false;  // no startup probe, or it succeeded
    bool ready = false;
    common::protocol::Health health = common::protocol::Health::kUnknown;
    bool livenessFailed = false;  // failureThreshold reached: the container must be restarted
    bool startupFailed = false;   // the startup probe's failureThreshold reached: the same
    std::string message;          // the last failure ("Startup probe failed: ...")
  };
  struct Probes {
    std::optional<common::protocol::Probe> startup;
    std::optional<common::protocol::Probe> liveness;
    std::optional<common::protocol::Probe> readiness;
  };

  Prober(engine::ContainerIo& io, OnChange onChange) : io_(io), onChange_(std::move(onChange)) {}
  ~Prober() { stopAll(); }
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Starts probing the module's (re)started container from scratch; replaces earlier probing.
  // A container without probes is simply started and ready.
  void track(const std::string& module, const ProbeTarget& target, const Probes& probes);
  // Stops probing (the container stopped or is gone). Blocks until its thread ended.
  void untrack(const std::string& module);
  // untrack() for every module starting with prefix ("<pod>/": the pod's containers).
  void untrackPrefix(const std::string& prefix);
  bool tracking(const std::string& module, const std::string& containerId) const;
  // Not tracked: not ready, health unknown.
  State state(const std::string& module) const;
  void stopAll();

 private:
  struct Worker;
  engine::ContainerIo& io_;
  OnChange onChange_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Worker>> workers_;
};

}  // namespace skiff::edge_agent
