// Probes (see prober.h).
#include "edge_agent/prober.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <thread>

#include "common/log.h"
#include "edge_agent/http_client.h"

namespace skiff::edge_agent {

namespace protocol = common::protocol;
using common::Status;

namespace {

struct Address {
  std::string host;
  int port = 0;
};

Address resolve(const protocol::Probe& p, const ProbeTarget& t) {
  if (!p.host.empty()) return {p.host, p.port};
  for (const auto& m : t.ports) {
    if (m.containerPort == p.port && m.hostPort > 0 && m.protocol == "TCP") {
      std::string host = m.hostIp.empty() || m.hostIp == "0.0.0.0" ? "127.0.0.1" : m.hostIp;
      return {host, m.hostPort};
    }
  }
  if (!t.containerIp.empty()) return {t.containerIp, p.port};
  return {"127.0.0.1", p.port};
}

Status tcpConnect(const Address& a, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(a.port);
  if (::getaddrinfo(a.host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return common::unavailable("cannot resolve " + a.host);
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(res, ::freeaddrinfo);
  int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return common::unavailable("socket failed");
  int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd pfd{fd, POLLOUT, 0};
    rc = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    if (rc == 1) {
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
    } else {
      ::close(fd);
      return common::deadlineExceeded("dial " + a.host + ":" + port + ": timeout");
    }
  }
  ::close(fd);
  if (rc != 0) return common::unavailable("dial " + a.host + ":" + port + ": connection refused");
  return Status::ok();
}

}  // namespace

Status runProbe(engine::ContainerIo& io, const protocol::Probe& p, const ProbeTarget& t) {
  auto timeout = std::chrono::milliseconds(std::max(1, p.timeoutSeconds) * 1000);
  switch (p.kind) {
    case protocol::Probe::Kind::kExec: {
      auto r = io.exec(t.containerId, p.command, timeout);
      if (!r.isOk()) return r.status();
      if (r->exitCode != 0) {
        std::string out = r->output.substr(0, 256);
        return common::unavailable("command exited with " + std::to_string(r->exitCode) +
                                   (out.empty() ? "" : ": " + out));
      }
      return Status::ok();
    }
    case protocol::Probe::Kind::kHttpGet: {
      Address a = resolve(p, t);
      std::string host = a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host;
      HttpRequest req;
      req.url = (p.scheme == "HTTPS" ? "https://" : "http://") + host + ":" +
                std::to_string(a.port) + (p.path.empty() ? "/" : p.path);
      req.timeout = timeout;
      req.connectTimeout = timeout;
      req.tls.insecureSkipVerify = true;  // like the kubelet: probes do not verify certificates
      req.headers.push_back("User-Agent: skiff-agent-probe");
      for (const auto& [k, v] : p.httpHeaders) req.headers.push_back(k + ": " + v);
      // Probe responses are small; do not buffer a large body.
      req.onData = [](std::string_view) { return true; };
      auto r = httpPerform(req);
      if (!r.isOk()) return r.status();
      if (r->status < 200 || r->status >= 400) {
        return common::unavailable("HTTP probe failed with statuscode: " +
                                   std::to_string(r->status));
      }
      return Status::ok();
    }
    case protocol::Probe::Kind::kTcpSocket:
      return tcpConnect(resolve(p, t), timeout);
  }
  return common::internalError("unknown probe kind");
}

struct Prober::Worker {
  std::mutex mu;
  std::condition_variable_any cv;
  State state;
  std::string containerId;
  std::jthread thread;
};

void Prober::track(const std::string& module, const ProbeTarget& target,
                   const std::optional<protocol::Probe>& liveness,
                   const std::optional<protocol::Probe>& readiness) {
  untrack(module);
  auto w = std::make_shared<Worker>();
  w->containerId = target.containerId;
  w->state.ready = !readiness.has_value();
  w->state.health = liveness ? protocol::Health::kUnknown : protocol::Health::kHealthy;
  if (liveness || readiness) {
    std::weak_ptr<Worker> weak = w;
    w->thread =
        std::jthread([this, module, target, liveness, readiness, weak](std::stop_token stop) {
          using Clock = std::chrono::steady_clock;
          struct Run {
            const protocol::Probe* probe;
            bool isLiveness;
            Clock::time_point next;
            int successes = 0;
            int failures = 0;
          };
          std::vector<Run> runs;
          auto start = Clock::now();
          if (liveness) {
            runs.push_back(
                {&*liveness, true, start + std::chrono::seconds(liveness->initialDelaySeconds)});
          }
          if (readiness) {
            runs.push_back(
                {&*readiness, false, start + std::chrono::seconds(readiness->initialDelaySeconds)});
          }
          while (!stop.stop_requested()) {
            auto next = runs[0].next;
            for (const auto& r : runs) next = std::min(next, r.next);
            auto w = weak.lock();
            if (!w) return;
            {
              std::unique_lock lock(w->mu);
              if (w->cv.wait_until(lock, stop, next, [] { return false; })) return;
              if (stop.stop_requested()) return;
            }
            for (auto& r : runs) {
              if (Clock::now() < r.next) continue;
              Status s = runProbe(io_, *r.probe, target);
              r.next = Clock::now() + std::chrono::seconds(std::max(1, r.probe->periodSeconds));
              if (s.isOk()) {
                r.failures = 0;
                ++r.successes;
              } else {
                r.successes = 0;
                ++r.failures;
              }
              bool changed = false;
              {
                std::lock_guard lock(w->mu);
                if (!s.isOk())
                  w->state.message = (r.isLiveness ? "Liveness" : "Readiness") +
                                     std::string(" probe failed: ") + s.message();
                if (r.isLiveness) {
                  if (s.isOk() && r.successes >= std::max(1, r.probe->successThreshold) &&
                      w->state.health != protocol::Health::kHealthy) {
                    w->state.health = protocol::Health::kHealthy;
                    changed = true;
                  } else if (!s.isOk() && r.failures >= std::max(1, r.probe->failureThreshold) &&
                             !w->state.livenessFailed) {
                    w->state.health = protocol::Health::kUnhealthy;
                    w->state.livenessFailed = true;
                    changed = true;
                  }
                } else {
                  if (s.isOk() && r.successes >= std::max(1, r.probe->successThreshold) &&
                      !w->state.ready) {
                    w->state.ready = true;
                    changed = true;
                  } else if (!s.isOk() && r.failures >= std::max(1, r.probe->failureThreshold) &&
                             w->state.ready) {
                    w->state.ready = false;
                    changed = true;
                  }
                }
              }
              if (changed) {
                common::log::info("probe result changed",
                                  {{"module", module},
                                   {"probe", r.isLiveness ? "liveness" : "readiness"},
                                   {"ok", s.isOk()},
                                   {"detail", s.isOk() ? "" : s.message()}});
                if (onChange_) onChange_(module);
              }
            }
          }
        });
  }
  std::lock_guard lock(mu_);
  workers_[module] = std::move(w);
}

void Prober::untrack(const std::string& module) {
  std::shared_ptr<Worker> w;
  {
    std::lock_guard lock(mu_);
    auto it = workers_.find(module);
    if (it == workers_.end()) return;
    w = std::move(it->second);
    workers_.erase(it);
  }
  if (w->thread.joinable()) {
    w->thread.request_stop();
    w->thread.join();
  }
}

bool Prober::tracking(const std::string& module, const std::string& containerId) const {
  std::lock_guard lock(mu_);
  auto it = workers_.find(module);
  return it != workers_.end() && it->second->containerId == containerId;
}

Prober::State Prober::state(const std::string& module) const {
  std::shared_ptr<Worker> w;
  {
    std::lock_guard lock(mu_);
    auto it = workers_.find(module);
    if (it == workers_.end()) return State{};
    w = it->second;
  }
  std::lock_guard lock(w->mu);
  return w->state;
}

void Prober::stopAll() {
  std::map<std::string, std::shared_ptr<Worker>> all;
  {
    std::lock_guard lock(mu_);
    all.swap(workers_);
  }
  for (auto& [name, w] : all) {
    if (w->thread.joinable()) {
      w->thread.request_stop();
      w->thread.join();
    }
  }
}

}  // namespace skiff::edge_agent
