// OpenSSL adapters: keys, certificates, CSRs, a small CA toolkit and TLS context helpers.
// No raw OpenSSL handle escapes these classes except the SSL_CTX* passed in to configure*().
// All functions are thread-safe on distinct objects; none block on I/O except file loading.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_st X509;
typedef struct X509_req_st X509_REQ;
typedef struct ssl_ctx_st SSL_CTX;

namespace skiff::common::tls {

enum class KeyType { kEcP256, kEd25519 };

class PrivateKey {
 public:
  static Result<PrivateKey> generate(KeyType type = KeyType::kEcP256);
  static Result<PrivateKey> fromPem(std::string_view pem);
  Result<std::string> toPem() const;         // PKCS#8, unencrypted
  Result<std::string> publicKeyPem() const;  // SubjectPublicKeyInfo
  // Ed25519 (or ECDSA-SHA256) signature over data; raw bytes.
  Result<std::string> sign(std::string_view data) const;
  EVP_PKEY* raw() const { return key_.get(); }  // for this module's adapters only

 private:
  std::shared_ptr<EVP_PKEY> key_;
  friend class CertificateAuthority;
};

// Lower-case hex SHA-256 of data.
std::string sha256Hex(std::string_view data);

// Verifies a signature made by PrivateKey::sign with the matching public key PEM.
Status verifySignature(std::string_view publicKeyPem, std::string_view data,
                       std::string_view signature);

class Certificate {
 public:
  static Result<Certificate> fromPem(std::string_view pem);
  // Loads every certificate of a PEM bundle (chain or CA bundle).
  static Result<std::vector<Certificate>> bundleFromPem(std::string_view pem);
  Result<std::string> toPem() const;
  std::string subjectCommonName() const;
  std::string issuerCommonName() const;
  std::vector<std::string> dnsNames() const;
  std::vector<std::string> ipAddresses() const;
  std::chrono::system_clock::time_point notBefore() const;
  std::chrono::system_clock::time_point notAfter() const;
  std::string serialHex() const;
  std::string fingerprintSha256() const;  // lowercase hex of the DER digest
  bool isCa() const;
  X509* raw() const { return cert_.get(); }

 private:
  std::shared_ptr<X509> cert_;
  friend class CertificateAuthority;
  friend class CertificateRequest;
};

class CertificateRequest {
 public:
  // A CSR for commonName signed by key (the key never leaves the caller).
  static Result<CertificateRequest> create(const PrivateKey& key, std::string_view commonName,
                                           const std::vector<std::string>& dnsNames = {});
  static Result<CertificateRequest> fromPem(std::string_view pem);
  Result<std::string> toPem() const;
  std::string commonName() const;
  // Checks the CSR's self-signature (proof of possession of the key).
  Status verify() const;

 private:
  std::shared_ptr<X509_REQ> req_;
  friend class CertificateAuthority;
};

enum class CertUsage { kServer, kClient, kServerAndClient };

struct IssueOptions {
  std::string commonName;  // empty: take it from the CSR
  std::vector<std::string> dnsNames;
  std::vector<std::string> ipAddresses;
  std::vector<std::string> organizations;  // subject O= (Kubernetes groups)
  CertUsage usage = CertUsage::kClient;
  std::chrono::seconds validity = std::chrono::hours(24 * 365);
};

class CertificateAuthority {
 public:
  // New self-signed CA with an EC P-256 key.
  static Result<CertificateAuthority> create(
      std::string_view commonName,
      std::chrono::seconds validity = std::chrono::hours(24 * 365 * 10));
  static Result<CertificateAuthority> fromPem(std::string_view certPem, std::string_view keyPem);

  // Issues a leaf certificate for a CSR after verifying its self-signature.
  Result<Certificate> issue(const CertificateRequest& csr, const IssueOptions& opts) const;
  // Convenience: generates a key, CSR and certificate in one go (tests, init commands).
  struct KeyAndCert {
    PrivateKey key;
    Certificate cert;
  };
  Result<KeyAndCert> issueNew(const IssueOptions& opts) const;
  // Checks that cert was signed by this CA and is within its validity period.
  Status verify(const Certificate& cert) const;

  const Certificate& certificate() const { return cert_; }
  const PrivateKey& key() const { return key_; }

 private:
  Certificate cert_;
  PrivateKey key_;
};

// PEM files for a TLS endpoint. caFile verifies the peer; empty = no peer verification
// for servers, system roots for clients.
struct TlsFiles {
  std::string certFile;
  std::string keyFile;
  std::string caFile;
};

enum class ClientAuth { kNone, kOptional, kRequired };

// Configures an SSL_CTX for a server: TLS >= 1.2, cert+key, peer verification per clientAuth
// against caFile, ALPN restricted to alpnProtocols (default http/1.1 only: we do not speak h2).
Status configureServerContext(SSL_CTX* ctx, const TlsFiles& files, ClientAuth clientAuth,
                              const std::vector<std::string>& alpnProtocols = {"http/1.1"});
// Configures an SSL_CTX for a client: verifies the server against caFile, presents cert+key
// when given.
Status configureClientContext(SSL_CTX* ctx, const TlsFiles& files);

}  // namespace skiff::common::tls
