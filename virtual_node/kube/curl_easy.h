// RAII adapter around one libcurl easy handle: HTTPS requests with in-memory PEM trust anchors and
// client credentials, optional streaming of the body and cancellation. The only place the virtual
// node touches libcurl; no CURL* escapes. One handle serves one request at a time (not
// thread-safe); reusing it keeps the connection alive.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace skiff::virtual_node::kube {

struct CurlTls {
  std::string caPem;  // empty: system roots
  bool insecureSkipVerify = false;
  std::string clientCertPem;  // with clientKeyPem: client certificate authentication
  std::string clientKeyPem;
};

struct CurlRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  std::chrono::milliseconds timeout{30000};  // whole request; 0 = none (streams)
  std::chrono::milliseconds connectTimeout{10000};
  // Streaming: called with every received piece of a 2xx body (then not kept in body); returning
  // false aborts the transfer. Error bodies are always collected in CurlResponse::body.
  std::function<bool(std::string_view)> onData;
  // Polled about once a second and before every piece; true aborts the transfer.
  std::function<bool()> cancelled;
};

struct CurlResponse {
  enum class Transport { kOk, kConnectFailed, kTimedOut, kAborted, kFailed };
  Transport transport = Transport::kOk;
  std::string error;  // curl's message when transport != kOk
  long status = 0;    // HTTP status (0 if none was received)
  std::string body;
  std::string contentType;
  std::string retryAfter;
};

class CurlEasy {
 public:
  // Internal on allocation failure. Initialises libcurl once per process.
  static common::Result<CurlEasy> create();
  ~CurlEasy();
  CurlEasy(CurlEasy&&) noexcept;
  CurlEasy& operator=(CurlEasy&&) noexcept;
  CurlEasy(const CurlEasy&) = delete;
  CurlEasy& operator=(const CurlEasy&) = delete;

  // Performs one request and blocks until it ends. Never throws; transport problems are reported
  // in the response (never as HTTP statuses).
  CurlResponse perform(const CurlRequest& req, const CurlTls& tls);

  // Percent-encodes a path segment or query value.
  static std::string escape(std::string_view s);

 private:
  struct Handle;
  explicit CurlEasy(std::unique_ptr<Handle> h);
  std::unique_ptr<Handle> h_;
};

}  // namespace skiff::virtual_node::kube
