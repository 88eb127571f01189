// Enrollment and certificate renewal against the hub (docs/hub-api.md "Enrollment"), over HTTPS
// with libcurl.
//
// Bootstrap trust for the first HTTPS call (docs/agent.md "Enrollment"), one of:
//   --ca-file F        the hub CA certificate copied to the device out of band (preferred);
//   --ca-sha256 H      the SHA-256 fingerprint of a certificate the hub's HTTPS endpoint presents
//                      (its CA, or its own certificate), as printed by the hub: that certificate
//                      becomes the only trust anchor (like kubeadm's
//                      --discovery-token-ca-cert-hash);
//   --insecure-skip-tls-verify-for-enroll   no verification (lab use; logged loudly). The
//                      one-time token can then be stolen by whoever answers instead of the hub.
// The device key is generated here (EC P-256) and never leaves the device; the hub receives only
// a CSR. Everything returned is checked (certificate parses, matches the key and names the device
// id, URLs have the right schemes) before anything is written.
//
// Renewal: when less than a third of the certificate's validity remains, the agent posts a CSR
// for the same key to the renew URL over TLS with its current certificate and replaces
// device.crt atomically (the key stays: one file changes, so a crash cannot mismatch key and
// certificate). Blocking; thread-safe.
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"
#include "edge_agent/identity.h"

namespace skiff::edge_agent {

struct EnrollOptions {
  std::string hubUrl;  // https://host:port
  std::string token;
  std::string caFile;
  std::string caSha256;  // hex, with or without ':' separators or a "sha256:" prefix
  bool insecureSkipVerify = false;
  std::string stateDir;
  bool force = false;  // re-enroll an enrolled device (new key)
  std::chrono::seconds timeout{30};
};

// Checks the flags (exactly one trust option, https URL, token present). InvalidArgument names
// the flag.
common::Status validateEnrollOptions(const EnrollOptions& o);
// Normalizes a fingerprint to 64 lower-case hex digits; InvalidArgument otherwise.
common::Result<std::string> normalizeFingerprint(std::string_view fp);

// Enrolls the device and writes its identity (see identity.h). AlreadyExists if enrolled and not
// force; Unauthenticated for a refused token (the hub's message) or an untrusted hub.
common::Result<Identity> enroll(const EnrollOptions& o);

// True when less than a third of the certificate's validity remains at now.
bool renewalDue(std::chrono::system_clock::time_point notBefore,
                std::chrono::system_clock::time_point notAfter,
                std::chrono::system_clock::time_point now);

// Renews the device certificate if due (or force). Returns true if it was replaced.
common::Result<bool> renewIfDue(const IdentityFiles& files, bool force = false,
                                std::chrono::seconds timeout = std::chrono::seconds(30));

}  // namespace skiff::edge_agent
