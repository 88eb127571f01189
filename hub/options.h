// Command-line/config options of skiff-hub: Device registry, enrollment CA, twins, deployments and
// MQTT fan-out.
#pragma once

#include <stop_token>
#include <string>

#include <CLI/CLI.hpp>

#include "common/flags.h"
#include "common/status.h"

namespace skiff::hub {

struct Options {
  common::CommonFlags common;
  std::string dataDir = "/var/lib/skiff/hub";
  std::string grpcListen = "127.0.0.1:7443";
  std::string httpListen = "127.0.0.1:8443";
  std::string mqttUrl = "mqtts://127.0.0.1:8883";
};

// Registers every option (and the common ones) on app.
void addOptions(CLI::App& app, Options& o);

// Cross-field validation after parsing; InvalidArgument names the offending flag.
common::Status validate(const Options& o);

// Runs the component until stop is requested.
common::Status run(const Options& o, std::stop_token stop);

}  // namespace skiff::hub
