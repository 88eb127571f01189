// TLS policy of the agent's HTTP client (http_client.h): how an OpenSSL client context is set up
// for one request and how the server's certificate is judged: CA file (or the system roots),
// a pinned SHA-256 fingerprint as the only trust anchor, or no verification at all for explicit
// lab bootstraps; in every verifying mode the certificate must also match the dialled host.
// OpenSSL handles stay in this file pair and in the Asio stream that owns the connection.
//
// Threading: one verifier per request; OpenSSL calls it on the thread that runs the handshake.
#pragma once

#include <string>

#include "common/status.h"
#include "edge_agent/http_client.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct x509_store_ctx_st X509_STORE_CTX;

namespace skiff::edge_agent {

class TlsPeerVerifier {
 public:
  // host: the host name or IP literal of the URL (no brackets). Records the presented chain in
  // resp.peerCertificates / peerCertificatePems. Both references must outlive the handshake.
  TlsPeerVerifier(const HttpTls& tls, std::string host, HttpResponse& resp);

  // Sets up ctx for this request: TLS >= 1.2, trust anchors, the client certificate and this
  // verifier as the chain check. Unauthenticated for an unreadable CA file, client certificate or
  // key. ctx must not be used after this verifier is gone.
  common::Status configure(SSL_CTX* ctx);
  // Per connection: SNI for host names (never for IP literals, RFC 6066).
  common::Status prepare(SSL* ssl) const;
  // Why the server's certificate was rejected; empty if it was not.
  const std::string& rejection() const { return rejection_; }

 private:
  static int verifyChain(X509_STORE_CTX* xctx, void* arg);
  int verify(X509_STORE_CTX* xctx);

  const HttpTls& tls_;
  std::string host_;
  bool hostIsIp_;
  HttpResponse& resp_;
  std::string rejection_;
};

// True if an error reported by OpenSSL during a handshake or read is a TLS alert about
// certificates sent by the server (it rejected or required our client certificate).
bool isCertificateAlert(unsigned long opensslError);

}  // namespace skiff::edge_agent
