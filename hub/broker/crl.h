// Certificate revocation lists (OpenSSL adapter): the hub CA signs a CRL of the device
// certificates the broker must refuse (Mosquitto's `crlfile`). The CRL has no nextUpdate, so a
// hub that is down for a while never makes the broker refuse every client because the list
// "expired"; entries leave once their certificate has expired anyway. Thread-safe.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/tls.h"

namespace skiff::hub::broker {

struct CrlEntry {
  std::string serialHex;  // lower- or upper-case hex
  std::chrono::system_clock::time_point revokedAt;
};

// A v2 CRL in PEM, issued now (thisUpdate = issuedAt, whole seconds).
common::Result<std::string> buildCrl(const common::tls::CertificateAuthority& ca,
                                     const std::vector<CrlEntry>& entries,
                                     std::chrono::system_clock::time_point issuedAt);

struct CrlInfo {
  std::chrono::system_clock::time_point thisUpdate;
  std::set<std::string> serials;  // lower-case hex
};
// Reads a PEM CRL. InvalidArgument when it is not one.
common::Result<CrlInfo> readCrl(std::string_view pem);

}  // namespace skiff::hub::broker
