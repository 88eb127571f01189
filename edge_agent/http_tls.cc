// OpenSSL side of the agent's HTTP client: context setup and the replacement chain verification
// (CA / pinned certificate / none) with a host-name check that libcurl used to do.
#include "edge_agent/http_tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>
#include <vector>

namespace skiff::edge_agent {

namespace {

using common::Status;

struct StoreDeleter {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxDeleter {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};

std::string hex(const unsigned char* d, unsigned n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += kDigits[d[i] >> 4];
    out += kDigits[d[i] & 15];
  }
  return out;
}

std::string certSha256(X509* c) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (X509_digest(c, EVP_sha256(), md, &n) != 1) return "";
  return hex(md, n);
}

std::string certPem(X509* c) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_X509(bio.get(), c) != 1) return "";
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// The oldest queued OpenSSL error as text (and the queue cleared), for load failures.
std::string opensslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

bool isIpLiteral(const std::string& host) {
  unsigned char addr[16];
  return inet_pton(AF_INET, host.c_str(), addr) == 1 ||
         inet_pton(AF_INET6, host.c_str(), addr) == 1;
}

}  // namespace

TlsPeerVerifier::TlsPeerVerifier(const HttpTls& tls, std::string host, HttpResponse& resp)
    : tls_(tls), host_(std::move(host)), hostIsIp_(isIpLiteral(host_)), resp_(resp) {}

Status TlsPeerVerifier::configure(SSL_CTX* ctx) {
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return common::internalError("TLS: " + opensslError());
  }
  // No session cache: each request has its own context and verification policy.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (!tls_.caFile.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, tls_.caFile.c_str(), nullptr) != 1) {
      return common::unauthenticated("CA file " + tls_.caFile + ": " + opensslError());
    }
  } else if (tls_.pinnedSha256.empty() && !tls_.insecureSkipVerify) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return common::unauthenticated("system trust roots: " + opensslError());
    }
  }  // else: no anchors in the context at all; verifyChain() uses the pinned certificate only
  if (!tls_.certFile.empty()) {
    // Like libcurl: without a key file the key is expected in the certificate file.
    const std::string& keyFile = tls_.keyFile.empty() ? tls_.certFile : tls_.keyFile;
    if (SSL_CTX_use_certificate_chain_file(ctx, tls_.certFile.c_str()) != 1) {
      return common::unauthenticated("client certificate " + tls_.certFile + ": " + opensslError());
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, keyFile.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      return common::unauthenticated("client key " + keyFile + ": " + opensslError());
    }
  }
  // Verification always runs (it records the chain); verifyChain() decides.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx, &TlsPeerVerifier::verifyChain, this);
  return Status::ok();
}

Status TlsPeerVerifier::prepare(SSL* ssl) const {
  if (!hostIsIp_ && SSL_set_tlsext_host_name(ssl, host_.c_str()) != 1) {
    return common::internalError("TLS: setting the server name: " + opensslError());
  }
  return Status::ok();
}

int TlsPeerVerifier::verifyChain(X509_STORE_CTX* xctx, void* arg) {
  return static_cast<TlsPeerVerifier*>(arg)->verify(xctx);
}

// Replaces OpenSSL's chain verification: records the presented chain, verifies it against the
// context's anchors or, in pinning mode, against the pinned certificate alone (a fresh store, so
// no system root can stand in for it), then matches the leaf to the host.
int TlsPeerVerifier::verify(X509_STORE_CTX* xctx) {
  X509* leaf = X509_STORE_CTX_get0_cert(xctx);
  STACK_OF(X509)* untrusted = X509_STORE_CTX_get0_untrusted(xctx);
  std::vector<X509*> presented;
  if (leaf != nullptr) presented.push_back(leaf);
  for (int i = 0; untrusted != nullptr && i < sk_X509_num(untrusted); ++i) {
    X509* c = sk_X509_value(untrusted, i);
    if (c != leaf) presented.push_back(c);
  }
  resp_.peerCertificates.clear();
  resp_.peerCertificatePems.clear();
  for (X509* c : presented) {
    resp_.peerCertificates.push_back(certSha256(c));
    resp_.peerCertificatePems.push_back(certPem(c));
  }
  if (tls_.insecureSkipVerify) {
    X509_STORE_CTX_set_error(xctx, X509_V_OK);
    return 1;
  }
  if (leaf == nullptr) {
    rejection_ = "the server presented no certificate";
    X509_STORE_CTX_set_error(xctx, X509_V_ERR_UNSPECIFIED);
    return 0;
  }

  if (!tls_.caFile.empty() || tls_.pinnedSha256.empty()) {
    if (X509_verify_cert(xctx) != 1) {
      rejection_ = std::string("certificate verify failed: ") +
                   X509_verify_cert_error_string(X509_STORE_CTX_get_error(xctx));
      return 0;
    }
  } else {
    X509* anchor = nullptr;
    for (X509* c : presented) {
      if (certSha256(c) == tls_.pinnedSha256) anchor = c;
    }
    if (anchor == nullptr) {
      rejection_ = "the server presented no certificate with SHA-256 fingerprint " +
                   tls_.pinnedSha256 + " (presented:";
      for (const auto& f : resp_.peerCertificates) rejection_ += " " + f;
      rejection_ += ")";
      X509_STORE_CTX_set_error(xctx, X509_V_ERR_CERT_UNTRUSTED);
      return 0;
    }
    std::unique_ptr<X509_STORE, StoreDeleter> store(X509_STORE_new());
    std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> ctx(X509_STORE_CTX_new());
    if (!store || !ctx || X509_STORE_add_cert(store.get(), anchor) != 1 ||
        X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted) != 1) {
      rejection_ = "could not set up the pinned-certificate check";
      X509_STORE_CTX_set_error(xctx, X509_V_ERR_UNSPECIFIED);
      return 0;
    }
    // Same purpose and depth as the handshake's own check (a TLS server certificate).
    X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(ctx.get()), X509_STORE_CTX_get0_param(xctx));
    // The anchor may be the leaf itself or an intermediate, not necessarily a self-signed root.
    X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_PARTIAL_CHAIN);
    if (X509_verify_cert(ctx.get()) != 1) {
      int err = X509_STORE_CTX_get_error(ctx.get());
      rejection_ = std::string("the chain does not verify up to the pinned certificate: ") +
                   X509_verify_cert_error_string(err);
      X509_STORE_CTX_set_error(xctx, err);
      return 0;
    }
  }

  int match = hostIsIp_ ? X509_check_ip_asc(leaf, host_.c_str(), 0)
                        : X509_check_host(leaf, host_.data(), host_.size(),
                                          X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr);
  if (match != 1) {
    rejection_ = "the server's certificate is not valid for " + host_;
    X509_STORE_CTX_set_error(
        xctx, hostIsIp_ ? X509_V_ERR_IP_ADDRESS_MISMATCH : X509_V_ERR_HOSTNAME_MISMATCH);
    return 0;
  }
  X509_STORE_CTX_set_error(xctx, X509_V_OK);
  return 1;
}

bool isCertificateAlert(unsigned long e) {
  if (ERR_GET_LIB(e) != ERR_LIB_SSL) return false;
  switch (ERR_GET_REASON(e)) {
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return true;
    default:
      return false;
  }
}

}  // namespace skiff::edge_agent
