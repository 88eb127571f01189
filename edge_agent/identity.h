// The device's identity in the state directory, written by `skiff-agent enroll` and read by
// `skiff-agent run` (docs/agent.md "State directory"):
//
//   identity.json     {"schema":1,"deviceId","mqttUrl","renewUrl","hubUrl","enrolledAt"}
//   device.key        the device's private key (0600; generated here, never leaves the device)
//   device.crt        its client certificate (MQTT + renewal), issued by the hub CA
//   ca.crt            the hub CA: verifies the MQTT broker
//   hub-ca.crt        what verifies the hub's HTTPS endpoint (absent after an insecure bootstrap:
//                     ca.crt is used instead)
//   hub-signing.pub   the hub's Ed25519 public key that signs desired documents
//
// identity.json is written last, so a crash during enrollment leaves the device not enrolled
// rather than half-enrolled. Plain functions; blocking file I/O; thread-safe.
#pragma once

#include <string>

#include "common/status.h"

namespace skiff::edge_agent {

struct IdentityFiles {
  std::string dir;
  std::string identity() const { return dir + "/identity.json"; }
  std::string key() const { return dir + "/device.key"; }
  std::string cert() const { return dir + "/device.crt"; }
  std::string ca() const { return dir + "/ca.crt"; }
  std::string hubCa() const { return dir + "/hub-ca.crt"; }
  std::string hubSigningKey() const { return dir + "/hub-signing.pub"; }
};

struct Identity {
  std::string deviceId;
  std::string mqttUrl;   // mqtts://host:port
  std::string renewUrl;  // https://host:port/api/v1/renew
  std::string hubUrl;    // https://host:port (what enroll was given)
  std::string enrolledAt;
  std::string hubSigningKeyPem;
};

// Reads and validates identity.json and the signing key. NotFound (with a hint to run
// `skiff-agent enroll`) when the device is not enrolled; InvalidArgument naming the file and
// field for a damaged identity.
common::Result<Identity> loadIdentity(const IdentityFiles& files);

// Writes identity.json (atomically, last step of enrollment).
common::Status saveIdentity(const IdentityFiles& files, const Identity& id);

}  // namespace skiff::edge_agent
