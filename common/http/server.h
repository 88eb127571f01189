// HTTP/1.1 server over TLS (or plain TCP for tests) on Boost.Beast, shared by the API server,
// the hub's REST/dashboard/enrollment endpoints and the virtual node's kubelet endpoint.
//
// Model: one thread per connection with blocking I/O. Long-lived responses (watches, log
// follows, Server-Sent Events) simply keep their thread; a handler streams with
// ResponseWriter::writeChunk. Thread-per-connection keeps handlers straightforward; it is sized
// for hundreds of concurrent streams, which is what one control plane or hub serves.
//
// Every request is counted in Prometheus metrics (skiff_http_requests_total{method,code},
// skiff_http_request_duration_seconds) in the registry given to the server; GET /metrics is
// answered by the server itself when a registry is given.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/status.h"
#include "common/tls.h"

namespace prometheus {
class Registry;
}

namespace skiff::common::http {

struct Request {
  std::string method;                             // "GET", "POST", ...
  std::string target;                             // raw request target ("/api/v1/pods?limit=5")
  std::string path;                               // decoded path without the query
  std::multimap<std::string, std::string> query;  // decoded query parameters
  std::map<std::string, std::string, std::less<>> headers;  // lower-case names
  std::string body;
  std::string remoteAddress;
  // Verified TLS client certificate, if one was presented: subject CN and O entries, and its
  // serial number (lower-case hex).
  std::optional<std::string> clientCommonName;
  std::vector<std::string> clientOrganizations;
  std::optional<std::string> clientCertSerial;
  // With ClientAuth::kOptional a certificate that fails verification (expired, unknown CA)
  // does not break the handshake: it gives no identity and this says why ("" otherwise).
  std::string clientCertError;

  // First value of a query parameter, if present.
  std::optional<std::string> queryParam(std::string_view name) const;
  std::string header(std::string_view lowerName) const;  // "" if absent
};

// Writes the response. Either send() once, or startStream() then writeChunk()* then the
// handler returns (the server terminates the chunked body). For a HEAD request handlers respond
// as to GET: the server sends the headers (Content-Length of the body given to send()) and drops
// the body; writeChunk() returns false. Not thread-safe: use from the handler's thread only.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual void send(int status, std::string_view contentType, std::string_view body,
                    const std::map<std::string, std::string>& headers = {}) = 0;
  virtual void startStream(int status, std::string_view contentType,
                           const std::map<std::string, std::string>& headers = {}) = 0;
  // Sends one chunk and flushes it. False once the client has gone away.
  virtual bool writeChunk(std::string_view data) = 0;
  // True once the server is stopping or the client disconnected; streaming handlers poll it.
  virtual bool cancelled() const = 0;
  virtual bool responded() const = 0;
};

using Handler = std::function<void(const Request&, ResponseWriter&)>;

struct ServerOptions {
  HostPort listen{"127.0.0.1", 0};
  std::optional<tls::TlsFiles> tls;  // absent: plain HTTP (tests, loopback-only tools)
  tls::ClientAuth clientAuth = tls::ClientAuth::kNone;
  std::size_t maxBodyBytes = 3 * 1024 * 1024;
  std::size_t maxConnections = 1024;
  std::chrono::seconds readTimeout{60};           // idle keep-alive / slow client limit
  std::shared_ptr<prometheus::Registry> metrics;  // optional; serves GET /metrics
  std::string component = "skiff";
};

class Server {
 public:
  // Binds and starts accepting. Unavailable if the address cannot be bound; InvalidArgument for
  // bad TLS material.
  static Result<std::unique_ptr<Server>> start(ServerOptions opts, Handler handler);
  virtual ~Server() = default;
  virtual std::uint16_t port() const = 0;  // the bound port (useful with port 0)
  // Stops accepting, cancels streams, closes connections and joins all threads. Idempotent.
  virtual void stop() = 0;
};

// Percent-decoding for paths and query strings ('+' is a space only in queries).
std::string urlDecode(std::string_view s, bool plusIsSpace);
std::multimap<std::string, std::string> parseQuery(std::string_view q);

}  // namespace skiff::common::http
