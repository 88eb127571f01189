// Enrollment tokens, CSR signing, renewal.
#include "hub/enrollment.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "common/log.h"
#include "common/protocol/protocol.h"
#include "hub/model.h"
#include "hub/random_id.h"

namespace skiff::hub {

using common::Json;
using common::Result;
using common::Status;

struct Enrollment::Metrics {
  prometheus::Family<prometheus::Counter>* results = nullptr;
  void count(const char* op, const char* result) {
    if (results) results->Add({{"operation", op}, {"result", result}}).Increment();
  }
};

namespace {

std::int64_t toMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string rfc3339Ms(std::int64_t ms) {
  return common::formatRfc3339(
      std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

}  // namespace

Enrollment::Enrollment(EnrollmentOptions opts) : opts_(std::move(opts)), metrics_(new Metrics) {
  caPem_ = opts_.ca->certificate().toPem().valueOr("");
  if (opts_.metrics) {
    metrics_->results = &prometheus::BuildCounter()
                             .Name("skiff_hub_enrollments_total")
                             .Help("Enrollment and renewal requests by operation and result")
                             .Register(*opts_.metrics);
  }
}

Enrollment::~Enrollment() = default;

Result<v1::EnrollmentToken> Enrollment::createToken(const std::string& deviceId,
                                                    std::int64_t ttlSeconds) {
  if (ttlSeconds < 0 || ttlSeconds > opts_.maxTokenTtl.count()) {
    return common::invalidArgument("ttlSeconds: must be between 0 (default " +
                                   std::to_string(opts_.defaultTokenTtl.count()) + ") and " +
                                   std::to_string(opts_.maxTokenTtl.count()));
  }
  if (!opts_.fleet->deviceExists(deviceId)) {
    return common::notFound("device \"" + deviceId + "\" not found (create it first)");
  }
  std::string token = "skiff-enroll-" + randomAlnum(40);
  auto now = opts_.clock->now();
  EnrollmentTokenRecord rec;
  rec.deviceId = deviceId;
  rec.createdAtMs = toMs(now);
  rec.expiresAtMs = toMs(
      now + std::chrono::seconds(ttlSeconds == 0 ? opts_.defaultTokenTtl.count() : ttlSeconds));
  auto w = opts_.store->create(keys::token(common::tls::sha256Hex(token)),
                               common::dumpJson(toJson(rec)));
  if (!w.isOk()) return w.status().withContext("storing the enrollment token");
  v1::EnrollmentToken out;
  out.set_token(token);
  out.set_device_id(deviceId);
  out.set_expires_at_unix_ms(rec.expiresAtMs);
  return out;
}

Result<Json> Enrollment::issue(const std::string& deviceId, const std::string& csrPem,
                               bool revokePrevious) {
  auto csr = common::tls::CertificateRequest::fromPem(csrPem);
  if (!csr.isOk()) return common::invalidArgument("csr: " + csr.status().message());
  if (auto v = csr->verify(); !v.isOk()) return common::invalidArgument("csr: " + v.message());
  common::tls::IssueOptions io;
  io.commonName = deviceId;
  io.organizations = {"skiff:devices"};
  io.usage = common::tls::CertUsage::kClient;
  io.validity = opts_.certificateValidity;
  auto cert = opts_.ca->issue(*csr, io);
  if (!cert.isOk()) return common::invalidArgument("csr: " + cert.status().message());
  SKIFF_ASSIGN_OR_RETURN(std::string certPem, cert->toPem());
  SKIFF_RETURN_IF_ERROR(opts_.fleet->recordCertificate(deviceId, cert->serialHex(),
                                                       toMs(cert->notAfter()), revokePrevious));
  return Json{{"deviceId", deviceId},
              {"certificate", certPem},
              {"caCertificate", caPem_},
              {"mqttUrl", opts_.mqttUrl},
              {"hubSigningPublicKey", opts_.signingPublicKeyPem},
              {"renewUrl", opts_.renewUrl}};
}

Result<Json> Enrollment::enroll(const std::string& token, const std::string& csrPem) {
  auto fail = [this](Status s) -> Result<Json> {
    metrics_->count("enroll",
                    s.code() == common::StatusCode::kUnauthenticated ? "refused" : "invalid");
    return s;
  };
  if (token.empty()) return fail(common::unauthenticated("token: required"));
  if (csrPem.empty()) return fail(common::invalidArgument("csr: required"));
  std::string key = keys::token(common::tls::sha256Hex(token));
  auto kv = opts_.store->get(key);
  if (!kv.isOk()) {
    if (kv.status().code() == common::StatusCode::kNotFound) {
      return fail(common::unauthenticated("unknown enrollment token"));
    }
    return kv.status();
  }
  SKIFF_ASSIGN_OR_RETURN(Json j, parseStored(kv->key, kv->value));
  SKIFF_ASSIGN_OR_RETURN(EnrollmentTokenRecord rec, enrollmentTokenFromJson(j));
  std::int64_t nowMs = toMs(opts_.clock->now());
  if (rec.usedAtMs != 0) {
    return fail(common::unauthenticated("enrollment token was already used at " +
                                        rfc3339Ms(rec.usedAtMs) + "; create a new one"));
  }
  if (rec.expiresAtMs <= nowMs) {
    return fail(common::unauthenticated("enrollment token expired at " +
                                        rfc3339Ms(rec.expiresAtMs) + "; create a new one"));
  }
  auto device = opts_.fleet->getDevice(rec.deviceId, false);
  if (!device.isOk()) {
    return fail(
        common::unauthenticated("the token's device \"" + rec.deviceId + "\" no longer exists"));
  }
  if (rec.createdAtMs < device->created_at_unix_ms()) {
    return fail(common::unauthenticated("the token was created for an earlier device named \"" +
                                        rec.deviceId + "\" (deleted since)"));
  }
  // Validate the CSR before spending the token.
  auto csr = common::tls::CertificateRequest::fromPem(csrPem);
  if (!csr.isOk()) return fail(common::invalidArgument("csr: " + csr.status().message()));
  if (auto v = csr->verify(); !v.isOk())
    return fail(common::invalidArgument("csr: " + v.message()));
  EnrollmentTokenRecord used = rec;
  used.usedAtMs = nowMs;
  auto cas = opts_.store->update(key, common::dumpJson(toJson(used)), kv->modRevision);
  if (!cas.isOk()) {
    if (cas.status().code() == common::StatusCode::kConflict ||
        cas.status().code() == common::StatusCode::kNotFound) {
      return fail(common::unauthenticated("enrollment token was already used"));
    }
    return cas.status();
  }
  auto doc = issue(rec.deviceId, csrPem, /*revokePrevious=*/true);
  if (!doc.isOk()) return fail(doc.status());
  metrics_->count("enroll", "ok");
  common::log::info("device enrolled", {{"device", rec.deviceId}});
  return doc;
}

Result<Json> Enrollment::renew(const std::string& deviceId, const std::string& serial,
                               const std::string& csrPem) {
  if (auto s = opts_.fleet->checkDeviceCertificate(deviceId, serial); !s.isOk()) {
    metrics_->count("renew", "refused");
    return s;
  }
  if (csrPem.empty()) return common::invalidArgument("csr: required");
  auto doc = issue(deviceId, csrPem, /*revokePrevious=*/false);
  metrics_->count("renew", doc.isOk() ? "ok" : "invalid");
  return doc;
}

void Enrollment::cleanup() {
  auto list = opts_.store->list(keys::kTokens);
  if (!list.isOk()) return;
  std::int64_t cutoff = toMs(opts_.clock->now()) - 24 * 3600 * 1000;
  for (const auto& kv : list->items) {
    auto j = parseStored(kv.key, kv.value);
    if (!j.isOk()) continue;
    auto rec = enrollmentTokenFromJson(*j);
    if (!rec.isOk()) continue;
    bool stale = rec->expiresAtMs < cutoff || (rec->usedAtMs != 0 && rec->usedAtMs < cutoff);
    if (stale) (void)opts_.store->remove(kv.key, kv.modRevision);
  }
}

}  // namespace skiff::hub
