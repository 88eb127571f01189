// LinkCutter: loopback forwarding with poll(2), cut by shutdown(2).
#include "tests/dashboard/link_cutter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace skiff::test {

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Writes all of buf; false when the peer is gone.
bool writeAll(int fd, const char* buf, ssize_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    buf += w;
    n -= w;
  }
  return true;
}

}  // namespace

common::Result<std::unique_ptr<LinkCutter>> LinkCutter::start(int targetPort) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return common::unavailable(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a = loopback(0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return common::unavailable("bind/listen on 127.0.0.1: " + err);
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::unique_ptr<LinkCutter> c(new LinkCutter(fd, ntohs(a.sin_port), targetPort));
  c->acceptor_ = std::thread([p = c.get()] { p->acceptLoop(); });
  return c;
}

LinkCutter::LinkCutter(int listenFd, int port, int targetPort)
    : listenFd_(listenFd), port_(port), targetPort_(targetPort) {}

LinkCutter::~LinkCutter() {
  stopping_ = true;
  ::shutdown(listenFd_, SHUT_RDWR);  // wakes accept()
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listenFd_);
  cut();
  std::vector<std::thread> pumps;
  {
    std::lock_guard lock(mu_);
    pumps.swap(pumps_);
  }
  for (auto& t : pumps) t.join();
}

int LinkCutter::cut() {
  cut_ = true;
  std::lock_guard lock(mu_);
  for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
  return static_cast<int>(open_.size() / 2);
}

void LinkCutter::restore() { cut_ = false; }

int LinkCutter::connections() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(open_.size() / 2);
}

void LinkCutter::acceptLoop() {
  while (!stopping_) {
    int client = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    if (cut_ || stopping_) {
      ::close(client);  // the network is "down": the connection attempt fails
      continue;
    }
    int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in t = loopback(targetPort_);
    if (upstream < 0 || ::connect(upstream, reinterpret_cast<sockaddr*>(&t), sizeof t) != 0) {
      if (upstream >= 0) ::close(upstream);
      ::close(client);
      continue;
    }
    std::lock_guard lock(mu_);
    open_.insert(client);
    open_.insert(upstream);
    pumps_.emplace_back([this, client, upstream] { pump(client, upstream); });
  }
}

void LinkCutter::pump(int client, int upstream) {
  pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
  char buf[16384];
  bool open = true;
  while (open) {
    int n = ::poll(fds, 2, 500);
    if (n < 0 && errno != EINTR) break;
    if (stopping_ && cut_) break;
    for (int i = 0; i < 2 && open; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t r = ::recv(fds[i].fd, buf, sizeof buf, 0);
      if (r < 0 && errno == EINTR) continue;
      open = r > 0 && writeAll(fds[1 - i].fd, buf, r);
    }
  }
  {
    std::lock_guard lock(mu_);
    open_.erase(client);
    open_.erase(upstream);
  }
  ::shutdown(client, SHUT_RDWR);
  ::shutdown(upstream, SHUT_RDWR);
  ::close(client);
  ::close(upstream);
}

}  // namespace skiff::test
