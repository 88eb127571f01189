// DeviceSwarm: thousands of simulated devices in one process for the hub benchmarks. Each device
// is a libmosquitto client (TLS with its own certificate, MQTT v5, Last Will) driven by one
// epoll loop, and behaves through tests/support's SimAgent exactly like the SimDevice the tests
// use (verify the signed desired state, report, answer RPCs). In raw mode a device answers any
// message on its desired topic with a report at once, without verifying: the broker-only
// baseline. Paho C's single receive thread is too slow to accept thousands of sockets, hence
// libmosquitto here.
//
// Threading: start() connects (blocking), then one loop thread owns every libmosquitto handle;
// counters are atomic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "tests/support/sim_agent.h"

struct mosquitto;

namespace skiff::test {
class HubFixture;
}

namespace skiff::bench {

// The value, or exits the benchmark after printing `what` and the error.
template <typename T>
T must(common::Result<T> r, const char* what) {
  if (!r.isOk()) {
    std::fprintf(stderr, "%s: %s\n", what, r.status().toString().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

struct SwarmDevice {
  std::string id;
  std::string certFile;
  std::string keyFile;
};

struct SwarmOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string caFile;
  std::string signingPublicKeyPem;
  std::vector<SwarmDevice> devices;
  // Agent heartbeat while idle (0 = none): a report every `reportEvery`, metrics every
  // `metricsEvery`, spread evenly over the devices.
  std::chrono::milliseconds reportEvery{0};
  std::chrono::milliseconds metricsEvery{0};
};

// Registers n devices "sim-00000".. with the hub (labels from labelsOf(i)) and issues their
// client certificates from the hub CA (one shared key: enrollment is not what is measured).
common::Result<std::vector<SwarmDevice>> registerSwarmDevices(
    test::HubFixture& hub, int n,
    const std::function<std::map<std::string, std::string>(int)>& labelsOf);

class DeviceSwarm {
 public:
  static common::Result<std::unique_ptr<DeviceSwarm>> start(SwarmOptions opts);
  ~DeviceSwarm();
  void setRaw(bool raw) { raw_ = raw; }
  // Signature verification by every simulated agent (see SimAgent::setVerifySignatures).
  void setVerifySignatures(bool on);
  void setHeartbeat(std::chrono::milliseconds reportEvery, std::chrono::milliseconds metricsEvery);
  std::uint64_t desiredReceived() const { return desired_.load(); }
  std::uint64_t reportsSent() const { return reports_.load(); }
  std::uint64_t errors() const { return errors_.load(); }
  std::size_t lastDesiredBytes() const { return lastDesiredBytes_.load(); }
  std::size_t size() const { return devs_.size(); }
  void stop();

 private:
  struct Dev;
  explicit DeviceSwarm(SwarmOptions opts);
  void loop();
  void publishAll(Dev& d, const std::vector<test::OutMessage>& msgs);
  void markDirty(Dev& d);
  static void onMessage(mosquitto* m, void* user, const void* msg);

  SwarmOptions opts_;
  std::vector<std::unique_ptr<Dev>> devs_;
  std::vector<Dev*> dirty_;  // loop thread only (and start(), before it runs)
  int epoll_ = -1;
  std::atomic<bool> raw_{false};
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> desired_{0};
  std::atomic<std::uint64_t> reports_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::size_t> lastDesiredBytes_{0};
  std::atomic<std::int64_t> reportEveryMs_{0};
  std::atomic<std::int64_t> metricsEveryMs_{0};
  std::thread thread_;
};

}  // namespace skiff::bench
