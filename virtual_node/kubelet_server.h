// The kubelet endpoint of the virtual node: HTTPS with its own serving certificate, requiring a
// client certificate signed by the cluster's client CA for everything but /healthz. Serves
// GET /containerLogs/{namespace}/{pod}/{container}?follow&tailLines&sinceSeconds&timestamps&
// limitBytes&previous (what the API server's pods/log proxies to), /healthz and /metrics. The
// Node status advertises it (InternalIP + daemonEndpoints.kubeletEndpoint.Port).
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>

#include "common/http/router.h"
#include "common/http/server.h"
#include "virtual_node/kube/informer.h"
#include "virtual_node/provider.h"

namespace skiff::virtual_node {

struct KubeletServerOptions {
  common::HostPort listen{"127.0.0.1", 10250};
  common::tls::TlsFiles tls;  // serving cert/key; caFile verifies client certificates
  std::shared_ptr<prometheus::Registry> metrics;
  // Who may read logs: a verified client certificate with one of these CNs or organizations
  // (kube-apiserver's kubelet client certificate has CN kube-apiserver-kubelet-client).
  std::set<std::string> allowedUsers = {"kube-apiserver-kubelet-client", "system:kube-apiserver"};
  std::set<std::string> allowedGroups = {"system:masters"};
};

// Finds a pod bound to this virtual node ("" when unknown).
using PodLookup = std::function<kube::ObjectPtr(const std::string& ns, const std::string& name)>;

class KubeletServer {
 public:
  static common::Result<std::unique_ptr<KubeletServer>> start(KubeletServerOptions opts,
                                                              ContainerLogProvider& logs,
                                                              PodLookup lookup);
  ~KubeletServer();
  std::uint16_t port() const;
  void stop();

 private:
  KubeletServer() = default;
  void handle(const common::http::Request& req, common::http::ResponseWriter& w);
  void containerLogs(const common::http::Request& req, common::http::ResponseWriter& w,
                     const std::string& ns, const std::string& name, const std::string& container);

  KubeletServerOptions opts_;
  ContainerLogProvider* logs_ = nullptr;
  PodLookup lookup_;
  common::http::Router<> routes_;  // after authorization
  std::unique_ptr<common::http::Server> server_;
};

// Serving certificate for the kubelet endpoint: certFile/keyFile when given, otherwise a
// self-signed pair in certDir (kubelet.crt/kubelet.key, created when missing or when it does not
// cover address), as a kubelet without --tls-cert-file does.
common::Result<common::tls::TlsFiles> ensureServingCert(const std::string& certDir,
                                                        const std::string& certFile,
                                                        const std::string& keyFile,
                                                        const std::string& address,
                                                        const std::string& nodeName);

}  // namespace skiff::virtual_node
