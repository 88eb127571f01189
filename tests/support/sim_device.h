// SimDevice: a simulated device on a real broker — a SimAgent carried by common::bus with the
// device's certificate (so the broker's TLS, CRL and ACL apply to it as to a real agent), its
// Last Will, and a ticker for following log streams. Used by the hub's tests and by other
// components' e2e tests that need devices without running skiff-agent.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/bus/message_bus.h"
#include "common/status.h"
#include "tests/support/sim_agent.h"

namespace skiff::test {

struct SimDeviceOptions {
  std::string deviceId;
  std::string mqttUrl;  // mqtts://127.0.0.1:<port>
  std::string certFile, keyFile, caFile;
  std::string signingPublicKeyPem;
  std::string arch = "arm64";
  // Client id (agents use the device id; the hub takes it over when the device is deleted).
  std::string clientId;  // "" = deviceId
};

class SimDevice {
 public:
  // Starts connecting (presence online + a report on every connect). Non-blocking.
  static common::Result<std::unique_ptr<SimDevice>> start(SimDeviceOptions opts);
  ~SimDevice();

  SimAgent& agent() { return agent_; }
  common::bus::MessageBus& bus() { return *bus_; }
  common::Status waitConnected(std::chrono::milliseconds timeout);
  bool connected() const { return bus_->isConnected(); }
  // Polls pred until true or timeout.
  bool waitFor(const std::function<bool(SimAgent&)>& pred, std::chrono::milliseconds timeout);
  // Publishes anything on any topic (bad-input and ACL tests); waits for the broker's answer.
  common::Status publishRaw(const std::string& topic, const std::string& payload, int qos = 1,
                            bool retained = false);
  common::Status sendReport();
  common::Status sendMetrics();
  // The module writes a log line (SimAgent::writeLog), sent to every following logs stream.
  void writeLog(const std::string& module, const std::string& line);
  // Connection transitions seen so far.
  int connects() const { return connects_.load(); }
  int disconnects() const { return disconnects_.load(); }
  // Clean disconnect (no Last Will).
  void stop();

 private:
  explicit SimDevice(SimDeviceOptions opts);
  void publishAll(const std::vector<OutMessage>& msgs);

  SimDeviceOptions opts_;
  SimAgent agent_;
  std::unique_ptr<common::bus::MessageBus> bus_;
  std::atomic<int> connects_{0};
  std::atomic<int> disconnects_{0};
  std::atomic<bool> stopping_{false};
  std::thread ticker_;
};

}  // namespace skiff::test
