// Options of skiff-control-plane.
#include "control_plane/options.h"

#include <iostream>

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
}

common::Status validate(const Options& o) {
  if (auto a = common::parseHostPort(o.listen); !a.isOk()) {
    return a.status().withContext("--listen");
  }
  if (o.dataDir.empty()) return common::invalidArgument("--data-dir is required");
  if (std::string(o.store) != "sqlite" && !o.store.starts_with("etcd://"))
    return common::invalidArgument("--store must be sqlite or etcd://host:port[,host:port...]");
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
