// The agent's only HTTP client: HTTP/1.1 on Boost.Asio/Beast with OpenSSL, one connection per
// request. It talks to the container engine over its unix socket, to the hub's
// enrollment/renewal endpoints over TLS (CA file, pinned certificate fingerprint or, for explicit
// lab setups, no verification) and to httpGet probes. No Asio/Beast type escapes
// http_client.cc, http_response_decoder.cc and http_tls.cc; their errors become Status values.
// (It replaced libcurl, whose Debian build loads ~26 shared libraries: see docs/benchmarks.md.)
//
// Threading: httpPerform() is thread-safe (each call owns its io_context, socket and TLS
// context) and blocks the calling thread until the response is complete, the timeout passes or
// the caller cancels.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/status.h"

namespace skiff::edge_agent {

struct HttpTls {
  std::string caFile;    // PEM bundle that verifies the server; empty: see pinnedSha256
  std::string certFile;  // client certificate (PEM), optional
  std::string keyFile;   // client key (PEM), optional
  // Lower-case hex SHA-256 of the DER of one certificate the server presents (its leaf or a CA
  // in its chain). That certificate becomes the only trust anchor: the chain must verify up to
  // it and the host name must match. Used when caFile is empty.
  std::string pinnedSha256;
  // Skip verification of the server entirely (explicit lab bootstrap only).
  bool insecureSkipVerify = false;
};

struct HttpRequest {
  std::string method = "GET";
  // "http://d/v1.40/..." with unixSocket (any host; it becomes the Host header), else
  // http(s)://host[:port]/path?query with host a name, an IPv4 or a [bracketed] IPv6 literal.
  std::string url;
  std::string unixSocket;
  // "Name: value" lines, sent after Host, Accept: */* and Content-Length (for a body or a
  // POST/PUT/PATCH), each of which a header of the same name replaces; "Name:" sends nothing.
  std::vector<std::string> headers;
  std::string body;
  HttpTls tls;
  std::chrono::milliseconds timeout{30000};  // whole request; 0: none (streams)
  // Name resolution, TCP/unix connect and TLS handshake; 0: only the whole-request timeout.
  std::chrono::milliseconds connectTimeout{10000};
  // Streaming: when set, body bytes go here instead of HttpResponse::body as they arrive (only
  // for a 2xx status; error bodies are still collected). Returning false aborts the transfer
  // (the result is then Ok with aborted = true).
  std::function<bool(std::string_view)> onData;
  // Polled before connecting, every 250 ms while the transfer waits and on every chunk read;
  // true aborts (the result is then Ok with aborted = true).
  std::function<bool()> cancelled;
};

struct HttpResponse {
  long status = 0;
  std::string body;                  // collected (non-streamed) bodies are capped at 64 MiB
  std::vector<std::string> headers;  // "Name: value" of the final response
  bool aborted = false;              // onData or cancelled stopped the transfer
  // SHA-256 (hex) of each certificate the server presented, leaf first (TLS only).
  std::vector<std::string> peerCertificates;
  std::vector<std::string> peerCertificatePems;
};

// Performs one request (interim 1xx responses are skipped). Any HTTP status is an Ok result.
// Errors:
//   InvalidArgument   a malformed url, method or header line (nothing is sent);
//   Unavailable       transport failures: resolve, connect, reset, a TLS handshake failure that
//                     is not about certificates, a connection closed before the response was
//                     complete, a malformed response or a response header over 64 KiB;
//   DeadlineExceeded  timeout or connectTimeout passed;
//   Unauthenticated   certificate problems: the server's chain, pin or host name does not
//                     verify, an unreadable CA file / client certificate / key, or the server
//                     rejected our client certificate (a TLS certificate alert);
//   ResourceExhausted a collected (non-streamed) body over 64 MiB.
common::Result<HttpResponse> httpPerform(const HttpRequest& req);

using common::urlEncode;  // query values (common/net.h)

}  // namespace skiff::edge_agent
