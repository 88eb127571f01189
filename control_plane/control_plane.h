// skiff-control-plane as a library: data-dir bootstrap (CA, serving certificate, tokens,
// kubeconfigs, encryption key, like k3s) and the running server (store + API server over HTTPS).
// Tests start it in-process through ControlPlane::start; main() goes through run().
#pragma once

#include <memory>
#include <stop_token>
#include <string>

#include "common/net.h"
#include "common/status.h"
#include "control_plane/options.h"

namespace skiff::control_plane {

struct DataDirFiles {
  std::string caCert, caKey;          // cluster CA (signs serving and client certificates)
  std::string serverCert, serverKey;  // API server serving certificate
  // Client certificate the API server presents to kubelet endpoints (pods/log), like
  // kube-apiserver's --kubelet-client-certificate: CN kube-apiserver-kubelet-client.
  std::string kubeletClientCert, kubeletClientKey;
  std::string tokensFile;  // token,user,uid,"groups" (kube-apiserver format)
  std::string adminKubeconfig, readOnlyKubeconfig;
  std::string encryptionKey;  // AES-256-GCM key for Secrets at rest
  std::string storeFile;      // SQLite store (when --store sqlite)
};

// Creates whatever is missing under dataDir (0700) and returns the paths. Idempotent: existing
// material is reused; a serving certificate that does not cover `listenHost` is reissued.
common::Result<DataDirFiles> ensureDataDir(const std::string& dataDir,
                                           const std::string& listenHost);

class ControlPlane {
 public:
  static common::Result<std::unique_ptr<ControlPlane>> start(const Options& o);
  virtual ~ControlPlane() = default;
  virtual std::uint16_t port() const = 0;
  virtual const DataDirFiles& files() const = 0;
  // Clean shutdown: stops accepting, ends watches, closes the store. Idempotent.
  virtual void stop() = 0;
};

}  // namespace skiff::control_plane
