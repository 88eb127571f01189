// Kubeconfig loading (the file kubectl uses): the current (or a named) context's cluster and user,
// with certificate-authority[-data], insecure-skip-tls-verify, token / tokenFile
// and client-certificate[-data] / client-key[-data]. File references are resolved relative to the
// kubeconfig's directory, as kubectl does. Loading never throws (yaml-cpp's exceptions stay in
// here); every error names the file and the offending field.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace skiff::virtual_node::kube {

struct KubeConfig {
  std::string server;  // "https://127.0.0.1:6443" (http:// only for tests)
  std::string caPem;   // empty: system roots
  bool insecureSkipTlsVerify = false;
  std::string token;          // bearer token ("" = none)
  std::string clientCertPem;  // client certificate authentication (with clientKeyPem)
  std::string clientKeyPem;
  std::string ns = "default";  // the context's namespace
  std::string contextName;
  std::string userName;
};

// Parses kubeconfig text. dir resolves relative file references; source names the file in
// errors. context "" means current-context. InvalidArgument names the field
// ("kubeconfig /k: users[0].user.client-key: required with client-certificate").
common::Result<KubeConfig> parseKubeConfig(std::string_view text, const std::string& dir,
                                           const std::string& source,
                                           const std::string& context = "");

// Reads and parses a kubeconfig file (NotFound when it does not exist).
common::Result<KubeConfig> loadKubeConfig(const std::string& path, const std::string& context = "");

}  // namespace skiff::virtual_node::kube
