// EtcdFixture: a single-member etcd 3.4 on ephemeral 127.0.0.1 client and peer ports with its data
// dir in its own temp dir. Short heartbeat/election timeouts make (re)starts take ~0.2 s, so
// restart() can be used by store-outage tests; the data dir survives restarts.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/support/process.h"

namespace skiff::test {

struct EtcdOptions {
  std::chrono::milliseconds startTimeout = std::chrono::seconds(15);
};

class EtcdFixture {
 public:
  // Starts etcd and waits until GET /health reports {"health":"true"}.
  static common::Result<std::unique_ptr<EtcdFixture>> create(EtcdOptions opts = {});
  ~EtcdFixture();  // stops etcd; prints its log tail if the current test failed
  EtcdFixture(const EtcdFixture&) = delete;
  EtcdFixture& operator=(const EtcdFixture&) = delete;

  // "127.0.0.1:<client port>" (gRPC target / etcdctl --endpoints).
  std::string endpoint() const;
  // "http://127.0.0.1:<client port>"
  std::string clientUrl() const;
  int clientPort() const { return clientPort_; }
  int peerPort() const { return peerPort_; }

  void stop();  // idempotent; data dir kept
  common::Status start();
  common::Status restart();
  bool isRunning();
  // Runs `etcdctl --endpoints <endpoint()> <args>` with ETCDCTL_API=3 (blocking).
  common::Result<CommandResult> etcdctl(
      const std::vector<std::string>& args,
      std::chrono::milliseconds timeout = std::chrono::seconds(20));
  const std::string& dir() const { return dir_.path(); }
  std::string logContents() const;

 private:
  EtcdFixture(EtcdOptions opts, TempDir dir, int clientPort, int peerPort)
      : opts_(opts), dir_(std::move(dir)), clientPort_(clientPort), peerPort_(peerPort) {}
  EtcdOptions opts_;
  TempDir dir_;
  int clientPort_;
  int peerPort_;
  std::optional<Subprocess> proc_;
};

}  // namespace skiff::test
