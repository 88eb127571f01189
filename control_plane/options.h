// Command-line/config options of skiff-control-plane: Kubernetes API server, store, scheduler and
// controllers in one process.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>

#include <CLI/CLI.hpp>

#include "common/flags.h"
#include "common/status.h"

namespace skiff::control_plane {

struct Options {
  common::CommonFlags common;
  std::string listen = "127.0.0.1:6443";
  std::string dataDir = "/var/lib/skiff/control-plane";
  std::string store = "sqlite";
  bool disableScheduler = false;
  bool disableControllers = false;
  // Leader election (kube-system/skiff-control-plane Lease): only the leader's scheduler and
  // controllers act, so replicas sharing one etcd never both do.
  bool leaderElect = true;
  std::string leaderElectIdentity;  // default <hostname>_<random>
  std::chrono::milliseconds leaderElectLeaseDuration{15000};
  std::chrono::milliseconds leaderElectRenewDeadline{10000};
  std::chrono::milliseconds leaderElectRetryPeriod{2000};
  // Node lifecycle.
  std::chrono::milliseconds nodeMonitorPeriod{5000};
  std::chrono::milliseconds nodeMonitorGracePeriod{40000};
  // DefaultTolerationSeconds admission.
  long long defaultNotReadyTolerationSeconds = 300;
  long long defaultUnreachableTolerationSeconds = 300;
};

// Registers every option (and the common ones) on app.
void addOptions(CLI::App& app, Options& o);

// Cross-field validation after parsing; InvalidArgument names the offending flag.
common::Status validate(const Options& o);

// Runs the component until stop is requested.
common::Status run(const Options& o, std::stop_token stop);

}  // namespace skiff::control_plane
