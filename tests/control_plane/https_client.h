// A tiny HTTPS client for API-server tests: libcurl over TLS to 127.0.0.1 only, verifying the
// server against the cluster CA of a data dir and sending a bearer token. One instance keeps one
// curl easy handle (and so one keep-alive connection); it is not thread-safe — give each thread
// its own client.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"
#include "tests/support/http.h"

namespace skiff::test {

class HttpsClient {
 public:
  // baseUrl: "https://127.0.0.1:<port>"; token "" sends no Authorization header.
  HttpsClient(std::string baseUrl, std::string caFile, std::string token);
  ~HttpsClient();
  HttpsClient(HttpsClient&&) noexcept;
  HttpsClient& operator=(HttpsClient&&) noexcept;

  // One request, blocking until the whole response is read. Any HTTP status is Ok; transport
  // failures are Unavailable, timeouts DeadlineExceeded.
  common::Result<HttpResponse> request(
      std::string_view method, std::string_view path, std::string_view body = "",
      std::string_view contentType = "application/json",
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  common::Result<HttpResponse> get(std::string_view path) { return request("GET", path); }
  common::Result<HttpResponse> post(std::string_view path, const common::Json& body) {
    return request("POST", path, common::dumpJson(body));
  }

  // Streams a response (watch): onLine gets every complete line as it arrives and returns false
  // to stop reading. Returns the HTTP status once the stream ends (server closed it, onLine
  // stopped it, or timeout passed — a timeout is not an error here).
  common::Result<long> stream(std::string_view path,
                              const std::function<bool(std::string_view line)>& onLine,
                              std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace skiff::test
