// Command-line/config options of skiff-agent: the device agent (MQTT client and reconciler against
// the local container engine). Two commands share the flags:
//   skiff-agent [run] [flags]        run the agent (default)
//   skiff-agent enroll --hub URL --token T (--ca-file F | --ca-sha256 H |
//                      --insecure-skip-tls-verify-for-enroll) [--state-dir D]
// Every flag may also come from the --config file (TOML/INI; the command line wins).
#pragma once

#include <chrono>
#include <stop_token>
#include <string>

#include <CLI/CLI.hpp>

#include "common/flags.h"
#include "common/protocol/protocol.h"
#include "common/status.h"

namespace skiff::edge_agent {

struct Options {
  common::CommonFlags common;
  std::string command = "run";  // "run" | "enroll" (set from the subcommand by addOptions)
  std::string stateDir = "/var/lib/skiff-agent";
  std::string engineSocket = "/run/docker.sock";
  std::string mqttUrl;  // overrides the URL received at enrollment
  std::chrono::milliseconds heartbeatInterval{common::protocol::kDefaultHeartbeatInterval};
  std::chrono::milliseconds metricsInterval{common::protocol::kDefaultMetricsInterval};
  std::chrono::milliseconds syncInterval{2000};
  std::chrono::milliseconds renewCheckInterval{3600000};
  std::chrono::milliseconds crashLoopBackoff{10000};
  std::chrono::milliseconds crashLoopMaxBackoff{300000};
  std::chrono::milliseconds imagePullBackoff{10000};
  std::chrono::milliseconds imagePullMaxBackoff{300000};
  int workers = 4;
  std::string podNetwork = "bridge";
  std::string pauseBinary;
  std::string podInfraImage;
  std::string nodeIp;
  // enroll
  std::string hub;
  std::string token;
  std::string caFile;
  std::string caSha256;
  bool insecureSkipTlsVerifyForEnroll = false;
  bool force = false;
};

// Registers every option (and the common ones) and the run/enroll subcommands on app.
void addOptions(CLI::App& app, Options& o);

// Cross-field validation after parsing; InvalidArgument names the offending flag.
common::Status validate(const Options& o);

// Runs the selected command until it finishes (enroll) or stop is requested (run).
common::Status run(const Options& o, std::stop_token stop);

}  // namespace skiff::edge_agent
