// Options of skiff-hub; run() and init() entry points.
#include "hub/options.h"

#include <iostream>

#include "common/daemon.h"
#include "common/net.h"
#include "hub/data_dir.h"
#include "hub/hub.h"

namespace skiff::hub {

void addOptions(CLI::App& app, Options& o, Command* command) {
  common::addCommonFlags(app, o.common);
  app.add_option("--data-dir", o.dataDir,
                 "State directory (CA, keys, tokens, SQLite store, Mosquitto configuration)")
      ->capture_default_str();
  app.add_option("--grpc-listen", o.grpcListen, "gRPC (TLS) listen address")->capture_default_str();
  app.add_option("--http-listen", o.httpListen,
                 "REST, dashboard, enrollment and /metrics (HTTPS) listen address")
      ->capture_default_str();
  app.add_option("--mqtt", o.mqttUrl, "MQTT broker URL")->capture_default_str();
  app.add_option("--store", o.store,
                 "Store: sqlite (embedded, in --data-dir) or etcd://host:port[,host:port...]")
      ->capture_default_str();
  app.add_option("--mqtt-advertise-url", o.mqttAdvertiseUrl,
                 "Broker URL given to enrolling devices (default: --mqtt)");
  app.add_option("--http-advertise-url", o.httpAdvertiseUrl,
                 "Base URL of this hub's HTTPS listener as devices reach it (default: "
                 "https://<--http-listen>)");
  app.add_option("--dashboard-dir", o.dashboardDir,
                 "Dashboard assets (default: <binary dir>/../share/skiff/dashboard)");
  app.add_option("--broker-pid-file", o.brokerPidFile,
                 "File with the Mosquitto pid: the hub sends it SIGHUP after revoking a device "
                 "so the broker reloads its CRL and ACL");
  app.add_option("--broker-reload-command", o.brokerReloadCommand,
                 "Shell command that makes the broker reload its CRL and ACL (e.g. \"systemctl "
                 "reload mosquitto\"), instead of --broker-pid-file");
  app.add_option("--mqtt-client-id", o.mqttClientId, "The hub's MQTT client id")
      ->capture_default_str();
  common::addDurationOption(app, "--device-cert-validity", o.deviceCertValidity,
                            "Validity of device certificates issued at enrollment and renewal");
  common::addDurationOption(app, "--enrollment-token-ttl", o.enrollmentTokenTtl,
                            "Default lifetime of enrollment tokens");
  common::addDurationOption(app, "--rpc-timeout", o.rpcTimeout,
                            "How long to wait for an agent's RPC answer (logs, restart)");
  common::addDurationOption(app, "--metrics-history-resolution", o.metricsResolution,
                            "One metrics sample per device per this interval is kept for an hour");
  app.add_option("--publish-window", o.publishWindow,
                 "Desired-state publishes in flight (awaiting PUBACK) at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  app.require_subcommand(0, 1);
  auto* initCmd = app.add_subcommand(
      "init", "Create the data directory: CA, certificates, signing key, tokens, Mosquitto config");
  initCmd->fallthrough();
  initCmd->add_option("--mqtt-listen", o.mqttListen, "The broker's TLS listener (host:port)")
      ->capture_default_str();
  initCmd
      ->add_option("--hosts", o.hosts,
                   "Extra DNS names / IP addresses for the hub's and the broker's certificates")
      ->delimiter(',');
  initCmd->callback([command] { *command = Command::kInit; });
  auto* runCmd = app.add_subcommand("run", "Serve (the default)");
  runCmd->fallthrough();
  runCmd->callback([command] { *command = Command::kRun; });
}

common::Status validate(const Options& o) {
  if (auto a = common::parseHostPort(o.grpcListen); !a.isOk()) {
    return a.status().withContext("--grpc-listen");
  }
  if (auto a = common::parseHostPort(o.httpListen); !a.isOk()) {
    return a.status().withContext("--http-listen");
  }
  if (auto a = common::parseHostPort(o.mqttListen); !a.isOk()) {
    return a.status().withContext("--mqtt-listen");
  }
  if (o.dataDir.empty()) return common::invalidArgument("--data-dir is required");
  if (!o.mqttUrl.starts_with("mqtt://") && !o.mqttUrl.starts_with("mqtts://"))
    return common::invalidArgument("--mqtt must be an mqtt:// or mqtts:// URL");
  if (auto hp = common::parseHostPort(o.mqttUrl.substr(o.mqttUrl.find("://") + 3)); !hp.isOk()) {
    return hp.status().withContext("--mqtt");
  }
  if (!o.mqttAdvertiseUrl.empty() && !o.mqttAdvertiseUrl.starts_with("mqtt://") &&
      !o.mqttAdvertiseUrl.starts_with("mqtts://")) {
    return common::invalidArgument("--mqtt-advertise-url must be an mqtt:// or mqtts:// URL");
  }
  if (!o.httpAdvertiseUrl.empty() && !o.httpAdvertiseUrl.starts_with("https://")) {
    return common::invalidArgument("--http-advertise-url must be an https:// URL");
  }
  if (o.store != "sqlite" && !o.store.starts_with("etcd://"))
    return common::invalidArgument("--store must be sqlite or etcd://host:port[,host:port...]");
  if (!o.brokerPidFile.empty() && !o.brokerReloadCommand.empty()) {
    return common::invalidArgument(
        "--broker-pid-file and --broker-reload-command are alternatives: give one");
  }
  if (o.mqttClientId.empty()) return common::invalidArgument("--mqtt-client-id is empty");
  return common::Status::ok();
}

common::Status init(const Options& o) {
  InitOptions io;
  io.dataDir = o.dataDir;
  SKIFF_ASSIGN_OR_RETURN(io.mqttListen, common::parseHostPort(o.mqttListen));
  io.hosts = o.hosts;
  io.grpcListen = o.grpcListen;
  io.httpListen = o.httpListen;
  SKIFF_ASSIGN_OR_RETURN(InitReport report, initDataDir(io));
  DataDirLayout l = layoutOf(o.dataDir);
  for (const auto& f : report.created) std::cout << "created  " << f << "\n";
  for (const auto& f : report.updated) std::cout << "updated  " << f << "\n";
  for (const auto& f : report.kept) std::cout << "kept     " << f << "\n";
  std::cout << "\nNext:\n"
            << "  mosquitto -c " << l.mosquittoConf << " & echo $! > " << l.brokerPidFile << "\n"
            << "  skiff-hub run --data-dir " << o.dataDir << " --mqtt mqtts://" << o.mqttListen
            << " --broker-pid-file " << l.brokerPidFile << "\n"
            << "  skiffctl --config " << l.skiffctlConfig << " device list\n";
  return common::Status::ok();
}

common::Status run(const Options& o, std::stop_token stop) {
  SKIFF_ASSIGN_OR_RETURN(auto hub, Hub::start(o));
  std::cout << "skiff-hub: gRPC on " << hub->grpcAddress() << ", HTTPS on " << hub->httpsUrl()
            << ", MQTT " << o.mqttUrl << std::endl;
  while (common::sleepFor(stop, std::chrono::hours(1))) {
  }
  hub->stop();
  return common::Status::ok();
}

}  // namespace skiff::hub
