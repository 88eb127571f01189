// The shared HTTP server against real clients: libcurl (HTTP/1.1 and TLS with client
// certificates) and raw sockets for malformed input.
#include "common/http/server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "common/fs.h"
#include "common/tls.h"

namespace skiff::common::http {
namespace {

struct CurlResult {
  long code = 0;
  std::string body;
  std::string error;
  curl_off_t contentLength = -1;
};

size_t collect(char* p, size_t s, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, s * n);
  return s * n;
}

struct CurlOpts {
  std::string method = "GET";
  std::string body;
  std::string caFile, certFile, keyFile;
  bool http2 = false;
  bool head = false;  // HEAD: no body is expected
};

CurlResult fetch(const std::string& url, const CurlOpts& o = {}) {
  CurlResult r;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  if (o.head) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o.method.c_str());
  }
  if (!o.body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, o.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(o.body.size()));
  }
  if (!o.caFile.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.caFile.c_str());
  if (!o.certFile.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, o.certFile.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, o.keyFile.c_str());
  }
  if (o.http2) curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) r.error = curl_easy_strerror(rc);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.code);
  curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r.contentLength);
  long httpVersion = 0;
  curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &httpVersion);
  if (rc == CURLE_OK && httpVersion != CURL_HTTP_VERSION_1_1) r.error = "not HTTP/1.1";
  curl_easy_cleanup(c);
  return r;
}

std::string rawExchange(std::uint16_t port, const std::string& data) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "connect failed";
  ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

void echoHandler(const Request& req, ResponseWriter& w) {
  if (req.path == "/stream") {
    w.startStream(200, "text/plain");
    for (int i = 0; i < 3; ++i) w.writeChunk("line " + std::to_string(i) + "\n");
    return;
  }
  if (req.path == "/forever") {
    w.startStream(200, "text/plain");
    while (!w.cancelled()) {
      if (!w.writeChunk("tick\n")) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return;
  }
  if (req.path == "/whoami") {
    std::string orgs;
    for (auto& o : req.clientOrganizations) orgs += o + ";";
    w.send(200, "text/plain", req.clientCommonName.value_or("-") + "|" + orgs);
    return;
  }
  if (req.path == "/cert") {
    w.send(200, "text/plain", req.clientCertSerial.value_or("-") + "|" + req.clientCertError);
    return;
  }
  if (req.path == "/throw") throw std::runtime_error("boom");
  std::string body = req.method + " " + req.path + " q=" + req.queryParam("q").value_or("") +
                     " len=" + std::to_string(req.body.size());
  w.send(200, "text/plain", body, {{"X-Test", "1"}});
}

TEST(HttpServerTest, ServesRequestsStreamsAndMetrics) {
  auto registry = std::make_shared<prometheus::Registry>();
  ServerOptions opts;
  opts.metrics = registry;
  opts.maxBodyBytes = 1024;
  auto srv = Server::start(opts, echoHandler);
  ASSERT_TRUE(srv.isOk()) << srv.status();
  std::string base = "http://127.0.0.1:" + std::to_string((*srv)->port());

  auto r = fetch(base + "/api/v1/pods?q=a%20b&x=1");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body, "GET /api/v1/pods q=a b len=0");
  auto p = fetch(base + "/x", {.method = "POST", .body = "hello"});
  EXPECT_EQ(p.body, "POST /x q= len=5");
  auto s = fetch(base + "/stream");
  EXPECT_EQ(s.body, "line 0\nline 1\nline 2\n");
  auto big = fetch(base + "/x", {.method = "POST", .body = std::string(5000, 'x')});
  EXPECT_EQ(big.code, 413);
  EXPECT_NE(big.body.find("exceeds the limit of 1024 bytes"), std::string::npos);
  // HEAD: the GET response's headers (its Content-Length), no body; the connection stays usable.
  auto h = fetch(base + "/api/v1/pods?q=a%20b", {.head = true});
  EXPECT_EQ(h.code, 200) << h.error;
  EXPECT_EQ(h.contentLength,
            static_cast<curl_off_t>(std::string("HEAD /api/v1/pods q=a b len=0").size()));
  EXPECT_EQ(h.body, "");
  auto hs = fetch(base + "/stream", {.head = true});
  EXPECT_EQ(hs.code, 200) << hs.error;
  EXPECT_EQ(hs.body, "");
  auto t = fetch(base + "/throw");
  EXPECT_EQ(t.code, 500);
  EXPECT_EQ(fetch(base + "/x").code, 200) << "server survives a throwing handler";

  auto m = fetch(base + "/metrics");
  EXPECT_EQ(m.code, 200);
  EXPECT_NE(m.body.find("skiff_http_requests_total{code=\"200\",method=\"GET\"}"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("code=\"413\""), std::string::npos);
  EXPECT_NE(m.body.find("skiff_http_request_duration_seconds_bucket"), std::string::npos);
}

TEST(HttpServerTest, LargeBodiesUseExpectContinueAndOversizeIsRefusedCleanly) {
  ServerOptions opts;
  opts.maxBodyBytes = 3 * 1024 * 1024;
  auto srv = Server::start(opts, echoHandler);
  ASSERT_TRUE(srv.isOk());
  std::string url = "http://127.0.0.1:" + std::to_string((*srv)->port()) + "/x";
  // curl sends "Expect: 100-continue" for bodies over 1 MiB and waits up to 1 s for it.
  auto t0 = std::chrono::steady_clock::now();
  auto ok = fetch(url, {.method = "POST", .body = std::string(2 * 1024 * 1024, 'a')});
  EXPECT_EQ(ok.code, 200) << ok.error;
  EXPECT_EQ(ok.body, "POST /x q= len=2097152");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
  for (int i = 0; i < 5; ++i) {
    auto big = fetch(url, {.method = "POST", .body = std::string(5 * 1024 * 1024, 'b')});
    EXPECT_EQ(big.code, 413) << big.error;
    EXPECT_NE(big.body.find("\"reason\":\"RequestEntityTooLarge\""), std::string::npos);
  }
}

TEST(HttpServerTest, MalformedRequestsGet400AndServerKeepsRunning) {
  auto srv = Server::start({}, echoHandler);
  ASSERT_TRUE(srv.isOk());
  std::uint16_t port = (*srv)->port();
  std::string out = rawExchange(port, "GARBAGE\r\n\r\n");
  EXPECT_NE(out.find("400"), std::string::npos) << out;
  out = rawExchange(port, "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n");
  EXPECT_NE(out.find("400"), std::string::npos) << out;
  out = rawExchange(port, "\x16\x03\x01 binary junk");
  EXPECT_EQ(out.find("200"), std::string::npos);
  EXPECT_EQ(fetch("http://127.0.0.1:" + std::to_string(port) + "/ok").code, 200);
}

TEST(HttpServerTest, StopCancelsOpenStreams) {
  auto srv = Server::start({}, echoHandler);
  ASSERT_TRUE(srv.isOk());
  std::string url = "http://127.0.0.1:" + std::to_string((*srv)->port()) + "/forever";
  std::thread client([&] { fetch(url); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto t0 = std::chrono::steady_clock::now();
  (*srv)->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  client.join();
  (*srv)->stop();  // idempotent
}

TEST(HttpServerTest, BindFailureIsUnavailable) {
  auto a = Server::start({}, echoHandler);
  ASSERT_TRUE(a.isOk());
  ServerOptions o;
  o.listen.port = (*a)->port();
  auto b = Server::start(o, echoHandler);
  ASSERT_FALSE(b.isOk());
  EXPECT_EQ(b.status().code(), StatusCode::kUnavailable);
  ServerOptions bad;
  bad.listen.host = "not-an-ip";
  EXPECT_FALSE(Server::start(bad, echoHandler).isOk());
}

class HttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/skiff-https-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto ca = tls::CertificateAuthority::create("test-ca");
    ASSERT_TRUE(ca.isOk());
    auto server = ca->issueNew({.commonName = "localhost",
                                .dnsNames = {"localhost"},
                                .ipAddresses = {"127.0.0.1"},
                                .usage = tls::CertUsage::kServer});
    ASSERT_TRUE(server.isOk()) << server.status();
    auto client = ca->issueNew({.commonName = "system:node:pi-1",
                                .organizations = {"system:nodes", "skiff"},
                                .usage = tls::CertUsage::kClient});
    ASSERT_TRUE(client.isOk());
    write("ca.pem", *ca->certificate().toPem());
    write("server.pem", *server->cert.toPem());
    write("server.key", *server->key.toPem());
    write("client.pem", *client->cert.toPem());
    write("client.key", *client->key.toPem());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& content) {
    ASSERT_TRUE(writeFileAtomic(dir_ + "/" + name, content, 0600).isOk());
  }
  std::string path(const std::string& name) { return dir_ + "/" + name; }
  std::string dir_;
};

TEST_F(HttpsServerTest, ClientCertificateIdentityAndHttp11Only) {
  ServerOptions opts;
  opts.tls = tls::TlsFiles{path("server.pem"), path("server.key"), path("ca.pem")};
  opts.clientAuth = tls::ClientAuth::kOptional;
  auto srv = Server::start(opts, echoHandler);
  ASSERT_TRUE(srv.isOk()) << srv.status();
  std::string url = "https://127.0.0.1:" + std::to_string((*srv)->port()) + "/whoami";
  auto anon = fetch(url, {.caFile = path("ca.pem")});
  EXPECT_EQ(anon.code, 200) << anon.error;
  EXPECT_EQ(anon.body, "-|");
  auto withCert = fetch(url, {.caFile = path("ca.pem"),
                              .certFile = path("client.pem"),
                              .keyFile = path("client.key"),
                              .http2 = true});
  EXPECT_EQ(withCert.error, "") << "client asked for h2; server must stay on HTTP/1.1";
  EXPECT_EQ(withCert.body, "system:node:pi-1|system:nodes;skiff;");
  auto untrusted = fetch(url);  // system roots: our CA is not trusted
  EXPECT_NE(untrusted.error, "");
}

TEST_F(HttpsServerTest, OptionalClientAuthAnswersUntrustedCertificatesWithoutIdentity) {
  auto other = tls::CertificateAuthority::create("other-ca");
  ASSERT_TRUE(other.isOk());
  auto foreign = other->issueNew({.commonName = "system:node:evil",
                                  .organizations = {"system:masters"},
                                  .usage = tls::CertUsage::kClient});
  ASSERT_TRUE(foreign.isOk());
  write("foreign.pem", *foreign->cert.toPem());
  write("foreign.key", *foreign->key.toPem());
  auto trusted = tls::Certificate::fromPem(*readFile(path("client.pem")));
  ASSERT_TRUE(trusted.isOk());
  ServerOptions opts;
  opts.tls = tls::TlsFiles{path("server.pem"), path("server.key"), path("ca.pem")};
  opts.clientAuth = tls::ClientAuth::kOptional;
  auto srv = Server::start(opts, echoHandler);
  ASSERT_TRUE(srv.isOk()) << srv.status();
  std::string base = "https://127.0.0.1:" + std::to_string((*srv)->port());
  // A certificate from an unknown CA completes the handshake but gives no identity: the
  // handler can answer (e.g. 401) and say why.
  auto r = fetch(
      base + "/whoami",
      {.caFile = path("ca.pem"), .certFile = path("foreign.pem"), .keyFile = path("foreign.key")});
  EXPECT_EQ(r.code, 200) << r.error;
  EXPECT_EQ(r.body, "-|");
  auto why = fetch(
      base + "/cert",
      {.caFile = path("ca.pem"), .certFile = path("foreign.pem"), .keyFile = path("foreign.key")});
  EXPECT_EQ(why.body, "-|unable to verify the first certificate");
  auto good = fetch(
      base + "/cert",
      {.caFile = path("ca.pem"), .certFile = path("client.pem"), .keyFile = path("client.key")});
  EXPECT_EQ(good.body, trusted->serialHex() + "|");
}

TEST_F(HttpsServerTest, BadTlsMaterialIsInvalidArgument) {
  write("junk.pem", "not a certificate");
  ServerOptions opts;
  opts.tls = tls::TlsFiles{path("junk.pem"), path("server.key"), ""};
  auto srv = Server::start(opts, echoHandler);
  ASSERT_FALSE(srv.isOk());
}

}  // namespace
}  // namespace skiff::common::http
