// Beast-based HTTP/1.1 server: acceptor thread + one thread per connection (see server.h).
#include "common/http/server.h"

#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <list>
#include <mutex>
#include <set>
#include <thread>

#include "common/log.h"

namespace skiff::common::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

std::optional<std::string> Request::queryParam(std::string_view name) const {
  auto it = query.find(std::string(name));
  if (it == query.end()) return std::nullopt;
  return it->second;
}

std::string Request::header(std::string_view lowerName) const {
  auto it = headers.find(lowerName);
  return it == headers.end() ? std::string() : it->second;
}

std::string urlDecode(std::string_view s, bool plusIsSpace) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (plusIsSpace && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::multimap<std::string, std::string> parseQuery(std::string_view q) {
  std::multimap<std::string, std::string> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    if (!part.empty()) {
      auto eq = part.find('=');
      std::string k = urlDecode(part.substr(0, eq), true);
      std::string v = eq == std::string_view::npos ? "" : urlDecode(part.substr(eq + 1), true);
      out.emplace(std::move(k), std::move(v));
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

namespace {

// Extracts CN and O entries of a verified peer certificate.
void readPeerIdentity(SSL* ssl, Request& req) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return;
  if (long rc = SSL_get_verify_result(ssl); rc != X509_V_OK) {
    req.clientCertError = X509_verify_cert_error_string(rc);
    X509_free(cert);
    return;
  }
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      std::string serial(hex);
      for (char& c : serial) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.clientCertSerial = serial;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  X509_NAME* name = X509_get_subject_name(cert);
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (len < 0) continue;
    std::string v(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
    if (nid == NID_commonName) req.clientCommonName = v;
    if (nid == NID_organizationName) req.clientOrganizations.push_back(v);
  }
  X509_free(cert);
}

struct Metrics {
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  prometheus::Family<prometheus::Histogram>* duration = nullptr;
  prometheus::Counter* rejectedConnections = nullptr;
};

template <typename Stream>
class Writer final : public ResponseWriter {
 public:
  // head: a HEAD request — the response's headers (Content-Length of the body the handler gives)
  // go out, its body does not.
  Writer(Stream& stream, unsigned version, bool keepAlive, const std::atomic<bool>& stopping,
         bool head = false)
      : stream_(stream),
        version_(version),
        keepAlive_(keepAlive),
        stopping_(stopping),
        head_(head) {}

  void send(int status, std::string_view contentType, std::string_view body,
            const std::map<std::string, std::string>& headers) override {
    if (responded_) return;
    responded_ = true;
    status_ = status;
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), version_};
    res.set(bhttp::field::content_type, beast::string_view(contentType.data(), contentType.size()));
    for (const auto& [k, v] : headers) res.set(k, v);
    res.keep_alive(keepAlive_);
    res.body() = std::string(body);
    res.prepare_payload();
    beast::error_code ec;
    if (head_) {
      bhttp::response_serializer<bhttp::string_body> sr{res};
      bhttp::write_header(stream_, sr, ec);
    } else {
      bhttp::write(stream_, res, ec);
    }
    if (ec) broken_ = true;
  }

  void startStream(int status, std::string_view contentType,
                   const std::map<std::string, std::string>& headers) override {
    if (responded_) return;
    responded_ = true;
    streaming_ = true;
    status_ = status;
    bhttp::response<bhttp::empty_body> res{static_cast<bhttp::status>(status), version_};
    res.set(bhttp::field::content_type, beast::string_view(contentType.data(), contentType.size()));
    res.set(bhttp::field::cache_control, "no-cache");
    for (const auto& [k, v] : headers) res.set(k, v);
    res.chunked(true);
    res.keep_alive(keepAlive_);
    bhttp::response_serializer<bhttp::empty_body> sr{res};
    beast::error_code ec;
    bhttp::write_header(stream_, sr, ec);
    if (ec) broken_ = true;
  }

  bool writeChunk(std::string_view data) override {
    if (!streaming_ || broken_ || head_) return false;
    if (data.empty()) return true;
    beast::error_code ec;
    net::write(stream_, bhttp::make_chunk(net::const_buffer(data.data(), data.size())), ec);
    if (ec) broken_ = true;
    return !broken_;
  }

  bool cancelled() const override { return broken_ || stopping_.load(); }
  bool responded() const override { return responded_; }

  // Ends a stream; returns false if the connection is unusable.
  bool finish() {
    if (streaming_ && !broken_ && !head_) {
      beast::error_code ec;
      net::write(stream_, bhttp::make_chunk_last(), ec);
      if (ec) broken_ = true;
    }
    return !broken_;
  }
  int status() const { return status_; }

 private:
  Stream& stream_;
  unsigned version_;
  bool keepAlive_;
  const std::atomic<bool>& stopping_;
  const bool head_;
  bool responded_ = false;
  bool streaming_ = false;
  bool broken_ = false;
  int status_ = 0;
};

std::string reasonFor(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 413:
      return "RequestEntityTooLarge";
    default:
      return "InternalError";
  }
}

std::string statusBody(int code, std::string_view message) {
  return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
         "\"message\":\"" +
         std::string(message) + "\",\"reason\":\"" + reasonFor(code) +
         "\",\"code\":" + std::to_string(code) + "}";
}

class ServerImpl final : public Server {
 public:
  ServerImpl(ServerOptions opts, Handler handler)
      : opts_(std::move(opts)), handler_(std::move(handler)), acceptor_(ioc_) {}

  ~ServerImpl() override { stop(); }

  Status init() {
    if (opts_.tls) {
      ssl_.emplace(net::ssl::context::tls_server);
      SKIFF_RETURN_IF_ERROR(
          tls::configureServerContext(ssl_->native_handle(), *opts_.tls, opts_.clientAuth));
    }
    if (opts_.metrics) {
      metrics_.requests = &prometheus::BuildCounter()
                               .Name("skiff_http_requests_total")
                               .Help("HTTP requests served, by method and status code")
                               .Register(*opts_.metrics);
      metrics_.duration = &prometheus::BuildHistogram()
                               .Name("skiff_http_request_duration_seconds")
                               .Help("HTTP request latency until the response (or stream) ended")
                               .Register(*opts_.metrics);
      metrics_.rejectedConnections = &prometheus::BuildCounter()
                                          .Name("skiff_http_rejected_connections_total")
                                          .Help("Connections refused at the connection limit")
                                          .Register(*opts_.metrics)
                                          .Add({});
    }
    beast::error_code ec;
    auto addr = net::ip::make_address(opts_.listen.host, ec);
    if (ec)
      return invalidArgument("listen address " + opts_.listen.toString() + ": " + ec.message());
    tcp::endpoint ep(addr, opts_.listen.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return unavailable("listen on " + opts_.listen.toString() + ": " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    acceptThread_ = std::thread([this] { acceptLoop(); });
    log::info("http server listening",
              {{"address", opts_.listen.host + ":" + std::to_string(port_)},
               {"tls", opts_.tls.has_value()}});
    return Status::ok();
  }

  std::uint16_t port() const override { return port_; }

  void stop() override {
    if (stopping_.exchange(true)) {
      if (acceptThread_.joinable()) acceptThread_.join();
      return;
    }
    beast::error_code ec;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    acceptor_.close(ec);
    if (acceptThread_.joinable()) acceptThread_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : liveFds_) ::shutdown(fd, SHUT_RDWR);
    }
    std::unique_lock lock(mu_);
    allDone_.wait(lock, [this] { return active_ == 0; });
  }

 private:
  void acceptLoop() {
    while (!stopping_) {
      beast::error_code ec;
      tcp::socket sock(ioc_);
      acceptor_.accept(sock, ec);
      if (ec) {
        if (stopping_) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      std::unique_lock lock(mu_);
      if (active_ >= opts_.maxConnections) {
        lock.unlock();
        if (metrics_.rejectedConnections) metrics_.rejectedConnections->Increment();
        sock.close(ec);
        continue;
      }
      ++active_;
      int fd = sock.native_handle();
      liveFds_.insert(fd);
      lock.unlock();
      std::thread([this, s = std::move(sock), fd]() mutable {
        serveConnection(std::move(s));
        std::lock_guard l(mu_);
        liveFds_.erase(fd);
        if (--active_ == 0) allDone_.notify_all();
      }).detach();
    }
  }

  void serveConnection(tcp::socket sock) {
    timeval tv{};
    tv.tv_sec = opts_.readTimeout.count();
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    beast::error_code ec;
    std::string remote = sock.remote_endpoint(ec).address().to_string();
    if (ssl_) {
      net::ssl::stream<tcp::socket> stream(std::move(sock), *ssl_);
      stream.handshake(net::ssl::stream_base::server, ec);
      if (ec) {
        log::debug("tls handshake failed", {{"remote", remote}, {"error", ec.message()}});
        return;
      }
      Request base;
      readPeerIdentity(stream.native_handle(), base);
      serveRequests(stream, remote, base);
      stream.shutdown(ec);
    } else {
      serveRequests(sock, remote, Request{});
      sock.shutdown(tcp::socket::shutdown_both, ec);
    }
  }

  // A client still sending a refused body would see its connection reset, and lose our
  // response, if we closed at once: read and discard what it sends for a short while first.
  template <typename Stream>
  void drainBeforeClose(Stream& stream) {
    auto& sock = beast::get_lowest_layer(stream);
    timeval tv{};
    tv.tv_sec = 1;
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::vector<char> scratch(64 * 1024);
    std::size_t total = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (total < 64 * 1024 * 1024 && std::chrono::steady_clock::now() < deadline) {
      beast::error_code ec;
      std::size_t n = stream.read_some(net::buffer(scratch), ec);
      if (ec || n == 0) break;
      total += n;
    }
  }

  template <typename Stream>
  void serveRequests(Stream& stream, const std::string& remote, const Request& identity) {
    beast::flat_buffer buffer;
    while (!stopping_) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(opts_.maxBodyBytes);
      parser.header_limit(64 * 1024);
      beast::error_code ec;
      bhttp::read_header(stream, buffer, parser, ec);
      bool tooLarge =
          !ec && parser.content_length() && *parser.content_length() > opts_.maxBodyBytes;
      if (!ec && !tooLarge) {
        // Clients that wait for "100 Continue" (curl does for large bodies) get it only for
        // bodies we accept; an oversize one is refused before it is sent.
        if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
          bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
          bhttp::write(stream, cont, ec);
        }
        if (!ec) bhttp::read(stream, buffer, parser, ec);
      }
      if (tooLarge || ec == bhttp::error::body_limit) {
        Writer<Stream> w(stream, 11, false, stopping_);
        w.send(413, "application/json",
               statusBody(413, "request body exceeds the limit of " +
                                   std::to_string(opts_.maxBodyBytes) + " bytes"),
               {});
        record(std::string(parser.get().method_string()), 413, std::chrono::steady_clock::now());
        drainBeforeClose(stream);
        return;
      }
      if (ec) {
        if (ec != bhttp::error::end_of_stream && ec != net::error::eof &&
            ec != net::error::operation_aborted && ec != net::error::connection_reset &&
            ec != net::ssl::error::stream_truncated && ec != net::error::would_block &&
            ec != net::error::timed_out) {
          Writer<Stream> w(stream, 11, false, stopping_);
          w.send(400, "application/json", statusBody(400, "malformed HTTP request"), {});
          record("INVALID", 400, std::chrono::steady_clock::now());
        }
        return;
      }
      auto& msg = parser.get();
      auto started = std::chrono::steady_clock::now();
      Request req = identity;
      req.method = std::string(msg.method_string());
      req.target = std::string(msg.target());
      auto qpos = req.target.find('?');
      req.path = urlDecode(std::string_view(req.target).substr(0, qpos), false);
      if (qpos != std::string::npos)
        req.query = parseQuery(std::string_view(req.target).substr(qpos + 1));
      for (const auto& f : msg) {
        std::string name(f.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        req.headers[name] = std::string(f.value());
      }
      req.body = std::move(msg.body());
      req.remoteAddress = remote;
      bool keepAlive = msg.keep_alive();
      Writer<Stream> w(stream, msg.version(), keepAlive, stopping_, req.method == "HEAD");
      if (opts_.metrics && req.method == "GET" && req.path == "/metrics") {
        prometheus::TextSerializer ser;
        w.send(200, "text/plain; version=0.0.4", ser.Serialize(opts_.metrics->Collect()), {});
      } else {
        try {
          handler_(req, w);
        } catch (const std::exception& e) {
          log::error("handler threw", {{"path", req.path}, {"error", e.what()}});
          if (!w.responded())
            w.send(500, "application/json", statusBody(500, "internal error"), {});
        }
        if (!w.responded()) w.send(500, "application/json", statusBody(500, "no response"), {});
      }
      bool ok = w.finish();
      record(req.method, w.status(), started);
      if (!ok || !keepAlive) return;
    }
  }

  void record(const std::string& method, int code, std::chrono::steady_clock::time_point start) {
    if (!metrics_.requests) return;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics_.requests->Add({{"method", method}, {"code", std::to_string(code)}}).Increment();
    static const prometheus::Histogram::BucketBoundaries kBuckets{
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60};
    metrics_.duration->Add({{"method", method}}, kBuckets).Observe(secs);
  }

  ServerOptions opts_;
  Handler handler_;
  net::io_context ioc_;
  std::optional<net::ssl::context> ssl_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread acceptThread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable allDone_;
  std::set<int> liveFds_;
  std::size_t active_ = 0;
  Metrics metrics_;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::start(ServerOptions opts, Handler handler) {
  auto s = std::make_unique<ServerImpl>(std::move(opts), std::move(handler));
  SKIFF_RETURN_IF_ERROR(s->init());
  return std::unique_ptr<Server>(std::move(s));
}

}  // namespace skiff::common::http
