// The agent's only HTTP client: a RAII adapter over one libcurl easy handle per request. It talks
// to the container engine over its unix socket, to the hub's enrollment/renewal endpoints over
// TLS (CA file, pinned certificate fingerprint or, for explicit lab setups, no verification) and
// to httpGet probes. libcurl never escapes this file pair; its errors become Status values.
//
// Threading: perform() is thread-safe (each call owns its handle) and blocks until the response
// is complete, the timeout passes or the caller cancels.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

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
  std::string url;  // "http://d/v1.40/..." with unixSocket, else http(s)://host:port/...
  std::string unixSocket;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  HttpTls tls;
  std::chrono::milliseconds timeout{30000};  // whole request; 0: none (streams)
  std::chrono::milliseconds connectTimeout{10000};
  // Streaming: when set, body bytes go here instead of HttpResponse::body as they arrive (only
  // for a 2xx status; error bodies are still collected). Returning false aborts the transfer
  // (the result is then Ok with aborted = true).
  std::function<bool(std::string_view)> onData;
  // Polled about once a second while the transfer is idle and on every chunk; true aborts.
  std::function<bool()> cancelled;
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::vector<std::string> headers;  // "Name: value" of the final response
  bool aborted = false;              // onData or cancelled stopped the transfer
  // SHA-256 (hex) of each certificate the server presented, leaf first (TLS only).
  std::vector<std::string> peerCertificates;
  std::vector<std::string> peerCertificatePems;
};

// Performs one request. Transport errors: Unavailable (DeadlineExceeded for timeouts);
// certificate problems: Unauthenticated. Any HTTP status is an Ok result.
common::Result<HttpResponse> httpPerform(const HttpRequest& req);

// Percent-encodes a query parameter value.
std::string urlEncode(std::string_view s);

}  // namespace skiff::edge_agent
