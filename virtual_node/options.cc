// Options of skiff-virtual-node.
#include "virtual_node/options.h"

#include "common/net.h"

namespace skiff::virtual_node {

void addOptions(CLI::App& app, Options& o) {
  common::addCommonFlags(app, o.common);
  app.add_option("--kubeconfig", o.kubeconfig, "Kubeconfig of the Kubernetes API server")
      ->capture_default_str();
  app.add_option("--node-name", o.nodeName, "Node name in fleet mode")->capture_default_str();
  app.add_option("--hub", o.hub, "Hub gRPC address")->capture_default_str();
  app.add_flag("--node-per-device", o.nodePerDevice, "Device mode: one Node per device");
}

common::Status validate(const Options& o) {
  if (auto a = common::parseHostPort(o.hub); !a.isOk()) {
    return a.status().withContext("--hub");
  }
  if (o.kubeconfig.empty()) return common::invalidArgument("--kubeconfig is required");
  if (o.nodeName.empty()) return common::invalidArgument("--node-name must not be empty");
  return common::Status::ok();
}

common::Status run(const Options&, std::stop_token) {
  return common::unavailable("skiff-virtual-node is not implemented yet (issue #9)");
}

}  // namespace skiff::virtual_node
