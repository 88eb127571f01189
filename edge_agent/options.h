// Command-line/config options of skiff-agent: Device agent: MQTT client and reconciler against the
// local container engine.
#pragma once

#include <stop_token>
#include <string>

#include <CLI/CLI.hpp>

#include "common/flags.h"
#include "common/status.h"

namespace skiff::edge_agent {

struct Options {
  common::CommonFlags common;
  std::string stateDir = "/var/lib/skiff-agent";
  std::string engineSocket = "/run/docker.sock";
};

// Registers every option (and the common ones) on app.
void addOptions(CLI::App& app, Options& o);

// Cross-field validation after parsing; InvalidArgument names the offending flag.
common::Status validate(const Options& o);

// Runs the component until stop is requested.
common::Status run(const Options& o, std::stop_token stop);

}  // namespace skiff::edge_agent
