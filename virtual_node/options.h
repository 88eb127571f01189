// Command-line/config options of skiff-virtual-node: virtual-kubelet: registers nodes and syncs
// pods through the edge provider.
#pragma once

#include <stop_token>
#include <string>

#include <CLI/CLI.hpp>

#include "common/flags.h"
#include "common/status.h"

namespace skiff::virtual_node {

struct Options {
  common::CommonFlags common;
  std::string kubeconfig = "";
  std::string nodeName = "skiff-fleet";
  std::string hub = "127.0.0.1:7443";
  bool nodePerDevice = false;
};

// Registers every option (and the common ones) on app.
void addOptions(CLI::App& app, Options& o);

// Cross-field validation after parsing; InvalidArgument names the offending flag.
common::Status validate(const Options& o);

// Runs the component until stop is requested.
common::Status run(const Options& o, std::stop_token stop);

}  // namespace skiff::virtual_node
