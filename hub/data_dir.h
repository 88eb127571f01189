// The hub's data directory (docs/hub.md "Data directory") and `skiff-hub init`, which creates
// everything a first start needs: the hub CA (it signs device, broker and hub client
// certificates), the hub's serving certificate (gRPC + HTTPS), the broker's server
// certificate, the hub's MQTT client certificate (CN "hub"), the Ed25519 desired-state signing
// key, tokens.csv with an admin and a reader token, a skiffctl config for the admin, and a
// ready-to-run Mosquitto configuration with ACL and CRL.
//
// Idempotent: existing keys, tokens and the CA are never replaced. A certificate that does not
// cover the requested host names is re-issued for its existing key.
#pragma once

#include <string>
#include <vector>

#include "common/net.h"
#include "common/status.h"

namespace skiff::hub {

struct DataDirLayout {
  std::string root;
  std::string caCert, caKey;
  std::string serverCert, serverKey;          // gRPC + HTTPS
  std::string mqttClientCert, mqttClientKey;  // the hub's MQTT identity (CN hub)
  std::string brokerCert, brokerKey;
  std::string signingKey, signingPublicKey;  // Ed25519, desired state
  std::string tokensFile;
  std::string skiffctlConfig;
  std::string mosquittoDir, mosquittoConf, aclFile, crlFile, persistenceDir, brokerPidFile;
  std::string storeFile;
};
DataDirLayout layoutOf(const std::string& dataDir);

struct InitOptions {
  std::string dataDir;
  common::HostPort mqttListen{"127.0.0.1", 8883};
  std::vector<std::string> hosts;  // extra DNS names / IPs for the serving and broker certificates
  std::string grpcListen = "127.0.0.1:7443";
  std::string httpListen = "127.0.0.1:8443";
};

struct InitReport {
  std::vector<std::string> created;
  std::vector<std::string> kept;
  std::vector<std::string> updated;
};

common::Result<InitReport> initDataDir(const InitOptions& o);

// FailedPrecondition-style InvalidArgument naming the first missing file and the init command.
common::Status checkDataDir(const DataDirLayout& l);

}  // namespace skiff::hub
