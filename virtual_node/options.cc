// Options of skiff-virtual-node.
#include "virtual_node/options.h"

#include "common/label_selector.h"
#include "common/net.h"

namespace skiff::virtual_node {

void addOptions(CLI::App& app, Options& o) {
  common::addCommonFlags(app, o.common);
  app.add_option("--kubeconfig", o.kubeconfig, "Kubeconfig of the Kubernetes API server")
      ->capture_default_str();
  app.add_option("--kube-context", o.kubeContext,
                 "Kubeconfig context to use (default: its current-context)");
  app.add_option("--node-name", o.nodeName,
                 "Node name in fleet mode; in both modes the identity of this virtual node "
                 "(label skiff.io/virtual-node on its Nodes and hub deployments)")
      ->capture_default_str();
  app.add_flag("--node-per-device", o.nodePerDevice, "Device mode: one Node per device");
  app.add_option("--device-node-prefix", o.deviceNodePrefix,
                 "Device mode: Node name = <prefix><device id>")
      ->capture_default_str();
  app.add_option("--max-pods", o.maxPods, "Pods capacity of each Node")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  common::addDurationOption(app, "--lease-duration", o.leaseDuration,
                            "leaseDurationSeconds of the Nodes' Leases in kube-node-lease");
  common::addDurationOption(app, "--lease-renew-interval", o.leaseRenewInterval,
                            "How often the Leases are renewed");
  common::addDurationOption(app, "--node-status-report-interval", o.nodeStatusReportInterval,
                            "Node status is written when it changes and at least this often");
  common::addDurationOption(app, "--fleet-status-interval", o.fleetStatusInterval,
                            "How often the hub's fleet status (capacity, broker) is read");
  app.add_option("--pod-sync-workers", o.podSyncWorkers, "Concurrent pod reconciliations")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  common::addDurationOption(app, "--resync-period", o.resyncPeriod,
                            "Every pod is reconciled and orphans swept at least this often");
  app.add_option("--hub", o.hub, "Hub gRPC address (host:port)")->capture_default_str();
  app.add_option("--hub-ca", o.hubCa, "CA certificate (PEM) that signed the hub's certificate");
  app.add_option("--hub-token", o.hubToken, "Hub API token (admin role)");
  app.add_option("--hub-token-file", o.hubTokenFile, "File holding the hub API token");
  app.add_option("--hub-server-name", o.hubServerName,
                 "Name to verify in the hub's certificate (default: the --hub host)");
  app.add_option("--kubelet-listen", o.kubeletListen,
                 "Kubelet endpoint (HTTPS: container logs for the API server) listen address")
      ->capture_default_str();
  app.add_option("--kubelet-advertise-address", o.kubeletAdvertiseAddress,
                 "Address advertised as the Nodes' InternalIP (default: the --kubelet-listen "
                 "host)");
  app.add_option("--cert-dir", o.certDir,
                 "Directory for the self-signed kubelet serving certificate")
      ->capture_default_str();
  app.add_option("--tls-cert-file", o.tlsCertFile, "Kubelet serving certificate (PEM)");
  app.add_option("--tls-private-key-file", o.tlsPrivateKeyFile, "Kubelet serving key (PEM)");
  app.add_option("--client-ca-file", o.clientCaFile,
                 "CA verifying the API server's client certificate on the kubelet endpoint "
                 "(default: the kubeconfig's certificate authority)");
}

common::Status validate(const Options& o) {
  if (o.kubeconfig.empty()) return common::invalidArgument("--kubeconfig is required");
  if (o.nodeName.empty()) return common::invalidArgument("--node-name must not be empty");
  // The name is a label value on Nodes and hub deployments.
  if (auto s = common::validateLabelValue(o.nodeName); !s.isOk()) {
    return common::invalidArgument("--node-name: " + s.message());
  }
  for (char c : o.nodeName) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.')) {
      return common::invalidArgument("--node-name \"" + o.nodeName +
                                     "\": must be lower-case letters, digits, '-' or '.'");
    }
  }
  if (auto a = common::parseHostPort(o.hub); !a.isOk()) {
    return a.status().withContext("--hub");
  }
  auto listen = common::parseHostPort(o.kubeletListen);
  if (!listen.isOk()) return listen.status().withContext("--kubelet-listen");
  std::string advertise =
      o.kubeletAdvertiseAddress.empty() ? listen->host : o.kubeletAdvertiseAddress;
  if (advertise == "0.0.0.0" || advertise == "::" || advertise.empty()) {
    return common::invalidArgument(
        "--kubelet-advertise-address is required when --kubelet-listen binds every address");
  }
  if (!o.hubToken.empty() && !o.hubTokenFile.empty()) {
    return common::invalidArgument("--hub-token and --hub-token-file are mutually exclusive");
  }
  if (o.hubToken.empty() && o.hubTokenFile.empty()) {
    return common::invalidArgument("--hub-token or --hub-token-file is required");
  }
  if (o.hubCa.empty()) return common::invalidArgument("--hub-ca is required");
  if (o.tlsCertFile.empty() != o.tlsPrivateKeyFile.empty()) {
    return common::invalidArgument("--tls-cert-file and --tls-private-key-file go together");
  }
  if (o.leaseRenewInterval >= o.leaseDuration) {
    return common::invalidArgument("--lease-renew-interval must be shorter than --lease-duration");
  }
  if (!o.deviceNodePrefix.empty() && !o.nodePerDevice) {
    return common::invalidArgument("--device-node-prefix needs --node-per-device");
  }
  return common::Status::ok();
}

}  // namespace skiff::virtual_node
