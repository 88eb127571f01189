// A tiny libcurl client for test fixtures and tests: one blocking request per call, over TCP to
// loopback or over a unix socket (Podman's Docker API). Refuses any host other than 127.0.0.1 /
// localhost so a test can never send traffic off the machine.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace skiff::test {

struct HttpRequest {
  std::string method = "GET";
  // For TCP: "http://127.0.0.1:<port>/path". For a unix socket any host works, e.g.
  // "http://d/_ping".
  std::string url;
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  std::string unixSocket;            // non-empty: connect to this socket path instead of TCP
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
  // https: the CA that verifies the server (required for https URLs), and an optional client
  // certificate + key.
  std::string caFile;
  std::string clientCertFile;
  std::string clientKeyFile;
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::vector<std::string> headers;  // raw "Name: value" lines of the final response
};

// Blocks until the whole response is read. Transport failures are Unavailable, timeouts
// DeadlineExceeded; any HTTP status (including 4xx/5xx) is a successful Result.
common::Result<HttpResponse> httpRequest(const HttpRequest& req);

common::Result<HttpResponse> httpGet(const std::string& url,
                                     const std::vector<std::string>& headers = {},
                                     const std::string& unixSocket = "");
common::Result<HttpResponse> httpPost(const std::string& url, const std::string& body,
                                      const std::string& contentType = "application/json",
                                      const std::string& unixSocket = "");

}  // namespace skiff::test
