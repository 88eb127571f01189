// X509_CRL building and reading.
#include "hub/broker/crl.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace skiff::hub::broker {

using common::Result;

namespace {

struct CrlDeleter {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct AsnTimeDeleter {
  void operator()(ASN1_TIME* t) const { ASN1_TIME_free(t); }
};
struct BnDeleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
};

std::string lastError(const std::string& what) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return what + ": " + buf;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::chrono::system_clock::time_point fromAsn1(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

Result<std::string> buildCrl(const common::tls::CertificateAuthority& ca,
                             const std::vector<CrlEntry>& entries,
                             std::chrono::system_clock::time_point issuedAt) {
  ERR_clear_error();
  std::unique_ptr<X509_CRL, CrlDeleter> crl(X509_CRL_new());
  if (!crl) return common::internalError(lastError("allocating CRL"));
  if (X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.certificate().raw())) != 1) {
    return common::internalError(lastError("CRL issuer"));
  }
  std::unique_ptr<ASN1_TIME, AsnTimeDeleter> now(
      ASN1_TIME_set(nullptr, std::chrono::system_clock::to_time_t(issuedAt)));
  if (!now || X509_CRL_set1_lastUpdate(crl.get(), now.get()) != 1) {
    return common::internalError(lastError("CRL lastUpdate"));
  }
  for (const auto& e : entries) {
    BIGNUM* raw = nullptr;
    if (e.serialHex.empty() || BN_hex2bn(&raw, e.serialHex.c_str()) == 0) {
      return common::invalidArgument("CRL: bad serial \"" + e.serialHex + "\"");
    }
    std::unique_ptr<BIGNUM, BnDeleter> bn(raw);
    X509_REVOKED* rev = X509_REVOKED_new();
    ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn.get(), nullptr);
    ASN1_TIME* when = ASN1_TIME_set(nullptr, std::chrono::system_clock::to_time_t(e.revokedAt));
    bool ok = rev != nullptr && serial != nullptr && when != nullptr &&
              X509_REVOKED_set_serialNumber(rev, serial) == 1 &&
              X509_REVOKED_set_revocationDate(rev, when) == 1;
    ASN1_INTEGER_free(serial);
    ASN1_TIME_free(when);
    if (!ok || X509_CRL_add0_revoked(crl.get(), rev) != 1) {
      X509_REVOKED_free(rev);
      return common::internalError(lastError("CRL entry"));
    }
  }
  X509_CRL_sort(crl.get());
  if (X509_CRL_sign(crl.get(), ca.key().raw(), EVP_sha256()) <= 0) {
    return common::internalError(lastError("signing CRL"));
  }
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) {
    return common::internalError(lastError("encoding CRL"));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

Result<CrlInfo> readCrl(std::string_view pem) {
  ERR_clear_error();
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return common::internalError("allocating BIO");
  std::unique_ptr<X509_CRL, CrlDeleter> crl(
      PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (!crl) return common::invalidArgument(lastError("not a PEM CRL"));
  CrlInfo info;
  info.thisUpdate = fromAsn1(X509_CRL_get0_lastUpdate(crl.get()));
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    const ASN1_INTEGER* serial = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i));
    std::unique_ptr<BIGNUM, BnDeleter> bn(ASN1_INTEGER_to_BN(serial, nullptr));
    if (!bn) continue;
    char* hex = BN_bn2hex(bn.get());
    if (hex == nullptr) continue;
    info.serials.insert(lower(hex));
    OPENSSL_free(hex);
  }
  return info;
}

}  // namespace skiff::hub::broker
