// The agent's HTTP client (httpPerform) against in-process peers on loopback: the project's
// Beast server (common/http/server.h; plain and TLS with client certificates) and scripted raw
// sockets (TCP and unix) for what a well-behaved server never does: premature closes, oversize
// headers, responses dribbled out in tiny pieces, silence. TLS policy: CA file, pinned
// fingerprint (leaf or CA; the chain must verify up to it), host-name mismatch, insecure, SNI.
#include "edge_agent/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "common/fs.h"
#include "common/http/server.h"
#include "common/tls.h"
#include "tests/support/process.h"
#include "tests/support/status_assert.h"

namespace skiff::edge_agent {
namespace {

using namespace std::chrono_literals;
using common::StatusCode;
namespace tls = common::tls;
using SteadyClock = std::chrono::steady_clock;

void writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Reads a request head (up to the blank line) from fd; "" when the client went away.
std::string readRequestHead(int fd) {
  std::string head;
  char c;
  while (head.find("\r\n\r\n") == std::string::npos && ::recv(fd, &c, 1, 0) == 1) head += c;
  return head;
}

// Blocks until the client closes its side (or 20 s pass). True if it closed.
bool waitForClientClose(int fd) {
  auto until = SteadyClock::now() + 20s;
  char buf[256];
  while (SteadyClock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) == 1 && ::recv(fd, buf, sizeof buf, 0) <= 0) return true;
  }
  return false;
}

// A listening TCP socket on 127.0.0.1 with an ephemeral port; fills addr with its address.
int listenLoopback(int backlog, sockaddr_in& addr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::listen(fd, backlog), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return fd;
}

// A scripted peer: accepts connections one at a time (TCP on 127.0.0.1 or a unix socket) and
// hands each to the script with the request head already read.
class RawServer {
 public:
  using Script = std::function<void(int fd, const std::string& requestHead)>;

  static std::unique_ptr<RawServer> tcp(Script script) {
    sockaddr_in a{};
    int fd = listenLoopback(16, a);
    return std::unique_ptr<RawServer>(new RawServer(fd, ntohs(a.sin_port), std::move(script)));
  }
  static std::unique_ptr<RawServer> unixSocket(const std::string& path, Script script) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, 16), 0);
    return std::unique_ptr<RawServer>(new RawServer(fd, 0, std::move(script)));
  }
  ~RawServer() {
    ::shutdown(listenFd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    ::close(listenFd_);
  }
  std::uint16_t port() const { return port_; }
  std::string url(std::string_view path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  std::string lastRequest() {
    std::lock_guard lock(mu_);
    return lastRequest_;
  }

 private:
  RawServer(int fd, std::uint16_t port, Script script)
      : listenFd_(fd), port_(port), script_(std::move(script)) {
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        std::string head = readRequestHead(c);
        {
          std::lock_guard lock(mu_);
          lastRequest_ = head;
        }
        script_(c, head);
        ::close(c);
      }
    });
  }

  int listenFd_;
  std::uint16_t port_;
  Script script_;
  std::mutex mu_;
  std::string lastRequest_;
  std::thread thread_;
};

// ---- plain HTTP against the project's server ---------------------------------------------------

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = test::TempDir::create("http-client");
    ASSERT_TRUE(d.isOk());
    dir_ = std::make_unique<test::TempDir>(std::move(*d));
  }
  void TearDown() override {
    release_ = true;
    if (server_) server_->stop();
  }

  // Echo: method, a request header and the body; /stream/<n> streams n chunks; /idle opens a
  // stream and stays silent until released; /slow answers after 3 s.
  void startServer(std::optional<tls::TlsFiles> files = std::nullopt,
                   tls::ClientAuth auth = tls::ClientAuth::kNone) {
    common::http::ServerOptions o;
    o.tls = std::move(files);
    o.clientAuth = auth;
    auto s = common::http::Server::start(
        o, [this](const common::http::Request& r, common::http::ResponseWriter& w) {
          if (r.path == "/idle") {
            w.startStream(200, "text/plain");
            w.writeChunk("first");
            while (!w.cancelled() && !release_) std::this_thread::sleep_for(10ms);
            return;
          }
          if (r.path == "/slow") {
            auto until = SteadyClock::now() + 3s;
            while (!w.cancelled() && !release_ && SteadyClock::now() < until) {
              std::this_thread::sleep_for(10ms);
            }
            w.send(200, "text/plain", "late");
            return;
          }
          if (r.path.starts_with("/stream/")) {
            int n = std::stoi(r.path.substr(8));
            w.startStream(n < 0 ? 500 : 200, "text/plain");
            for (int i = 0; n < 0 || i < n; ++i) {
              if (!w.writeChunk("chunk" + std::to_string(i) + ";")) {
                clientGone_ = true;
                return;
              }
              if (n < 0 && i >= 5) break;
              if (n == 1000000) std::this_thread::sleep_for(5ms);
            }
            return;
          }
          std::string body = r.method + " " + r.target + " host=" + r.header("host") +
                             " x=" + r.header("x-skiff") +
                             " cn=" + r.clientCommonName.value_or("") + " body=" + r.body;
          w.send(r.path == "/missing" ? 404 : 200, "text/plain", body, {{"X-Reply", "yes"}});
        });
    ASSERT_TRUE(s.isOk()) << s.status();
    server_ = std::move(*s);
  }
  std::string base(const std::string& scheme = "http", const std::string& host = "127.0.0.1") {
    return scheme + "://" + host + ":" + std::to_string(server_->port());
  }

  std::unique_ptr<test::TempDir> dir_;
  std::unique_ptr<common::http::Server> server_;
  std::atomic<bool> release_{false};
  std::atomic<bool> clientGone_{false};
};

TEST_F(HttpClientTest, GetAndPostWithHeadersAndBodies) {
  startServer();
  HttpRequest get;
  get.url = base() + "/things?a=1&b=%20";
  get.headers = {"X-Skiff: yes"};
  auto r = httpPerform(get);
  SKIFF_ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /things?a=1&b=%20 host=127.0.0.1:" + std::to_string(server_->port()) +
                         " x=yes cn= body=");
  EXPECT_NE(std::find(r->headers.begin(), r->headers.end(), "X-Reply: yes"), r->headers.end());
  EXPECT_FALSE(r->aborted);

  HttpRequest post;
  post.method = "POST";
  post.url = base() + "/missing";
  post.body = std::string(200000, 'b');  // larger than one socket write
  r = httpPerform(post);
  SKIFF_ASSERT_OK(r);
  EXPECT_EQ(r->status, 404);  // any HTTP status is an Ok result
  EXPECT_EQ(r->body.size(), std::string("POST /missing host=").size() +
                                std::string("127.0.0.1:").size() +
                                std::to_string(server_->port()).size() +
                                std::string(" x= cn= body=").size() + 200000);

  HttpRequest empty;  // a body-less POST still says Content-Length: 0
  empty.method = "POST";
  empty.url = base() + "/start";
  r = httpPerform(empty);
  SKIFF_ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpClientTest, ChunkedResponsesCollectedOrStreamed) {
  startServer();
  HttpRequest req;
  req.url = base() + "/stream/50";
  auto r = httpPerform(req);
  SKIFF_ASSERT_OK(r);
  std::string want;
  for (int i = 0; i < 50; ++i) want += "chunk" + std::to_string(i) + ";";
  EXPECT_EQ(r->body, want);

  std::string streamed;
  int calls = 0;
  req.onData = [&](std::string_view d) {
    streamed.append(d);
    ++calls;
    return true;
  };
  r = httpPerform(req);
  SKIFF_ASSERT_OK(r);
  EXPECT_EQ(streamed, want);
  EXPECT_GE(calls, 1);
  EXPECT_EQ(r->body, "");  // streamed bodies are not also collected
  EXPECT_FALSE(r->aborted);

  // Error bodies are collected even with onData (the caller wants them for its message).
  streamed.clear();
  req.url = base() + "/stream/-1";
  r = httpPerform(req);
  SKIFF_ASSERT_OK(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(streamed, "");
  EXPECT_NE(r->body.find("chunk5;"), std::string::npos);
}

TEST_F(HttpClientTest, OnDataReturningFalseAbortsTheTransfer) {
  startServer();
  HttpRequest req;
  req.url = base() + "/stream/1000000";  // ~forever, one chunk per 5 ms
  req.timeout = 0ms;
  int calls = 0;
  req.onData = [&](std::string_view) { return ++calls < 3; };
  auto r = httpPerform(req);
  SKIFF_ASSERT_OK(r);
  EXPECT_TRUE(r->aborted);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(r->status, 200);
  // The connection was closed: the server's next writes fail.
  auto until = SteadyClock::now() + 30s;
  while (!clientGone_ && SteadyClock::now() < until) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(clientGone_);
}

TEST_F(HttpClientTest, CancellationIsPolledWhileTheStreamIsIdle) {
  startServer();
  std::atomic<bool> cancel{false};
  HttpRequest req;
  req.url = base() + "/idle";
  req.timeout = 0ms;  // a log follow: no whole-request limit
  std::string got;
  req.onData = [&](std::string_view d) {
    got.append(d);
    return true;
  };
  req.cancelled = [&] { return cancel.load(); };
  std::jthread canceller([&] {
    std::this_thread::sleep_for(500ms);
    cancel = true;
  });
  auto t0 = SteadyClock::now();
  auto r = httpPerform(req);
  auto took = SteadyClock::now() - t0;
  SKIFF_ASSERT_OK(r);
  EXPECT_TRUE(r->aborted);
  EXPECT_EQ(got, "first");
  EXPECT_GE(took, 450ms);
  EXPECT_LT(took, 5s);  // polled about every 250 ms, not when data arrives (it never does)

  // Already cancelled: nothing is sent at all.
  auto r2 = httpPerform(req);
  SKIFF_ASSERT_OK(r2);
  EXPECT_TRUE(r2->aborted);
  EXPECT_EQ(r2->status, 0);
}

TEST_F(HttpClientTest, WholeRequestTimeoutIsDeadlineExceeded) {
  startServer();
  HttpRequest req;
  req.url = base() + "/slow";
  req.timeout = 300ms;
  auto t0 = SteadyClock::now();
  auto r = httpPerform(req);
  auto took = SteadyClock::now() - t0;
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_NE(r.status().message().find("timed out after 300ms"), std::string::npos) << r.status();
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 2500ms);

  // A stream that goes quiet is limited by the whole-request timeout too.
  req.url = base() + "/idle";
  req.onData = [](std::string_view) { return true; };
  r = httpPerform(req);
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status();
}

TEST_F(HttpClientTest, ConnectTimeoutIsDeadlineExceeded) {
  // A listener whose accept queue is full drops further SYNs: the connect hangs on loopback.
  sockaddr_in a{};
  int l = listenLoopback(0, a);
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    int f = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::connect(f, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers.push_back(f);
  }
  std::this_thread::sleep_for(100ms);
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/";
  req.connectTimeout = 300ms;
  req.timeout = 20s;
  auto t0 = SteadyClock::now();
  auto r = httpPerform(req);
  auto took = SteadyClock::now() - t0;
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_NE(r.status().message().find("connect timeout"), std::string::npos) << r.status();
  EXPECT_LT(took, 5s);
  for (int f : fillers) ::close(f);
  ::close(l);
}

TEST_F(HttpClientTest, TransportFailuresAreUnavailable) {
  auto port = test::freeLoopbackPort();
  ASSERT_TRUE(port.isOk());
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(*port) + "/";
  auto r = httpPerform(req);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status();
  EXPECT_NE(r.status().message().find("connect"), std::string::npos) << r.status();

  req.url = "http://d/v1.40/_ping";
  req.unixSocket = dir_->file("no-such.sock");
  r = httpPerform(req);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status();

  req.unixSocket.clear();
  req.url = "http://no-such-host.invalid/";
  r = httpPerform(req);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status();
  EXPECT_NE(r.status().message().find("resolve"), std::string::npos) << r.status();
}

TEST_F(HttpClientTest, BadUrlsAndHeadersAreInvalidArgument) {
  for (const std::string url :
       {"ftp://127.0.0.1/", "127.0.0.1/", "http:///x", "http://h:0/", "http://h:65536/",
        "http://h:8x/", "http://u@h/", "http://h/a b", "http://[::1/"}) {
    HttpRequest req;
    req.url = url;
    auto r = httpPerform(req);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << url << " " << r.status();
  }
  HttpRequest req;
  req.url = "http://127.0.0.1:1/";
  req.headers = {"X-Evil: a\r\nX-Injected: b"};
  EXPECT_EQ(httpPerform(req).status().code(), StatusCode::kInvalidArgument);
  req.headers = {"no colon"};
  EXPECT_EQ(httpPerform(req).status().code(), StatusCode::kInvalidArgument);
  req.headers = {};
  req.method = "get me";
  EXPECT_EQ(httpPerform(req).status().code(), StatusCode::kInvalidArgument);
}

// ---- raw peers ---------------------------------------------------------------------------------

TEST_F(HttpClientTest, UnixSocketTransport) {
  std::string path = dir_->file("engine.sock");
  auto server = RawServer::unixSocket(path, [](int fd, const std::string&) {
    writeAll(fd, "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK");
  });
  HttpRequest req;
  req.method = "DELETE";
  req.url = "http://d/v1.40/containers/x?force=true";
  req.unixSocket = path;
  auto r = httpPerform(req);
  SKIFF_ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "OK");
  std::string head = server->lastRequest();
  EXPECT_TRUE(head.starts_with("DELETE /v1.40/containers/x?force=true HTTP/1.1\r\n")) << head;
  EXPECT_NE(head.find("\r\nHost: d\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;  // no body, no length
}

TEST_F(HttpClientTest, ResponsesDribbledInTinyPiecesAndInterimResponses) {
  const std::string response =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nWiki\r\n7\r\npedia i\r\nB\r\nn \r\nchunks.\r\n0\r\nX-Trailer: t\r\n\r\n";
  auto server = RawServer::tcp([&](int fd, const std::string&) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (std::size_t i = 0; i < response.size(); i += 3) {
      writeAll(fd, std::string_view(response).substr(i, 3));
      std::this_thread::sleep_for(1ms);
    }
  });
  HttpRequest req;
  req.url = server->url();
  std::string streamed;
  req.onData = [&](std::string_view d) {
    streamed.append(d);
    return true;
  };
  auto r = httpPerform(req);
  SKIFF_ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(streamed, "Wikipedia in \r\nchunks.");
}

TEST_F(HttpClientTest, BodyDelimitedByTheConnectionClose) {
  auto server = RawServer::tcp([](int fd, const std::string&) {
    writeAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n");
    writeAll(fd, "until the end");
  });
  HttpRequest req;
  req.url = server->url();
  auto r = httpPerform(req);
  SKIFF_ASSERT_OK(r);
  EXPECT_EQ(r->body, "until the end");
}

TEST_F(HttpClientTest, PrematureCloseIsUnavailable) {
  std::string reply;
  auto server = RawServer::tcp([&](int fd, const std::string&) { writeAll(fd, reply); });
  HttpRequest req;
  req.url = server->url();
  for (std::string r : {std::string(""), std::string("HTTP/1.1 200 OK\r\nContent-Le"),
                        std::string("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"),
                        std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    "5\r\nhello\r\n")}) {
    reply = r;
    auto res = httpPerform(req);
    EXPECT_EQ(res.status().code(), StatusCode::kUnavailable) << r << ": " << res.status();
    EXPECT_NE(res.status().message().find("closed before"), std::string::npos) << res.status();
  }
}

TEST_F(HttpClientTest, OversizeHeaderIsUnavailable) {
  auto server = RawServer::tcp([](int fd, const std::string&) {
    writeAll(fd, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 2000; ++i)
      writeAll(fd, "X-Filler-" + std::to_string(i) + ": " + std::string(100, 'f') + "\r\n");
    writeAll(fd, "\r\n");
  });
  HttpRequest req;
  req.url = server->url();
  auto r = httpPerform(req);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status();
  EXPECT_NE(r.status().message().find("response header exceeds 65536 bytes"), std::string::npos)
      << r.status();
}

TEST_F(HttpClientTest, CancelWhileConnectedToASilentPeer) {
  std::atomic<bool> peerSawClose{false};
  auto server =
      RawServer::tcp([&](int fd, const std::string&) { peerSawClose = waitForClientClose(fd); });
  std::atomic<bool> cancel{false};
  HttpRequest req;
  req.url = server->url();
  req.cancelled = [&] { return cancel.load(); };
  std::jthread canceller([&] {
    std::this_thread::sleep_for(300ms);
    cancel = true;
  });
  auto r = httpPerform(req);
  SKIFF_ASSERT_OK(r);
  EXPECT_TRUE(r->aborted);
  server.reset();  // joins the script
  EXPECT_TRUE(peerSawClose);
}

// ---- TLS ---------------------------------------------------------------------------------------

struct Pki {
  std::string caFile, otherCaFile;
  std::string caSha256, leafSha256, otherCaSha256;
  tls::TlsFiles server;              // leaf for 127.0.0.1 and localhost, chain includes the CA
  tls::TlsFiles serverWrongName;     // leaf for other.example only
  tls::TlsFiles serverWithStranger;  // leaf + an unrelated CA certificate in the chain
  tls::TlsFiles client;              // client certificate CN=pi-01
};

Pki makePki(const test::TempDir& dir) {
  Pki p;
  auto ca = tls::CertificateAuthority::create("skiff-test-ca");
  auto other = tls::CertificateAuthority::create("someone-else");
  EXPECT_TRUE(ca.isOk() && other.isOk());
  auto write = [&](const std::string& name, const std::string& data) {
    std::string f = dir.file(name);
    EXPECT_TRUE(common::writeFileAtomic(f, data, 0600).isOk());
    return f;
  };
  std::string caPem = *ca->certificate().toPem();
  std::string otherPem = *other->certificate().toPem();
  p.caFile = write("ca.crt", caPem);
  p.otherCaFile = write("other-ca.crt", otherPem);
  p.caSha256 = ca->certificate().fingerprintSha256();
  p.otherCaSha256 = other->certificate().fingerprintSha256();
  auto issue = [&](const std::string& name, tls::IssueOptions o, const std::string& extra) {
    auto kc = ca->issueNew(o);
    EXPECT_TRUE(kc.isOk());
    tls::TlsFiles f;
    f.certFile = write(name + ".crt", *kc->cert.toPem() + extra);
    f.keyFile = write(name + ".key", *kc->key.toPem());
    return std::make_pair(f, kc->cert.fingerprintSha256());
  };
  tls::IssueOptions so;
  so.commonName = "hub";
  so.dnsNames = {"localhost"};
  so.ipAddresses = {"127.0.0.1"};
  so.usage = tls::CertUsage::kServer;
  auto [server, leafSha] = issue("server", so, caPem);
  p.server = server;
  p.leafSha256 = leafSha;
  p.server.caFile = p.caFile;  // verifies client certificates when required
  p.serverWithStranger = issue("stranger", so, otherPem).first;
  so.dnsNames = {"other.example"};
  so.ipAddresses = {};
  p.serverWrongName = issue("wrong-name", so, caPem).first;
  tls::IssueOptions co;
  co.commonName = "pi-01";
  co.usage = tls::CertUsage::kClient;
  p.client = issue("client", co, "").first;
  return p;
}

class HttpClientTlsTest : public HttpClientTest {
 protected:
  void SetUp() override {
    HttpClientTest::SetUp();
    pki_ = makePki(*dir_);
  }
  common::Result<HttpResponse> get(HttpTls t, const std::string& host = "127.0.0.1") {
    HttpRequest req;
    req.url = base("https", host) + "/hello";
    req.tls = std::move(t);
    return httpPerform(req);
  }
  Pki pki_;
};

TEST_F(HttpClientTlsTest, CaFileVerifiesTheServerAndRecordsItsChain) {
  startServer(pki_.server);
  auto r = get({.caFile = pki_.caFile});
  SKIFF_ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(r->peerCertificates.size(), 2u);
  EXPECT_EQ(r->peerCertificates[0], pki_.leafSha256);
  EXPECT_EQ(r->peerCertificates[1], pki_.caSha256);
  EXPECT_EQ(*common::readFile(pki_.caFile), r->peerCertificatePems[1]);
  // By name: SNI + DNS SAN match.
  SKIFF_EXPECT_OK(get({.caFile = pki_.caFile}, "localhost"));

  auto wrongCa = get({.caFile = pki_.otherCaFile});
  EXPECT_EQ(wrongCa.status().code(), StatusCode::kUnauthenticated) << wrongCa.status();
  EXPECT_NE(wrongCa.status().message().find("certificate verify failed"), std::string::npos)
      << wrongCa.status();
  auto missing = get({.caFile = dir_->file("nope.crt")});
  EXPECT_EQ(missing.status().code(), StatusCode::kUnauthenticated) << missing.status();
  // The system roots do not know the test CA.
  auto system = get({});
  EXPECT_EQ(system.status().code(), StatusCode::kUnauthenticated) << system.status();
}

TEST_F(HttpClientTlsTest, PinnedFingerprintIsTheOnlyTrustAnchor) {
  startServer(pki_.server);
  SKIFF_EXPECT_OK(get({.pinnedSha256 = pki_.caSha256}));
  SKIFF_EXPECT_OK(get({.pinnedSha256 = pki_.leafSha256}));
  auto wrong = get({.pinnedSha256 = std::string(64, 'a')});
  EXPECT_EQ(wrong.status().code(), StatusCode::kUnauthenticated) << wrong.status();
  EXPECT_NE(wrong.status().message().find("aaaaaaaa"), std::string::npos) << wrong.status();
  EXPECT_NE(wrong.status().message().find(pki_.leafSha256), std::string::npos) << wrong.status();
}

TEST_F(HttpClientTlsTest, PinnedCertificateMustBeWhereTheChainLeads) {
  // The server also presents an unrelated CA: pinning it must not make the leaf trusted.
  startServer(pki_.serverWithStranger);
  auto r = get({.pinnedSha256 = pki_.otherCaSha256});
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << r.status();
  EXPECT_NE(r.status().message().find("does not verify up to the pinned"), std::string::npos)
      << r.status();
}

TEST_F(HttpClientTlsTest, HostNameMustMatchUnlessInsecure) {
  startServer(pki_.serverWrongName);
  auto r = get({.caFile = pki_.caFile});
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << r.status();
  EXPECT_NE(r.status().message().find("not valid for 127.0.0.1"), std::string::npos) << r.status();
  r = get({.caFile = pki_.caFile}, "localhost");
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << r.status();
  // A pin does not waive the name check either.
  r = get({.pinnedSha256 = pki_.caSha256});
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << r.status();

  auto insecure = get({.insecureSkipVerify = true});
  SKIFF_ASSERT_OK(insecure);
  EXPECT_EQ(insecure->status, 200);
  EXPECT_EQ(insecure->peerCertificates.size(), 2u);  // recorded all the same
}

TEST_F(HttpClientTlsTest, ClientCertificate) {
  startServer(pki_.server, tls::ClientAuth::kRequired);
  auto r = get(
      {.caFile = pki_.caFile, .certFile = pki_.client.certFile, .keyFile = pki_.client.keyFile});
  SKIFF_ASSERT_OK(r);
  EXPECT_NE(r->body.find("cn=pi-01"), std::string::npos) << r->body;

  auto without = get({.caFile = pki_.caFile});
  EXPECT_EQ(without.status().code(), StatusCode::kUnauthenticated) << without.status();

  auto badKey = get(
      {.caFile = pki_.caFile, .certFile = pki_.client.certFile, .keyFile = pki_.server.keyFile});
  EXPECT_EQ(badKey.status().code(), StatusCode::kUnauthenticated) << badKey.status();
  EXPECT_NE(badKey.status().message().find("client key"), std::string::npos) << badKey.status();
}

TEST_F(HttpClientTlsTest, TlsToAPlainServerIsUnavailable) {
  startServer();
  auto r = get({.insecureSkipVerify = true});
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status();
}

TEST_F(HttpClientTlsTest, SendsServerNameIndicationForHostNamesOnly) {
  // A raw OpenSSL peer that records the SNI it was offered.
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                        SSL_CTX_free);
  SKIFF_ASSERT_OK(tls::configureServerContext(
      ctx.get(), {pki_.server.certFile, pki_.server.keyFile, ""}, tls::ClientAuth::kNone));
  std::mutex mu;
  std::string sni;
  // (RawServer reads a plain request head first, which TLS never sends: served by hand here.)
  sockaddr_in a{};
  int l = listenLoopback(4, a);
  std::jthread peer([&] {
    for (int i = 0; i < 2; ++i) {
      int c = ::accept(l, nullptr, nullptr);
      if (c < 0) return;
      SSL* ssl = SSL_new(ctx.get());
      SSL_set_fd(ssl, c);
      if (SSL_accept(ssl) == 1) {
        const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        {
          std::lock_guard lock(mu);
          sni = name == nullptr ? "(none)" : name;
        }
        char buf[4096];
        std::string head;
        int n;
        while (head.find("\r\n\r\n") == std::string::npos &&
               (n = SSL_read(ssl, buf, sizeof buf)) > 0) {
          head.append(buf, static_cast<std::size_t>(n));
        }
        std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        SSL_write(ssl, reply.data(), static_cast<int>(reply.size()));
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
      ::close(c);
    }
  });
  auto url = [&](const std::string& host) {
    return "https://" + host + ":" + std::to_string(ntohs(a.sin_port)) + "/";
  };
  HttpRequest req;
  req.tls.caFile = pki_.caFile;
  req.url = url("localhost");
  auto r = httpPerform(req);
  SKIFF_ASSERT_OK(r);
  EXPECT_EQ(r->body, "ok");
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(sni, "localhost");
  }
  req.url = url("127.0.0.1");
  r = httpPerform(req);
  SKIFF_ASSERT_OK(r);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(sni, "(none)");
  }
  peer.join();
  ::close(l);
}

}  // namespace
}  // namespace skiff::edge_agent
