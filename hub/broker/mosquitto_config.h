// The Mosquitto configuration skiff-hub writes (docs/hub.md "Broker"): a TLS listener that
// requires client certificates from the hub CA, takes the certificate CN as the username, checks
// a CRL and a per-device pattern ACL (docs/protocol.md), keeps persistent sessions and retained
// messages on disk, and queues enough messages for the hub's session to ride out a restart.
// Pure text generation; thread-safe.
#pragma once

#include <set>
#include <string>

#include "common/net.h"

namespace skiff::hub::broker {

struct MosquittoConfig {
  common::HostPort listen{"127.0.0.1", 8883};
  std::string caFile;
  std::string certFile;
  std::string keyFile;
  std::string crlFile;
  std::string aclFile;
  std::string persistenceDir;  // with trailing '/'
  bool runAsRoot = false;      // `user root` (mosquitto would otherwise drop to "mosquitto")
};

std::string mosquittoConf(const MosquittoConfig& c);

// The protocol's ACL plus `user <id> / topic deny #` for every denied (deleted) device id.
std::string aclFile(const std::set<std::string>& deniedDevices);

}  // namespace skiff::hub::broker
