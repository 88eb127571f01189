// libcurl easy-handle adapter for tests. Handles are per call (tests are not hot paths);
// CURLOPT_NOSIGNAL keeps libcurl from touching signal handlers in multi-threaded tests.
#include "tests/support/http.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

namespace skiff::test {

namespace {

using common::Result;

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t appendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t appendHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::vector<std::string>*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();  // a new (final or interim) response starts
  } else if (!line.empty()) {
    headers->push_back(std::move(line));
  }
  return size * n;
}

common::Status checkLoopback(const std::string& url) {
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return common::invalidArgument("bad URL: " + url);
  }
  char* host = nullptr;
  if (curl_url_get(u.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    return common::invalidArgument("URL without host: " + url);
  }
  std::string h(host);
  curl_free(host);
  if (h == "127.0.0.1" || h == "localhost" || h == "[::1]") return common::Status::ok();
  return common::permissionDenied("test HTTP client only talks to loopback, not " + h);
}

}  // namespace

Result<HttpResponse> httpRequest(const HttpRequest& req) {
  globalInit();
  if (req.unixSocket.empty()) SKIFF_RETURN_IF_ERROR(checkLoopback(req.url));
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return common::internalError("curl_easy_init failed");
  // "Expect:" stops libcurl's 100-continue round trip (a 1 s stall on some servers).
  std::unique_ptr<curl_slist, SlistDeleter> headerList(curl_slist_append(nullptr, "Expect:"));
  for (const auto& h : req.headers) {
    headerList.reset(curl_slist_append(headerList.release(), h.c_str()));
  }
  HttpResponse resp;
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, appendHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp.headers);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headerList.get());
  if (!req.unixSocket.empty())
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, req.unixSocket.c_str());
  if (!req.caFile.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, req.caFile.c_str());
  if (!req.clientCertFile.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, req.clientCertFile.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, req.clientKeyFile.c_str());
  }
  if (req.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (req.method != "DELETE" || !req.body.empty()) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    std::string msg = req.method + " " + req.url + ": " +
                      (errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc));
    if (rc == CURLE_OPERATION_TIMEDOUT) return common::deadlineExceeded(msg);
    return common::unavailable(msg);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

Result<HttpResponse> httpGet(const std::string& url, const std::vector<std::string>& headers,
                             const std::string& unixSocket) {
  HttpRequest req;
  req.url = url;
  req.headers = headers;
  req.unixSocket = unixSocket;
  return httpRequest(req);
}

Result<HttpResponse> httpPost(const std::string& url, const std::string& body,
                              const std::string& contentType, const std::string& unixSocket) {
  HttpRequest req;
  req.method = "POST";
  req.url = url;
  req.body = body;
  req.headers = {"Content-Type: " + contentType};
  req.unixSocket = unixSocket;
  return httpRequest(req);
}

}  // namespace skiff::test
