// The hub's HTTPS face (docs/hub-api.md): the read-mostly REST/JSON API under /api/v1 with
// bearer tokens, Server-Sent Events (/api/v1/stream), enrollment (token) and renewal (client
// certificate), /healthz, and the dashboard's static files for everything else. /metrics is
// answered by the HTTP server itself. One handler call per request on the server's connection
// thread; streaming endpoints keep their thread until the client leaves. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "common/http/router.h"
#include "common/http/server.h"
#include "hub/api/static_files.h"
#include "hub/auth.h"
#include "hub/enrollment.h"
#include "hub/fleet/fleet.h"
#include "hub/mqtt/rpc_client.h"

namespace skiff::hub::api {

struct RestApiOptions {
  std::chrono::milliseconds rpcTimeout{10000};
  std::chrono::seconds keepAlive{15};
  std::chrono::milliseconds streamInterval{250};  // SSE: at most one batch per interval
  std::size_t defaultEventLimit = 100;
};

class RestApi {
 public:
  RestApi(fleet::Fleet& fleet, Enrollment& enrollment, mqtt::RpcClient& rpc,
          const TokenAuthenticator& tokens, StaticFiles dashboard, RestApiOptions opts);
  void handle(const common::http::Request& req, common::http::ResponseWriter& w);
  // Ends open streams.
  void shutdown() { stopping_ = true; }

 private:
  // /api/...: authentication, then the route table (addRoutes()).
  void api(const common::http::Request& req, common::http::ResponseWriter& w);
  void addRoutes();
  // PUT /api/v1/devices/{id}/labels.
  void putLabels(const common::http::Request& req, common::http::ResponseWriter& w,
                 const std::string& id, const Principal& principal);
  // /api/v1/pods: the hub deployments that stand for Kubernetes pods.
  void pods(common::http::ResponseWriter& w);
  void stream(common::http::ResponseWriter& w);
  void logs(const common::http::Request& req, common::http::ResponseWriter& w,
            const std::string& deviceId, const std::string& module);
  void enroll(const common::http::Request& req, common::http::ResponseWriter& w);
  void renew(const common::http::Request& req, common::http::ResponseWriter& w);

  fleet::Fleet& fleet_;
  Enrollment& enrollment_;
  mqtt::RpcClient& rpc_;
  const TokenAuthenticator& tokens_;
  StaticFiles dashboard_;
  RestApiOptions opts_;
  common::http::Router<const Principal&> routes_;
  std::atomic<bool> stopping_{false};
};

}  // namespace skiff::hub::api
