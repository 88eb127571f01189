// Liveness and readiness probes for running modules (Kubernetes semantics: initialDelaySeconds,
// periodSeconds, timeoutSeconds, successThreshold, failureThreshold). exec probes run through the
// engine's exec API; httpGet succeeds on 200-399; tcpSocket on an accepted connection.
//
// Where a probe without `host` connects: 127.0.0.1:<hostPort> when the probed port is published
// (traffic stays on the device's loopback), else the container's own IP when it has a network
// namespace (like a kubelet probing the pod IP), else 127.0.0.1:<port> (host networking).
//
// One thread per probed module (modules without probes cost nothing). Results are read with
// state(); every transition (ready flips, health flips, liveness fails) calls onChange(module)
// on the probe thread, which must only enqueue work. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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

class Prober {
 public:
  using OnChange = std::function<void(const std::string& module)>;
  struct State {
    bool ready = false;
    common::protocol::Health health = common::protocol::Health::kUnknown;
    bool livenessFailed = false;  // failureThreshold reached: the container must be restarted
    std::string message;          // the last failure
  };

  Prober(engine::ContainerIo& io, OnChange onChange) : io_(io), onChange_(std::move(onChange)) {}
  ~Prober() { stopAll(); }
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Starts probing the module's (re)started container from scratch; replaces earlier probing.
  // A module without probes is simply ready.
  void track(const std::string& module, const ProbeTarget& target,
             const std::optional<common::protocol::Probe>& liveness,
             const std::optional<common::protocol::Probe>& readiness);
  // Stops probing (the container stopped or is gone). Blocks until its thread ended.
  void untrack(const std::string& module);
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
