// Command-line/config options of skiff-hub: `skiff-hub init` prepares a data directory,
// `skiff-hub [run]` serves it (docs/hub.md "Operations").
#pragma once

#include <chrono>
#include <stop_token>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/flags.h"
#include "common/protocol/protocol.h"
#include "common/status.h"

namespace skiff::hub {

struct Options {
  common::CommonFlags common;
  std::string dataDir = "/var/lib/skiff/hub";
  std::string grpcListen = "127.0.0.1:7443";
  std::string httpListen = "127.0.0.1:8443";
  std::string mqttUrl = "mqtts://127.0.0.1:8883";
  std::string store = "sqlite";
  std::string mqttAdvertiseUrl;  // "" = --mqtt
  std::string httpAdvertiseUrl;  // "" = https://<--http-listen>
  std::string dashboardDir;      // "" = <binary>/../share/skiff/dashboard
  std::string brokerPidFile;
  std::string brokerReloadCommand;
  std::string mqttClientId = "hub";
  std::chrono::milliseconds deviceCertValidity{std::chrono::hours(24 * 90)};
  std::chrono::milliseconds enrollmentTokenTtl{std::chrono::hours(1)};
  std::chrono::milliseconds rpcTimeout{std::chrono::seconds(10)};
  std::chrono::milliseconds metricsResolution{common::protocol::kDefaultMetricsInterval};
  int publishWindow = 256;
  // `init` only.
  std::string mqttListen = "127.0.0.1:8883";
  std::vector<std::string> hosts;
};

enum class Command { kRun, kInit };

// Registers every option on app, with the `init` and `run` subcommands; after parsing,
// *command says which one ran (run when none was given).
void addOptions(CLI::App& app, Options& o, Command* command);

// Cross-field validation after parsing; InvalidArgument names the offending flag.
common::Status validate(const Options& o);

// Runs the hub until stop is requested.
common::Status run(const Options& o, std::stop_token stop);

// skiff-hub init: creates the data directory and prints what it did and how to start.
common::Status init(const Options& o);

}  // namespace skiff::hub
