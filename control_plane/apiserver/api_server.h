// The Kubernetes API server: routes HTTP requests to resources, verbs and subresources over an
// ObjectStore, with discovery, OpenAPI, Tables, selectors, pagination, watch, patch, graceful
// deletion, authentication and authorization. Thread-safe: one instance serves every
// connection thread of the HTTP server.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <prometheus/registry.h>

#include "common/http/server.h"
#include "control_plane/apiserver/auth.h"
#include "control_plane/apiserver/errors.h"
#include "control_plane/apiserver/object_store.h"
#include "control_plane/apiserver/strategy.h"

namespace skiff::control_plane::apiserver {

// The default/kubernetes Service's cluster IP: the first address of the service range
// (10.43.0.0/16), reserved (the allocator hands out offsets from 2).
inline constexpr const char* kKubernetesServiceIP = "10.43.0.1";

struct ApiServerOptions {
  // nullptr = no authentication (every request is admin). Only for in-process tests.
  std::shared_ptr<TokenAuthenticator> tokens;
  bool requireAuth = true;
  std::chrono::seconds minWatchTimeout{1800};  // like --min-request-timeout
  std::chrono::milliseconds bookmarkInterval{60000};
  // Kubelet endpoint TLS for pods/log proxying: CA to verify kubelets, client cert/key to
  // present. Empty = no verification of the kubelet (virtual nodes with self-signed certs).
  common::tls::TlsFiles kubeletClient;
  DefaultingOptions defaulting;
};

class ApiServer {
 public:
  ApiServer(ObjectStore& store, ApiServerOptions opts,
            std::shared_ptr<prometheus::Registry> metrics);
  ~ApiServer();

  void handle(const common::http::Request& req, common::http::ResponseWriter& w);
  // Wakes and ends open watches (server shutdown).
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace skiff::control_plane::apiserver
