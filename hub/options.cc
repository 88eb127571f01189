// Options of skiff-hub.
#include "hub/options.h"

#include "common/net.h"

namespace skiff::hub {

void addOptions(CLI::App& app, Options& o) {
  common::addCommonFlags(app, o.common);
  app.add_option("--data-dir", o.dataDir, "State directory (CA, signing key, SQLite store)")
      ->capture_default_str();
  app.add_option("--grpc-listen", o.grpcListen, "gRPC (TLS) listen address")->capture_default_str();
  app.add_option("--http-listen", o.httpListen,
                 "REST, dashboard, enrollment and /metrics (HTTPS) listen address")
      ->capture_default_str();
  app.add_option("--mqtt", o.mqttUrl, "MQTT broker URL")->capture_default_str();
}

common::Status validate(const Options& o) {
  if (auto a = common::parseHostPort(o.grpcListen); !a.isOk()) {
    return a.status().withContext("--grpc-listen");
  }
  if (auto a = common::parseHostPort(o.httpListen); !a.isOk()) {
    return a.status().withContext("--http-listen");
  }
  if (o.dataDir.empty()) return common::invalidArgument("--data-dir is required");
  if (!o.mqttUrl.starts_with("mqtt://") && !o.mqttUrl.starts_with("mqtts://"))
    return common::invalidArgument("--mqtt must be an mqtt:// or mqtts:// URL");
  return common::Status::ok();
}

common::Status run(const Options&, std::stop_token) {
  return common::unavailable("skiff-hub is not implemented yet (issue #8)");
}

}  // namespace skiff::hub
