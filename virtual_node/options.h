// Command-line/config options of skiff-virtual-node: virtual-kubelet: registers nodes and syncs
// pods through the edge provider.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>

#include <CLI/CLI.hpp>

#include "common/flags.h"
#include "common/status.h"

namespace skiff::virtual_node {

struct Options {
  common::CommonFlags common;
  // Kubernetes API.
  std::string kubeconfig = "";
  std::string kubeContext = "";
  // Nodes.
  std::string nodeName = "skiff-fleet";
  bool nodePerDevice = false;
  std::string deviceNodePrefix = "";
  int maxPods = 110;
  std::chrono::milliseconds leaseDuration{40000};
  std::chrono::milliseconds leaseRenewInterval{10000};
  std::chrono::milliseconds nodeStatusReportInterval{60000};
  std::chrono::milliseconds fleetStatusInterval{10000};
  // Pods.
  int podSyncWorkers = 4;
  std::chrono::milliseconds resyncPeriod{60000};
  // Hub.
  std::string hub = "127.0.0.1:7443";
  std::string hubCa = "";
  std::string hubToken = "";
  std::string hubTokenFile = "";
  std::string hubServerName = "";
  // Kubelet endpoint.
  std::string kubeletListen = "127.0.0.1:10250";
  std::string kubeletAdvertiseAddress = "";
  std::string certDir = "/var/lib/skiff/virtual-node/pki";
  std::string tlsCertFile = "";
  std::string tlsPrivateKeyFile = "";
  std::string clientCaFile = "";
};

// Registers every option (and the common ones) on app.
void addOptions(CLI::App& app, Options& o);

// Cross-field validation after parsing; InvalidArgument names the offending flag.
common::Status validate(const Options& o);

// Runs the component until stop is requested (virtual_node/app.cc: wires the Kubernetes client,
// the edge provider and the virtual node).
common::Status run(const Options& o, std::stop_token stop);

}  // namespace skiff::virtual_node
