// libcurl easy-handle adapter.
#include "virtual_node/kube/curl_easy.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace skiff::virtual_node::kube {

namespace {

constexpr std::size_t kMaxBodyBytes = 256u * 1024 * 1024;

struct TransferState {
  CURL* curl = nullptr;
  const CurlRequest* req = nullptr;
  CurlResponse* resp = nullptr;
  bool checkedStatus = false;
  bool streaming = false;
  bool aborted = false;
  bool tooLarge = false;
};

bool cancelledNow(TransferState* st) { return st->req->cancelled && st->req->cancelled(); }

size_t onWrite(char* p, size_t size, size_t n, void* ud) {
  auto* st = static_cast<TransferState*>(ud);
  size_t len = size * n;
  if (!st->checkedStatus) {
    st->checkedStatus = true;
    long code = 0;
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &code);
    st->streaming = st->req->onData && code >= 200 && code < 300;
  }
  if (cancelledNow(st)) {
    st->aborted = true;
    return 0;
  }
  if (st->streaming) {
    if (!st->req->onData(std::string_view(p, len))) {
      st->aborted = true;
      return 0;
    }
    return len;
  }
  if (st->resp->body.size() + len > kMaxBodyBytes) {
    st->tooLarge = true;
    return 0;
  }
  st->resp->body.append(p, len);
  return len;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

size_t onHeader(char* p, size_t size, size_t n, void* ud) {
  auto* st = static_cast<TransferState*>(ud);
  std::string_view line(p, size * n);
  if (line.starts_with("HTTP/")) {  // a new response (after 100 Continue or a redirect)
    st->resp->contentType.clear();
    st->resp->retryAfter.clear();
    return size * n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name = lower(line.substr(0, colon));
  if (name == "content-type") st->resp->contentType = trim(line.substr(colon + 1));
  if (name == "retry-after") st->resp->retryAfter = trim(line.substr(colon + 1));
  return size * n;
}

int onProgress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* st = static_cast<TransferState*>(ud);
  if (cancelledNow(st)) {
    st->aborted = true;
    return 1;
  }
  return 0;
}

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

struct CurlEasy::Handle {
  CURL* curl = nullptr;
  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

CurlEasy::CurlEasy(std::unique_ptr<Handle> h) : h_(std::move(h)) {}
CurlEasy::~CurlEasy() = default;
CurlEasy::CurlEasy(CurlEasy&&) noexcept = default;
CurlEasy& CurlEasy::operator=(CurlEasy&&) noexcept = default;

common::Result<CurlEasy> CurlEasy::create() {
  globalInit();
  auto h = std::make_unique<Handle>();
  h->curl = curl_easy_init();
  if (h->curl == nullptr) return common::internalError("curl_easy_init failed");
  return CurlEasy(std::move(h));
}

std::string CurlEasy::escape(std::string_view s) {
  globalInit();
  char* e = curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size()));
  if (e == nullptr) return std::string(s);
  std::string out(e);
  curl_free(e);
  return out;
}

CurlResponse CurlEasy::perform(const CurlRequest& req, const CurlTls& tls) {
  CurlResponse resp;
  CURL* c = h_->curl;
  curl_easy_reset(c);  // keeps live connections and the TLS session cache
  TransferState st;
  st.curl = c;
  st.req = &req;
  st.resp = &resp;

  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 15L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connectTimeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &st);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, onProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &st);

  if (req.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
  }

  curl_slist* raw = nullptr;
  for (const auto& h : req.headers) raw = curl_slist_append(raw, h.c_str());
  raw = curl_slist_append(raw, "Expect:");  // no 100-continue round trip for large bodies
  std::unique_ptr<curl_slist, SlistDeleter> headers(raw);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  curl_blob ca{const_cast<char*>(tls.caPem.data()), tls.caPem.size(), CURL_BLOB_COPY};
  curl_blob cert{const_cast<char*>(tls.clientCertPem.data()), tls.clientCertPem.size(),
                 CURL_BLOB_COPY};
  curl_blob key{const_cast<char*>(tls.clientKeyPem.data()), tls.clientKeyPem.size(),
                CURL_BLOB_COPY};
  if (tls.insecureSkipVerify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!tls.caPem.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  }
  if (!tls.clientCertPem.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
  }

  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  if (rc == CURLE_OK) return resp;
  resp.error = curl_easy_strerror(rc);
  if (st.aborted) {
    resp.transport = CurlResponse::Transport::kAborted;
  } else if (st.tooLarge) {
    resp.transport = CurlResponse::Transport::kFailed;
    resp.error = "response body exceeds " + std::to_string(kMaxBodyBytes) + " bytes";
  } else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
    resp.transport = CurlResponse::Transport::kConnectFailed;
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    resp.transport = CurlResponse::Transport::kTimedOut;
  } else {
    resp.transport = CurlResponse::Transport::kFailed;
  }
  return resp;
}

}  // namespace skiff::virtual_node::kube
