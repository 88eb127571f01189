// libcurl adapter: one easy handle per request, TLS verification hooks through OpenSSL.
#include "edge_agent/http_client.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cctype>
#include <memory>
#include <mutex>

namespace skiff::edge_agent {

namespace {

using common::Result;
using common::Status;

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct StoreDeleter {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxDeleter {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string hex(const unsigned char* d, unsigned n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += kDigits[d[i] >> 4];
    out += kDigits[d[i] & 15];
  }
  return out;
}

std::string certSha256(X509* c) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (X509_digest(c, EVP_sha256(), md, &n) != 1) return "";
  return hex(md, n);
}

std::string certPem(X509* c) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_X509(bio.get(), c) != 1) return "";
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// State shared between a transfer and its OpenSSL callbacks.
struct Transfer {
  const HttpRequest* req = nullptr;
  HttpResponse* resp = nullptr;
  bool streaming = false;  // status known to be 2xx and onData set
  bool statusKnown = false;
  std::string pinError;
};

// Replaces OpenSSL's chain verification: records the presented chain and, in pinning mode, trusts
// only the pinned certificate (a fresh store, so no system root can stand in for it).
int verifyChain(X509_STORE_CTX* xctx, void* arg) {
  auto* t = static_cast<Transfer*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(xctx);
  STACK_OF(X509)* untrusted = X509_STORE_CTX_get0_untrusted(xctx);
  std::vector<X509*> presented;
  if (leaf != nullptr) presented.push_back(leaf);
  for (int i = 0; untrusted != nullptr && i < sk_X509_num(untrusted); ++i) {
    X509* c = sk_X509_value(untrusted, i);
    if (c != leaf) presented.push_back(c);
  }
  t->resp->peerCertificates.clear();
  t->resp->peerCertificatePems.clear();
  for (X509* c : presented) {
    t->resp->peerCertificates.push_back(certSha256(c));
    t->resp->peerCertificatePems.push_back(certPem(c));
  }
  const HttpTls& tls = t->req->tls;
  if (tls.insecureSkipVerify) {
    X509_STORE_CTX_set_error(xctx, X509_V_OK);
    return 1;
  }
  if (!tls.caFile.empty() || tls.pinnedSha256.empty()) return X509_verify_cert(xctx);

  X509* anchor = nullptr;
  for (X509* c : presented) {
    if (certSha256(c) == tls.pinnedSha256) anchor = c;
  }
  if (anchor == nullptr) {
    t->pinError = "the server presented no certificate with SHA-256 fingerprint " +
                  tls.pinnedSha256 + " (presented:";
    for (const auto& f : t->resp->peerCertificates) t->pinError += " " + f;
    t->pinError += ")";
    X509_STORE_CTX_set_error(xctx, X509_V_ERR_CERT_UNTRUSTED);
    return 0;
  }
  std::unique_ptr<X509_STORE, StoreDeleter> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), anchor) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted) != 1) {
    X509_STORE_CTX_set_error(xctx, X509_V_ERR_UNSPECIFIED);
    return 0;
  }
  // The anchor may be the leaf itself or an intermediate, not necessarily a self-signed root.
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_PARTIAL_CHAIN);
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    t->pinError = std::string("the chain does not verify up to the pinned certificate: ") +
                  X509_verify_cert_error_string(err);
    X509_STORE_CTX_set_error(xctx, err);
    return 0;
  }
  X509_STORE_CTX_set_error(xctx, X509_V_OK);
  return 1;
}

CURLcode sslCtxFunction(CURL*, void* sslCtx, void* arg) {
  SSL_CTX_set_cert_verify_callback(static_cast<SSL_CTX*>(sslCtx), verifyChain, arg);
  return CURLE_OK;
}

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    t->resp->headers.clear();
    // "HTTP/1.1 200 OK": interim 1xx responses are followed by the final one.
    auto sp = line.find(' ');
    long status = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
    t->resp->status = status;
    t->statusKnown = status >= 200;
    t->streaming = t->req->onData && status >= 200 && status < 300;
  } else if (!line.empty()) {
    t->resp->headers.push_back(std::move(line));
  }
  return size * n;
}

size_t onBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view chunk(data, size * n);
  if (t->streaming) {
    if (t->req->cancelled && t->req->cancelled()) {
      t->resp->aborted = true;
      return 0;
    }
    if (!t->req->onData(chunk)) {
      t->resp->aborted = true;
      return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
    }
    return chunk.size();
  }
  t->resp->body.append(chunk);
  return chunk.size();
}

int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->req->cancelled && t->req->cancelled()) {
    t->resp->aborted = true;
    return 1;
  }
  return 0;
}

}  // namespace

Result<HttpResponse> httpPerform(const HttpRequest& req) {
  globalInit();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return common::internalError("curl_easy_init failed");
  // "Expect:" stops libcurl's 100-continue round trip before request bodies.
  std::unique_ptr<curl_slist, SlistDeleter> headers(curl_slist_append(nullptr, "Expect:"));
  for (const auto& h : req.headers) headers.reset(curl_slist_append(headers.release(), h.c_str()));

  HttpResponse resp;
  Transfer t;
  t.req = &req;
  t.resp = &resp;
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connectTimeout.count()));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  if (req.cancelled) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, onProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  }
  if (!req.unixSocket.empty())
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, req.unixSocket.c_str());
  if (req.url.starts_with("https://")) {
    curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, req.tls.insecureSkipVerify ? 0L : 2L);
    if (!req.tls.caFile.empty()) {
      curl_easy_setopt(c, CURLOPT_CAINFO, req.tls.caFile.c_str());
    } else if (!req.tls.pinnedSha256.empty() || req.tls.insecureSkipVerify) {
      // No system roots: the pinned certificate is the only anchor (see verifyChain).
      curl_easy_setopt(c, CURLOPT_CAINFO, nullptr);
      curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
    }
    if (!req.tls.certFile.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, req.tls.certFile.c_str());
    if (!req.tls.keyFile.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, req.tls.keyFile.c_str());
    curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, sslCtxFunction);
    curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, &t);
    // A fresh handle per request; no session reuse across differently-verified requests.
    curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
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
  if (resp.aborted) return resp;
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc);
    if (!t.pinError.empty()) detail = t.pinError;
    std::string msg = req.method + " " + req.url + ": " + detail;
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT:
        return common::deadlineExceeded(msg);
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
        return common::unauthenticated(msg);
      default:
        return common::unavailable(msg);
    }
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  resp.status = status;
  return resp;
}

std::string urlEncode(std::string_view s) {
  static const char* kDigits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kDigits[ch >> 4];
      out += kDigits[ch & 15];
    }
  }
  return out;
}

}  // namespace skiff::edge_agent
