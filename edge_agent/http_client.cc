// httpPerform on Boost.Asio (transports, TLS stream, timeouts) + HttpResponseDecoder (Beast's
// HTTP/1.1 parser) + TlsPeerVerifier (OpenSSL policy). One io_context and one connection per
// request, driven by the calling thread: each asynchronous step is run with
// io_context::run_one_until in slices of kPollInterval, which is where the request's deadline
// and its cancellation are checked (the blocking-client-with-timeouts pattern of Asio's own
// examples); when either fires the socket is closed, which completes the pending operation.
#include "edge_agent/http_client.h"

#include <openssl/err.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <memory>

#include "common/clock.h"
#include "edge_agent/http_response_decoder.h"
#include "edge_agent/http_tls.h"

namespace skiff::edge_agent {

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using UnixSocket = net::local::stream_protocol::socket;
using common::Result;
using common::Status;
using SteadyClock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
constexpr std::size_t kMaxCollectedBody = 64 * 1024 * 1024;
constexpr std::size_t kReadBuffer = 16 * 1024;
constexpr auto kPollInterval = std::chrono::milliseconds(250);

struct Url {
  bool https = false;
  std::string host;        // without IPv6 brackets
  std::string hostHeader;  // host[:port] as the Host header wants it
  std::uint16_t port = 0;
  std::string target;  // path and query
};

bool lowerPrefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

Result<Url> parseUrl(std::string_view url) {
  Url u;
  std::string_view rest;
  if (lowerPrefix(url, "https://")) {
    u.https = true;
    rest = url.substr(8);
  } else if (lowerPrefix(url, "http://")) {
    rest = url.substr(7);
  } else {
    return common::invalidArgument("url \"" + std::string(url) + "\": not http:// or https://");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return common::invalidArgument("url \"" + std::string(url) +
                                     "\": contains a space or control character");
    }
  }
  std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? "" : rest.substr(end);
  target = target.substr(0, target.find('#'));
  if (authority.find('@') != std::string_view::npos) {
    return common::invalidArgument("url \"" + std::string(url) + "\": user info is not supported");
  }
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with("[")) {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return common::invalidArgument("url \"" + std::string(url) + "\": unterminated IPv6 address");
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(":")) {
      return common::invalidArgument("url \"" + std::string(url) + "\": bad authority");
    }
    if (!after.empty()) port = after.substr(1);
  } else if (std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return common::invalidArgument("url \"" + std::string(url) + "\": no host");
  u.port = u.https ? 443 : 80;
  if (!port.empty()) {
    unsigned long p = 0;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || (p = p * 10 + (c - '0')) > 65535) {
        return common::invalidArgument("url \"" + std::string(url) + "\": bad port");
      }
    }
    if (p == 0) return common::invalidArgument("url \"" + std::string(url) + "\": bad port");
    u.port = static_cast<std::uint16_t>(p);
  }
  u.host = std::string(host);
  u.hostHeader = authority.starts_with("[") ? "[" + u.host + "]" : u.host;
  if (u.port != (u.https ? 443 : 80)) u.hostHeader += ":" + std::to_string(u.port);
  u.target =
      target.empty() || target.starts_with("?") ? "/" + std::string(target) : std::string(target);
  return u;
}

bool hasHeader(const std::vector<std::string>& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (h.size() > name.size() && h[name.size()] == ':' && lowerPrefix(h, name)) return true;
  }
  return false;
}

// The request head (and body) as sent: libcurl's defaults (Host, Accept, Content-Length for
// bodies and body-carrying methods), the caller's headers, and Connection: close because every
// request has its own connection.
Result<std::string> requestHead(const HttpRequest& req, const Url& url) {
  if (req.method.empty() || !std::all_of(req.method.begin(), req.method.end(), [](char c) {
        return std::isupper(static_cast<unsigned char>(c));
      })) {
    return common::invalidArgument("method \"" + req.method + "\": not an HTTP method");
  }
  std::string head = req.method + " " + url.target + " HTTP/1.1\r\n";
  if (!hasHeader(req.headers, "host")) head += "Host: " + url.hostHeader + "\r\n";
  if (!hasHeader(req.headers, "accept")) head += "Accept: */*\r\n";
  bool bodyMethod = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
  if ((bodyMethod || !req.body.empty()) && !hasHeader(req.headers, "content-length")) {
    head += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  }
  for (const auto& h : req.headers) {
    std::size_t colon = h.find(':');
    if (colon == 0 || colon == std::string::npos || h.find_first_of("\r\n") != std::string::npos) {
      return common::invalidArgument("header \"" + h + "\": not a single \"Name: value\" line");
    }
    std::string_view value = std::string_view(h).substr(colon + 1);
    if (value.find_first_not_of(' ') == std::string_view::npos) continue;  // "Name:" means unset
    head += h + "\r\n";
  }
  head += "Connection: close\r\n\r\n";
  return head;
}

std::string formatMs(std::chrono::milliseconds d) {
  return common::formatDuration(std::chrono::duration_cast<std::chrono::nanoseconds>(d));
}

// One request's io_context, deadlines and cancellation, and the loop that runs its steps.
class Session {
 public:
  enum class Waited { kDone, kTimedOut, kCancelled };

  explicit Session(const HttpRequest& req) : req_(req), ioc_(1) {
    auto start = SteadyClock::now();
    deadline_ = req.timeout.count() > 0 ? start + req.timeout : SteadyClock::time_point::max();
    connectDeadline_ = req.connectTimeout.count() > 0
                           ? std::min(deadline_, start + req.connectTimeout)
                           : deadline_;
  }

  net::io_context& ioc() { return ioc_; }
  SteadyClock::time_point deadline() const { return deadline_; }
  SteadyClock::time_point connectDeadline() const { return connectDeadline_; }
  bool cancelled() const { return req_.cancelled && req_.cancelled(); }

  // Runs the io_context until the pending operation sets done, the deadline passes or the
  // caller cancels. In the last two cases abort() is called (it closes the socket or cancels the
  // resolver) and the aborted operation is run to completion before returning.
  template <class Abort>
  Waited wait(const bool& done, SteadyClock::time_point until, Abort&& abort) {
    Waited w = Waited::kDone;
    while (!done) {
      if (cancelled()) {
        w = Waited::kCancelled;
        break;
      }
      auto now = SteadyClock::now();
      if (now >= until) {
        w = Waited::kTimedOut;
        break;
      }
      ioc_.restart();
      ioc_.run_one_until(until - now > kPollInterval ? now + kPollInterval : until);
    }
    if (!done) {
      abort();
      ioc_.restart();
      ioc_.run();
    }
    return w;
  }

  Status timedOut(std::string_view what, SteadyClock::time_point until) const {
    bool connectLimit = until == connectDeadline_ && connectDeadline_ != deadline_;
    return common::deadlineExceeded(prefix() + std::string(what) + " timed out after " +
                                    formatMs(connectLimit ? req_.connectTimeout : req_.timeout) +
                                    (connectLimit ? " (connect timeout)" : ""));
  }
  std::string prefix() const { return req_.method + " " + req_.url + ": "; }

 private:
  const HttpRequest& req_;
  net::io_context ioc_;
  SteadyClock::time_point deadline_;
  SteadyClock::time_point connectDeadline_;
};

// Outcome of a step: Ok, an error Status, or "aborted" (cancelled; the response is returned).
struct Step {
  Status status;
  bool aborted = false;
};

Step failed(Status s) { return Step{std::move(s), false}; }
Step abortedStep() { return Step{Status::ok(), true}; }

template <class Stream>
void closeLowest(Stream& s) {
  error_code ignored;
  s.lowest_layer().close(ignored);
}

// Is an error from a TLS stream a certificate problem (Unauthenticated) or a transport failure.
Status tlsFailure(const Session& s, std::string_view what, const error_code& ec,
                  const TlsPeerVerifier* verifier) {
  if (verifier != nullptr && !verifier->rejection().empty()) {
    return common::unauthenticated(s.prefix() + verifier->rejection());
  }
  if (ec.category() == net::error::get_ssl_category() &&
      isCertificateAlert(static_cast<unsigned long>(ec.value()))) {
    return common::unauthenticated(s.prefix() + std::string(what) +
                                   ": the server rejected the client certificate (" + ec.message() +
                                   ")");
  }
  return common::unavailable(s.prefix() + std::string(what) + ": " + ec.message());
}

Step connectUnix(Session& s, UnixSocket& sock, const std::string& path) {
  bool done = false;
  error_code ec;
  sock.async_connect(net::local::stream_protocol::endpoint(path), [&](error_code e) {
    ec = e;
    done = true;
  });
  auto w = s.wait(done, s.connectDeadline(), [&] { closeLowest(sock); });
  if (w == Session::Waited::kCancelled) return abortedStep();
  if (w == Session::Waited::kTimedOut) return failed(s.timedOut("connect", s.connectDeadline()));
  if (ec)
    return failed(common::unavailable(s.prefix() + "connect to " + path + ": " + ec.message()));
  return {};
}

Step connectTcp(Session& s, tcp::socket& sock, const Url& url) {
  tcp::resolver::results_type endpoints;
  error_code ec;
  auto addr = net::ip::make_address(url.host, ec);
  if (!ec) {
    endpoints = tcp::resolver::results_type::create(tcp::endpoint(addr, url.port), url.host,
                                                    std::to_string(url.port));
  } else {
    tcp::resolver resolver(s.ioc());
    bool done = false;
    resolver.async_resolve(url.host, std::to_string(url.port),
                           [&](error_code e, tcp::resolver::results_type r) {
                             ec = e;
                             endpoints = std::move(r);
                             done = true;
                           });
    auto w = s.wait(done, s.connectDeadline(), [&] { resolver.cancel(); });
    if (w == Session::Waited::kCancelled) return abortedStep();
    if (w == Session::Waited::kTimedOut) {
      return failed(s.timedOut("resolving " + url.host, s.connectDeadline()));
    }
    if (ec) {
      return failed(common::unavailable(s.prefix() + "could not resolve host " + url.host + ": " +
                                        ec.message()));
    }
  }
  bool done = false;
  net::async_connect(sock, endpoints, [&](error_code e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  auto w = s.wait(done, s.connectDeadline(), [&] { closeLowest(sock); });
  if (w == Session::Waited::kCancelled) return abortedStep();
  if (w == Session::Waited::kTimedOut) return failed(s.timedOut("connect", s.connectDeadline()));
  if (ec) {
    return failed(
        common::unavailable(s.prefix() + "connect to " + url.hostHeader + ": " + ec.message()));
  }
  return {};
}

template <class Socket>
Step handshake(Session& s, ssl::stream<Socket>& tls, TlsPeerVerifier& verifier) {
  if (auto st = verifier.prepare(tls.native_handle()); !st.isOk()) return failed(st);
  bool done = false;
  error_code ec;
  tls.async_handshake(ssl::stream_base::client, [&](error_code e) {
    ec = e;
    done = true;
  });
  auto w = s.wait(done, s.connectDeadline(), [&] { closeLowest(tls); });
  if (w == Session::Waited::kCancelled) return abortedStep();
  if (w == Session::Waited::kTimedOut) {
    return failed(s.timedOut("TLS handshake", s.connectDeadline()));
  }
  if (ec) return failed(tlsFailure(s, "TLS handshake", ec, &verifier));
  return {};
}

// Sends the request and reads the response into resp (or through req.onData).
template <class Stream>
Step exchange(Session& s, Stream& stream, const HttpRequest& req, const std::string& head,
              HttpResponse& resp) {
  auto closeStream = [&] { closeLowest(stream); };
  {
    bool done = false;
    error_code ec;
    std::array<net::const_buffer, 2> out{net::buffer(head), net::buffer(req.body)};
    net::async_write(stream, out, [&](error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    auto w = s.wait(done, s.deadline(), closeStream);
    if (w == Session::Waited::kCancelled) return abortedStep();
    if (w == Session::Waited::kTimedOut) return failed(s.timedOut("request", s.deadline()));
    if (ec) return failed(tlsFailure(s, "sending the request", ec, nullptr));
  }

  Status sinkError;
  HttpResponseDecoder decoder(req.method == "HEAD", kMaxHeaderBytes, [&](std::string_view data) {
    // Streaming only for 2xx; error bodies are collected for the caller's message.
    if (req.onData && decoder.status() >= 200 && decoder.status() < 300) {
      if (s.cancelled() || !req.onData(data)) {
        resp.aborted = true;
        return false;
      }
      return true;
    }
    if (resp.body.size() + data.size() > kMaxCollectedBody) {
      sinkError = common::resourceExhausted(s.prefix() + "response body exceeds " +
                                            std::to_string(kMaxCollectedBody) + " bytes");
      return false;
    }
    resp.body.append(data);
    return true;
  });
  auto buf = std::make_unique<char[]>(kReadBuffer);
  while (true) {
    bool done = false;
    error_code ec;
    std::size_t n = 0;
    stream.async_read_some(net::buffer(buf.get(), kReadBuffer), [&](error_code e, std::size_t k) {
      ec = e;
      n = k;
      done = true;
    });
    auto w = s.wait(done, s.deadline(), closeStream);
    if (w == Session::Waited::kCancelled) return abortedStep();
    if (w == Session::Waited::kTimedOut) return failed(s.timedOut("request", s.deadline()));
    Result<HttpResponseDecoder::Progress> p = HttpResponseDecoder::Progress::kNeedMore;
    if (n > 0) p = decoder.feed(std::string_view(buf.get(), n));
    // A peer that closes without TLS close_notify ends the stream like a plain close; whether
    // the response was complete is the decoder's call (length, chunked or until-close).
    if (p.isOk() && *p == HttpResponseDecoder::Progress::kNeedMore &&
        (ec == net::error::eof || ec == ssl::error::stream_truncated)) {
      p = decoder.finish();
      ec = {};
    }
    if (!sinkError.isOk()) return failed(sinkError);
    if (!p.isOk()) return failed(p.status().withContext(req.method + " " + req.url));
    resp.status = decoder.status();
    resp.headers = decoder.headers();
    if (*p == HttpResponseDecoder::Progress::kStopped) return abortedStep();
    if (*p == HttpResponseDecoder::Progress::kComplete) return {};
    if (ec) return failed(tlsFailure(s, "reading the response", ec, nullptr));
    if (s.cancelled()) return abortedStep();
  }
}

template <class Socket>
Step overTls(Session& s, Socket&& sock, const HttpRequest& req, const Url& url,
             const std::string& head, HttpResponse& resp) {
  ssl::context ctx(ssl::context::tls_client);
  TlsPeerVerifier verifier(req.tls, url.host, resp);
  if (auto st = verifier.configure(ctx.native_handle()); !st.isOk()) {
    return failed(st.withContext(req.method + " " + req.url));
  }
  ssl::stream<std::decay_t<Socket>> tls(std::move(sock), ctx);
  Step st = handshake(s, tls, verifier);
  if (!st.status.isOk() || st.aborted) return st;
  return exchange(s, tls, req, head, resp);
}

Step perform(Session& s, const HttpRequest& req, const Url& url, const std::string& head,
             HttpResponse& resp) {
  if (s.cancelled()) return abortedStep();
  if (!req.unixSocket.empty()) {
    UnixSocket sock(s.ioc());
    Step st = connectUnix(s, sock, req.unixSocket);
    if (!st.status.isOk() || st.aborted) return st;
    return url.https ? overTls(s, std::move(sock), req, url, head, resp)
                     : exchange(s, sock, req, head, resp);
  }
  tcp::socket sock(s.ioc());
  Step st = connectTcp(s, sock, url);
  if (!st.status.isOk() || st.aborted) return st;
  return url.https ? overTls(s, std::move(sock), req, url, head, resp)
                   : exchange(s, sock, req, head, resp);
}

}  // namespace

Result<HttpResponse> httpPerform(const HttpRequest& req) {
  SKIFF_ASSIGN_OR_RETURN(Url url, parseUrl(req.url));
  SKIFF_ASSIGN_OR_RETURN(std::string head, requestHead(req, url));
  HttpResponse resp;
  Session session(req);
  Step st;
  try {
    st = perform(session, req, url, head, resp);
  } catch (const std::exception& e) {  // Asio reports resource exhaustion (no fds) by throwing
    return common::unavailable(session.prefix() + e.what());
  }
  if (st.aborted) {
    resp.aborted = true;
    return resp;
  }
  if (!st.status.isOk()) return st.status;
  return resp;
}

}  // namespace skiff::edge_agent
