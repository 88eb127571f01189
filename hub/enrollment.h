// Device enrollment and certificate renewal (docs/hub-api.md "Enrollment", "Renewal"):
// one-time, expiring enrollment tokens (stored as SHA-256 digests), CSR → client certificate
// signed by the hub CA with CN = device id, and the enrollment document the agent needs (CA,
// broker URL, desired-state signing key, renewal URL).
//
// Threading: thread-safe. Token consumption is a compare-and-swap in the Store, so a token
// used twice concurrently enrolls once.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "common/store/store.h"
#include "common/tls.h"
#include "hub/fleet/fleet.h"
#include "skiff/v1/hub.pb.h"

namespace prometheus {
class Registry;
}

namespace skiff::hub {

struct EnrollmentOptions {
  common::store::Store* store = nullptr;
  fleet::Fleet* fleet = nullptr;
  const common::tls::CertificateAuthority* ca = nullptr;
  const common::Clock* clock = &common::SystemClock::instance();
  std::chrono::seconds certificateValidity{90 * 24 * 3600};
  std::chrono::seconds defaultTokenTtl{3600};
  std::chrono::seconds maxTokenTtl{7 * 24 * 3600};
  std::string mqttUrl;   // advertised broker URL
  std::string renewUrl;  // advertised renewal endpoint
  std::string signingPublicKeyPem;
  std::shared_ptr<prometheus::Registry> metrics;
};

class Enrollment {
 public:
  explicit Enrollment(EnrollmentOptions opts);
  ~Enrollment();
  // NotFound for an unknown device; InvalidArgument for a TTL outside 0..max (0 = default).
  common::Result<v1::EnrollmentToken> createToken(const std::string& deviceId,
                                                  std::int64_t ttlSeconds);
  // Unauthenticated (saying which) for an unknown, used or expired token; InvalidArgument
  // (field "csr") for a bad CSR. Returns the enrollment document.
  common::Result<common::Json> enroll(const std::string& token, const std::string& csrPem);
  // The caller verified the client certificate against the hub CA; serial identifies it.
  common::Result<common::Json> renew(const std::string& deviceId, const std::string& serial,
                                     const std::string& csrPem);
  // Deletes tokens that expired or were used more than a day ago.
  void cleanup();

 private:
  struct Metrics;
  common::Result<common::Json> issue(const std::string& deviceId, const std::string& csrPem,
                                     bool revokePrevious);
  EnrollmentOptions opts_;
  std::string caPem_;
  std::unique_ptr<Metrics> metrics_;
};

}  // namespace skiff::hub
