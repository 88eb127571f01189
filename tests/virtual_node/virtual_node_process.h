// Test fixture around the real skiff-virtual-node binary: started against a kubeconfig and a
// (fake) hub on 127.0.0.1 with its kubelet endpoint on a free loopback port, its cert dir and hub
// CA/token files in a temp dir, short lease/status periods; stopped by PID (SIGTERM, then SIGKILL).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/support/process.h"

namespace skiff::test {

struct VirtualNodeProcessOptions {
  std::string dir;         // working dir for cert-dir, hub CA and token files, logs
  std::string kubeconfig;  // required
  std::string hubAddress;  // "127.0.0.1:<port>"
  std::string hubCaPem;
  std::string hubToken;
  std::string nodeName = "skiff-fleet";
  bool nodePerDevice = false;
  int kubeletPort = 0;  // 0: pick a free loopback port
  std::string logLevel = "debug";
  std::vector<std::string> extraArgs;
};

class VirtualNodeProcess {
 public:
  static common::Result<std::unique_ptr<VirtualNodeProcess>> start(VirtualNodeProcessOptions o);
  ~VirtualNodeProcess();
  // SIGTERM; returns the exit code (0 for a clean shutdown).
  int stop();
  void kill9();
  common::Status restart();
  bool isRunning();
  std::string logContents() const;
  int kubeletPort() const { return opts_.kubeletPort; }
  std::vector<std::string> argv() const;

 private:
  explicit VirtualNodeProcess(VirtualNodeProcessOptions o) : opts_(std::move(o)) {}
  common::Status launch();
  VirtualNodeProcessOptions opts_;
  std::optional<Subprocess> proc_;
  int launches_ = 0;
};

}  // namespace skiff::test
