// libcurl easy-handle adapter for HTTPS API-server tests (see https_client.h).
#include "tests/control_plane/https_client.h"

#include <curl/curl.h>

#include <mutex>

namespace skiff::test {

namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

size_t appendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t appendHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::vector<std::string>*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();
  } else if (!line.empty()) {
    headers->push_back(std::move(line));
  }
  return size * n;
}

struct StreamState {
  std::string pending;
  const std::function<bool(std::string_view)>* onLine;
  bool stopped = false;
};

size_t streamBody(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<StreamState*>(user);
  st->pending.append(data, size * n);
  std::size_t nl;
  while ((nl = st->pending.find('\n')) != std::string::npos) {
    std::string line = st->pending.substr(0, nl);
    st->pending.erase(0, nl + 1);
    if (!(*st->onLine)(line)) {
      st->stopped = true;
      return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
    }
  }
  return size * n;
}

}  // namespace

struct HttpsClient::Impl {
  std::string baseUrl;
  std::string caFile;
  std::string token;
  std::unique_ptr<CURL, CurlDeleter> curl;

  // Resets the handle for a new request, keeping its connection cache.
  std::unique_ptr<curl_slist, SlistDeleter> prepare(std::string_view method, std::string_view path,
                                                    std::string_view body,
                                                    std::string_view contentType,
                                                    std::chrono::milliseconds timeout,
                                                    char* errbuf) {
    CURL* c = curl.get();
    curl_easy_reset(c);
    std::string url = baseUrl + std::string(path);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_CAINFO, caFile.c_str());
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    // No TLS session resumption: the server (common/tls.cc) sets no session id context while it
    // asks for optional client certificates, so OpenSSL aborts resumed handshakes with an
    // "internal error" alert. kubectl (Go) never resumes; libcurl would after any closed
    // connection (e.g. the 413 answer to an oversize body).
    curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    std::unique_ptr<curl_slist, SlistDeleter> headers(curl_slist_append(nullptr, "Expect:"));
    auto add = [&](const std::string& h) {
      headers.reset(curl_slist_append(headers.release(), h.c_str()));
    };
    if (!token.empty()) add("Authorization: Bearer " + token);
    add("Accept: application/json");
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      add("Content-Type: " + std::string(contentType));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    if (method == "GET") {
      curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
      std::string m(method);
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m.c_str());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, std::string(body).c_str());
    }
    return headers;
  }
};

HttpsClient::HttpsClient(std::string baseUrl, std::string caFile, std::string token)
    : impl_(std::make_unique<Impl>()) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (!baseUrl.starts_with("https://127.0.0.1:")) std::abort();  // loopback only, by design
  impl_->baseUrl = std::move(baseUrl);
  impl_->caFile = std::move(caFile);
  impl_->token = std::move(token);
  impl_->curl.reset(curl_easy_init());
}

HttpsClient::~HttpsClient() = default;
HttpsClient::HttpsClient(HttpsClient&&) noexcept = default;
HttpsClient& HttpsClient::operator=(HttpsClient&&) noexcept = default;

common::Result<HttpResponse> HttpsClient::request(std::string_view method, std::string_view path,
                                                  std::string_view body,
                                                  std::string_view contentType,
                                                  std::chrono::milliseconds timeout) {
  char errbuf[CURL_ERROR_SIZE] = {0};
  // COPYPOSTFIELDS needs a NUL-free string; bodies here are JSON/text.
  auto headers = impl_->prepare(method, path, body, contentType, timeout, errbuf);
  HttpResponse resp;
  CURL* c = impl_->curl.get();
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, appendHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp.headers);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    std::string msg = std::string(method) + " " + std::string(path) + ": " +
                      (errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc));
    if (rc == CURLE_OPERATION_TIMEDOUT) return common::deadlineExceeded(msg);
    return common::unavailable(msg);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

common::Result<long> HttpsClient::stream(std::string_view path,
                                         const std::function<bool(std::string_view)>& onLine,
                                         std::chrono::milliseconds timeout) {
  char errbuf[CURL_ERROR_SIZE] = {0};
  auto headers = impl_->prepare("GET", path, "", "", timeout, errbuf);
  StreamState st{"", &onLine};
  CURL* c = impl_->curl.get();
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, streamBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (rc == CURLE_OK || rc == CURLE_OPERATION_TIMEDOUT || (rc == CURLE_WRITE_ERROR && st.stopped)) {
    if (!st.stopped && !st.pending.empty()) onLine(st.pending);
    return status;
  }
  if (status != 0 && (rc == CURLE_RECV_ERROR || rc == CURLE_PARTIAL_FILE)) return status;
  return common::unavailable("GET " + std::string(path) + ": " +
                             (errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc)));
}

}  // namespace skiff::test
