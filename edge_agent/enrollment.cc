// Enrollment and renewal (see enrollment.h).
#include "edge_agent/enrollment.h"

#include <openssl/x509.h>

#include <algorithm>

#include "common/clock.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/protocol/protocol.h"
#include "common/tls.h"
#include "edge_agent/http_client.h"

namespace skiff::edge_agent {

namespace tls = common::tls;
using common::Json;
using common::Result;
using common::Status;

namespace {

struct HubDocument {
  std::string deviceId;
  std::string certificate;
  std::string caCertificate;
  std::string mqttUrl;
  std::string hubSigningPublicKey;
  std::string renewUrl;
};

// The hub's error message ({"error": {"code", "message"}}) or the raw body.
std::string hubMessage(const std::string& body) {
  auto j = common::parseJson(body, 1 << 20);
  if (j.isOk() && j->is_object() && j->contains("error") && (*j)["error"].is_object()) {
    const Json& e = (*j)["error"];
    if (e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
  }
  return body.substr(0, 300);
}

Status httpError(long status, const std::string& what, const std::string& body) {
  std::string msg = what + ": hub answered " + std::to_string(status) + ": " + hubMessage(body);
  if (status == 401 || status == 403) return common::unauthenticated(msg);
  if (status == 400 || status == 413) return common::invalidArgument(msg);
  if (status == 404) return common::notFound(msg);
  return common::unavailable(msg);
}

// Parses and checks the enrollment/renewal document against our key.
Result<HubDocument> parseHubDocument(const std::string& body, const tls::PrivateKey& key) {
  auto j = common::parseJson(body, 1 << 20);
  if (!j.isOk()) return j.status().withContext("hub response");
  if (!j->is_object()) return common::invalidArgument("hub response: not a JSON object");
  common::JsonFields f(*j, "response");
  HubDocument d;
  for (auto [name, out] : {std::pair{"deviceId", &d.deviceId},
                           {"certificate", &d.certificate},
                           {"caCertificate", &d.caCertificate},
                           {"mqttUrl", &d.mqttUrl},
                           {"hubSigningPublicKey", &d.hubSigningPublicKey},
                           {"renewUrl", &d.renewUrl}}) {
    SKIFF_ASSIGN_OR_RETURN(*out, f.requireString(name));
  }
  SKIFF_RETURN_IF_ERROR(
      common::protocol::validateDeviceId(d.deviceId).withContext("response.deviceId"));
  if (!d.mqttUrl.starts_with("mqtts://") && !d.mqttUrl.starts_with("mqtt://")) {
    return common::invalidArgument("response.mqttUrl: must start with mqtts:// or mqtt://");
  }
  if (!d.renewUrl.starts_with("https://")) {
    return common::invalidArgument("response.renewUrl: must start with https://");
  }
  SKIFF_ASSIGN_OR_RETURN(tls::Certificate cert, tls::Certificate::fromPem(d.certificate));
  if (cert.subjectCommonName() != d.deviceId) {
    return common::invalidArgument("response.certificate: CN \"" + cert.subjectCommonName() +
                                   "\" is not the device id \"" + d.deviceId + "\"");
  }
  if (X509_check_private_key(cert.raw(), key.raw()) != 1) {
    return common::invalidArgument("response.certificate: does not match the device key");
  }
  SKIFF_RETURN_IF_ERROR(tls::Certificate::bundleFromPem(d.caCertificate)
                            .status()
                            .withContext("response.caCertificate"));
  // A public key that fails to parse fails verification of anything, including garbage.
  if (!d.hubSigningPublicKey.starts_with("-----BEGIN PUBLIC KEY-----")) {
    return common::invalidArgument("response.hubSigningPublicKey: not a PEM public key");
  }
  return d;
}

Status writeHubFiles(const IdentityFiles& files, const HubDocument& d) {
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(files.cert(), d.certificate, 0644));
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(files.ca(), d.caCertificate, 0644));
  SKIFF_RETURN_IF_ERROR(
      common::writeFileAtomic(files.hubSigningKey(), d.hubSigningPublicKey, 0644));
  return Status::ok();
}

}  // namespace

Result<std::string> normalizeFingerprint(std::string_view fp) {
  std::string s(fp);
  if (s.starts_with("sha256:") || s.starts_with("SHA256:")) s = s.substr(7);
  std::string out;
  for (char c : s) {
    if (c == ':') continue;
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isxdigit(static_cast<unsigned char>(l))) {
      return common::invalidArgument("--ca-sha256: \"" + std::string(fp) +
                                     "\" is not a SHA-256 fingerprint (64 hex digits)");
    }
    out += l;
  }
  if (out.size() != 64) {
    return common::invalidArgument("--ca-sha256: \"" + std::string(fp) +
                                   "\" is not a SHA-256 fingerprint (64 hex digits)");
  }
  return out;
}

Status validateEnrollOptions(const EnrollOptions& o) {
  if (!o.hubUrl.starts_with("https://") || o.hubUrl.size() <= 8) {
    return common::invalidArgument("--hub must be an https:// URL, got \"" + o.hubUrl + "\"");
  }
  if (o.token.empty()) return common::invalidArgument("--token is required");
  int trust =
      (o.caFile.empty() ? 0 : 1) + (o.caSha256.empty() ? 0 : 1) + (o.insecureSkipVerify ? 1 : 0);
  if (trust != 1) {
    return common::invalidArgument(
        "give exactly one of --ca-file, --ca-sha256 or --insecure-skip-tls-verify-for-enroll");
  }
  if (!o.caSha256.empty()) SKIFF_RETURN_IF_ERROR(normalizeFingerprint(o.caSha256).status());
  if (!o.caFile.empty()) {
    auto pem = common::readFile(o.caFile);
    if (!pem.isOk()) return pem.status().withContext("--ca-file");
    SKIFF_RETURN_IF_ERROR(tls::Certificate::bundleFromPem(*pem).status().withContext("--ca-file"));
  }
  if (o.stateDir.empty()) return common::invalidArgument("--state-dir is required");
  return Status::ok();
}

Result<Identity> enroll(const EnrollOptions& o) {
  SKIFF_RETURN_IF_ERROR(validateEnrollOptions(o));
  IdentityFiles files{o.stateDir};
  if (!o.force && common::readFile(files.identity()).isOk()) {
    return common::alreadyExists("this device is already enrolled (" + files.identity() +
                                 "); use --force to enroll again with a new key");
  }
  SKIFF_RETURN_IF_ERROR(common::makeDirs(o.stateDir, 0700));
  SKIFF_ASSIGN_OR_RETURN(tls::PrivateKey key, tls::PrivateKey::generate(tls::KeyType::kEcP256));
  SKIFF_ASSIGN_OR_RETURN(auto csr, tls::CertificateRequest::create(key, "skiff-device"));
  SKIFF_ASSIGN_OR_RETURN(std::string csrPem, csr.toPem());

  std::string base = o.hubUrl;
  while (base.ends_with("/")) base.pop_back();
  HttpRequest req;
  req.method = "POST";
  req.url = base + "/api/v1/enroll";
  req.headers = {"Content-Type: application/json"};
  req.body = common::dumpJson(Json{{"token", o.token}, {"csr", csrPem}});
  req.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.timeout);
  req.tls.caFile = o.caFile;
  if (!o.caSha256.empty()) req.tls.pinnedSha256 = *normalizeFingerprint(o.caSha256);
  req.tls.insecureSkipVerify = o.insecureSkipVerify;
  if (o.insecureSkipVerify) {
    common::log::warn(
        "enrolling WITHOUT verifying the hub's certificate "
        "(--insecure-skip-tls-verify-for-enroll)",
        {{"hub", o.hubUrl}});
  }
  SKIFF_ASSIGN_OR_RETURN(HttpResponse resp, httpPerform(req));
  if (resp.status != 200 && resp.status != 201) return httpError(resp.status, "enroll", resp.body);
  SKIFF_ASSIGN_OR_RETURN(HubDocument doc, parseHubDocument(resp.body, key));

  // What verifies the hub's HTTPS endpoint from now on (renewals).
  std::string hubCa;
  if (!o.caFile.empty()) {
    hubCa = *common::readFile(o.caFile);
  } else if (!o.caSha256.empty()) {
    std::string pin = *normalizeFingerprint(o.caSha256);
    for (std::size_t i = 0; i < resp.peerCertificates.size(); ++i) {
      if (resp.peerCertificates[i] == pin && i < resp.peerCertificatePems.size()) {
        hubCa = resp.peerCertificatePems[i];
      }
    }
  }
  SKIFF_ASSIGN_OR_RETURN(std::string keyPem, key.toPem());
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(files.key(), keyPem, 0600));
  SKIFF_RETURN_IF_ERROR(writeHubFiles(files, doc));
  if (!hubCa.empty()) {
    SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(files.hubCa(), hubCa, 0644));
  } else {
    std::remove(files.hubCa().c_str());
  }
  Identity id;
  id.deviceId = doc.deviceId;
  id.mqttUrl = doc.mqttUrl;
  id.renewUrl = doc.renewUrl;
  id.hubUrl = base;
  id.enrolledAt = common::formatRfc3339(std::chrono::system_clock::now());
  id.hubSigningKeyPem = doc.hubSigningPublicKey;
  SKIFF_RETURN_IF_ERROR(saveIdentity(files, id));
  common::log::info("enrolled", {{"deviceId", id.deviceId}, {"mqtt", id.mqttUrl}});
  return id;
}

bool renewalDue(std::chrono::system_clock::time_point notBefore,
                std::chrono::system_clock::time_point notAfter,
                std::chrono::system_clock::time_point now) {
  auto validity = notAfter - notBefore;
  return notAfter - now < validity / 3;
}

Result<bool> renewIfDue(const IdentityFiles& files, bool force, std::chrono::seconds timeout) {
  SKIFF_ASSIGN_OR_RETURN(Identity id, loadIdentity(files));
  SKIFF_ASSIGN_OR_RETURN(std::string certPem, common::readFile(files.cert()));
  SKIFF_ASSIGN_OR_RETURN(tls::Certificate cert, tls::Certificate::fromPem(certPem));
  if (!force && !renewalDue(cert.notBefore(), cert.notAfter(), std::chrono::system_clock::now())) {
    return false;
  }
  SKIFF_ASSIGN_OR_RETURN(std::string keyPem, common::readFile(files.key()));
  SKIFF_ASSIGN_OR_RETURN(tls::PrivateKey key, tls::PrivateKey::fromPem(keyPem));
  SKIFF_ASSIGN_OR_RETURN(auto csr, tls::CertificateRequest::create(key, id.deviceId));
  SKIFF_ASSIGN_OR_RETURN(std::string csrPem, csr.toPem());
  HttpRequest req;
  req.method = "POST";
  req.url = id.renewUrl;
  req.headers = {"Content-Type: application/json"};
  req.body = common::dumpJson(Json{{"csr", csrPem}});
  req.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  req.tls.caFile = common::readFile(files.hubCa()).isOk() ? files.hubCa() : files.ca();
  req.tls.certFile = files.cert();
  req.tls.keyFile = files.key();
  SKIFF_ASSIGN_OR_RETURN(HttpResponse resp, httpPerform(req));
  if (resp.status != 200 && resp.status != 201) return httpError(resp.status, "renew", resp.body);
  SKIFF_ASSIGN_OR_RETURN(HubDocument doc, parseHubDocument(resp.body, key));
  if (doc.deviceId != id.deviceId) {
    return common::invalidArgument("renew: the hub answered for device \"" + doc.deviceId +
                                   "\", this is \"" + id.deviceId + "\"");
  }
  SKIFF_RETURN_IF_ERROR(writeHubFiles(files, doc));
  id.mqttUrl = doc.mqttUrl;
  id.renewUrl = doc.renewUrl;
  SKIFF_RETURN_IF_ERROR(saveIdentity(files, id));
  SKIFF_ASSIGN_OR_RETURN(tls::Certificate renewed, tls::Certificate::fromPem(doc.certificate));
  common::log::info("device certificate renewed",
                    {{"deviceId", id.deviceId},
                     {"notAfter", common::formatRfc3339(renewed.notAfter())},
                     {"serial", renewed.serialHex()}});
  return true;
}

}  // namespace skiff::edge_agent
