// Options of skiff-control-plane.
#include "control_plane/options.h"

#include <iostream>

#include "common/clock.h"
#include "common/daemon.h"
#include "common/net.h"
#include "control_plane/control_plane.h"

namespace skiff::control_plane {

void addOptions(CLI::App& app, Options& o) {
  common::addCommonFlags(app, o.common);
  app.add_option("--listen", o.listen, "HTTPS listen address")->capture_default_str();
  app.add_option("--data-dir", o.dataDir,
                 "State directory (CA, certificates, kubeconfig, SQLite store)")
      ->capture_default_str();
  app.add_option("--store", o.store,
                 "Store: sqlite (embedded, in --data-dir) or etcd://host:port[,host:port...]")
      ->capture_default_str();
  app.add_flag("--disable-scheduler", o.disableScheduler, "Do not run the scheduler");
  app.add_flag("--disable-controllers", o.disableControllers, "Do not run the controllers");
  app.add_option("--leader-elect", o.leaderElect,
                 "Elect a leader among replicas through a Lease before scheduling and "
                 "reconciling (true|false)")
      ->capture_default_str();
  app.add_option("--leader-elect-identity", o.leaderElectIdentity,
                 "Identity in the Lease (default <hostname>_<random>)");
  common::addDurationOption(app, "--leader-elect-lease-duration", o.leaderElectLeaseDuration,
                            "How long followers wait after the last renewal before taking over");
  common::addDurationOption(app, "--leader-elect-renew-deadline", o.leaderElectRenewDeadline,
                            "How long the leader keeps trying to renew before it stops acting");
  common::addDurationOption(app, "--leader-elect-retry-period", o.leaderElectRetryPeriod,
                            "Interval between renewals and acquisition attempts");
  common::addDurationOption(app, "--node-monitor-period", o.nodeMonitorPeriod,
                            "How often node health and NoExecute taints are checked");
  common::addDurationOption(
      app, "--node-monitor-grace-period", o.nodeMonitorGracePeriod,
      "How long a node may go without a heartbeat (Lease or status) before it "
      "is marked Unknown and tainted unreachable");
  app.add_option("--default-not-ready-toleration-seconds", o.defaultNotReadyTolerationSeconds,
                 "tolerationSeconds added to pods for the not-ready:NoExecute taint")
      ->capture_default_str()
      ->check(CLI::Range(0LL, 1LL << 40));
  app.add_option("--default-unreachable-toleration-seconds", o.defaultUnreachableTolerationSeconds,
                 "tolerationSeconds added to pods for the unreachable:NoExecute taint")
      ->capture_default_str()
      ->check(CLI::Range(0LL, 1LL << 40));
}

common::Status validate(const Options& o) {
  if (auto a = common::parseHostPort(o.listen); !a.isOk()) {
    return a.status().withContext("--listen");
  }
  if (o.dataDir.empty()) return common::invalidArgument("--data-dir is required");
  if (std::string(o.store) != "sqlite" && !o.store.starts_with("etcd://"))
    return common::invalidArgument("--store must be sqlite or etcd://host:port[,host:port...]");
  if (o.leaderElectRenewDeadline >= o.leaderElectLeaseDuration) {
    return common::invalidArgument(
        "--leader-elect-renew-deadline must be shorter than --leader-elect-lease-duration");
  }
  if (o.leaderElectRetryPeriod >= o.leaderElectRenewDeadline) {
    return common::invalidArgument(
        "--leader-elect-retry-period must be shorter than --leader-elect-renew-deadline");
  }
  if (o.nodeMonitorPeriod >= o.nodeMonitorGracePeriod) {
    return common::invalidArgument(
        "--node-monitor-period must be shorter than --node-monitor-grace-period");
  }
  return common::Status::ok();
}

common::Status run(const Options& o, std::stop_token stop) {
  SKIFF_ASSIGN_OR_RETURN(auto cp, ControlPlane::start(o));
  std::cout << "skiff-control-plane: serving on https://127.0.0.1:" << cp->port() << "\n"
            << "  admin kubeconfig:     " << cp->files().adminKubeconfig << "\n"
            << "  read-only kubeconfig: " << cp->files().readOnlyKubeconfig << "\n"
            << "  CA certificate:       " << cp->files().caCert << std::endl;
  while (common::sleepFor(stop, std::chrono::hours(1))) {
  }
  cp->stop();
  return common::Status::ok();
}

}  // namespace skiff::control_plane
