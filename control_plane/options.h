// Command-line/config options of skiff-control-plane: Kubernetes API server, store, scheduler and
// controllers in one process.
#pragma once

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
};

// Registers every option (and the common ones) on app.
void addOptions(CLI::App& app, Options& o);

// Cross-field validation after parsing; InvalidArgument names the offending flag.
common::Status validate(const Options& o);

// Runs the component until stop is requested.
common::Status run(const Options& o, std::stop_token stop);

}  // namespace skiff::control_plane
