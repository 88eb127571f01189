// Raw TLS + MQTT CONNECT probe.
#include "hub/broker/tls_probe.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace skiff::hub::broker {

using common::Result;

namespace {

struct CtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Result<int> connectTcp(const common::HostPort& hp, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(hp.port);
  if (int rc = ::getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return common::unavailable("resolving " + hp.toString() + ": " + gai_strerror(rc));
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    ::freeaddrinfo(res);
    return common::unavailable(std::string("socket: ") + std::strerror(errno));
  }
  int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    int e = errno;
    ::close(fd);
    return common::unavailable("connecting to " + hp.toString() + ": " + std::strerror(e));
  }
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
    ::close(fd);
    return common::unavailable("connecting to " + hp.toString() + ": timed out");
  }
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    ::close(fd);
    return common::unavailable("connecting to " + hp.toString() + ": " + std::strerror(err));
  }
  // Back to blocking with timeouts for the TLS exchange.
  ::fcntl(fd, F_SETFL, 0);
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

std::string connectPacket(const std::string& clientId) {
  std::string vh;
  vh += std::string("\x00\x04MQTT", 6);
  vh += '\x04';                      // protocol level 3.1.1
  vh += '\x02';                      // clean session
  vh += std::string("\x00\x0a", 2);  // keep alive 10 s
  std::string payload;
  payload += static_cast<char>((clientId.size() >> 8) & 0xff);
  payload += static_cast<char>(clientId.size() & 0xff);
  payload += clientId;
  std::size_t remaining = vh.size() + payload.size();  // < 128 for our ids
  std::string out;
  out += '\x10';
  out += static_cast<char>(remaining);
  return out + vh + payload;
}

}  // namespace

Result<ProbeOutcome> probeMqttTls(const common::HostPort& broker,
                                  const common::tls::TlsFiles& client, const std::string& clientId,
                                  std::chrono::milliseconds timeout) {
  if (clientId.empty() || clientId.size() > 64) {
    return common::invalidArgument("probe client id must be 1-64 characters");
  }
  std::unique_ptr<SSL_CTX, CtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return common::internalError("SSL_CTX_new failed");
  SKIFF_RETURN_IF_ERROR(common::tls::configureClientContext(ctx.get(), client));
  SKIFF_ASSIGN_OR_RETURN(int rawFd, connectTcp(broker, timeout));
  Fd fd(rawFd);
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  if (!ssl) return common::internalError("SSL_new failed");
  SSL_set_fd(ssl.get(), fd.get());
  ERR_clear_error();
  if (SSL_connect(ssl.get()) != 1) {
    ERR_clear_error();
    return ProbeOutcome::kRefused;  // TLS 1.2: the server's verification failed in the handshake
  }
  std::string pkt = connectPacket(clientId);
  if (SSL_write(ssl.get(), pkt.data(), static_cast<int>(pkt.size())) <= 0) {
    ERR_clear_error();
    return ProbeOutcome::kRefused;
  }
  // TLS 1.3: a refused client certificate shows up here, as an alert instead of a CONNACK.
  unsigned char buf[4];
  int got = 0;
  while (got < 4) {
    int n = SSL_read(ssl.get(), buf + got, 4 - got);
    if (n <= 0) {
      int err = SSL_get_error(ssl.get(), n);
      ERR_clear_error();
      if (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return common::unavailable("broker " + broker.toString() + " did not answer in time");
      }
      return ProbeOutcome::kRefused;
    }
    got += n;
  }
  bool accepted = buf[0] == 0x20 && buf[1] == 0x02 && buf[3] == 0x00;
  static const unsigned char kDisconnect[] = {0xe0, 0x00};
  SSL_write(ssl.get(), kDisconnect, sizeof kDisconnect);
  SSL_shutdown(ssl.get());
  ERR_clear_error();
  return accepted ? ProbeOutcome::kAccepted : ProbeOutcome::kRefused;
}

}  // namespace skiff::hub::broker
