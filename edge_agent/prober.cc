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

Address resolve(const std::string& host, int port, const ProbeTarget& t) {
  if (!host.empty()) return {host, port};
  for (const auto& m : t.ports) {
    if (m.containerPort == port && m.hostPort > 0 && m.protocol == "TCP") {
      std::string h = m.hostIp.empty() || m.hostIp == "0.0.0.0" ? "127.0.0.1" : m.hostIp;
      return {h, m.hostPort};
    }
  }
  if (!t.containerIp.empty()) return {t.containerIp, port};
  return {"127.0.0.1", port};
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

Status httpGetCheck(const HttpGetCheck& check, const ProbeTarget& t,
                    std::chrono::milliseconds timeout, std::string_view userAgent) {
  Address a = resolve(check.host, check.port, t);
  std::string host = a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host;
  HttpRequest req;
  req.url = (check.scheme == "HTTPS" ? "https://" : "http://") + host + ":" +
            std::to_string(a.port) + (check.path.empty() ? "/" : check.path);
  req.timeout = timeout;
  req.connectTimeout = timeout;
  req.tls.insecureSkipVerify = true;  // like the kubelet: probes and hooks verify no certificates
  req.headers.push_back("User-Agent: " + std::string(userAgent));
  for (const auto& [k, v] : check.headers) req.headers.push_back(k + ": " + v);
  // Responses are small; do not buffer a large body.
  req.onData = [](std::string_view) { return true; };
  auto r = httpPerform(req);
  if (!r.isOk()) return r.status();
  if (r->status < 200 || r->status >= 400) {
    return common::unavailable("HTTP probe failed with statuscode: " + std::to_string(r->status));
  }
  return Status::ok();
}

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
    case protocol::Probe::Kind::kHttpGet:
      return httpGetCheck({p.scheme, p.host, p.port, p.path, p.httpHeaders}, t, timeout,
                          "skiff-agent-probe");
    case protocol::Probe::Kind::kTcpSocket:
      return tcpConnect(resolve(p.host, p.port, t), timeout);
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

namespace {

enum class Kind { kStartup, kLiveness, kReadiness };

struct Run {
  const protocol::Probe* probe;
  Kind kind;
  std::chrono::steady_clock::time_point next;
  int successes = 0;
  int failures = 0;
};

const char* nameOf(Kind k) {
  return k == Kind::kStartup ? "Startup" : k == Kind::kLiveness ? "Liveness" : "Readiness";
}

// Applies one probe result to the state; true when the state changed.
bool apply(Run& r, const Status& s, Prober::State& st) {
  if (s.isOk()) {
    r.failures = 0;
    ++r.successes;
  } else {
    r.successes = 0;
    ++r.failures;
    st.message = std::string(nameOf(r.kind)) + " probe failed: " + s.message();
  }
  bool succeeded = s.isOk() && r.successes >= std::max(1, r.probe->successThreshold);
  bool failed = !s.isOk() && r.failures >= std::max(1, r.probe->failureThreshold);
  switch (r.kind) {
    case Kind::kStartup:
      if (succeeded && !st.started) return st.started = true;
      if (failed && !st.startupFailed) return st.startupFailed = true;
      return false;
    case Kind::kLiveness:
      if (succeeded && st.health != protocol::Health::kHealthy) {
        st.health = protocol::Health::kHealthy;
        return true;
      }
      if (failed && !st.livenessFailed) {
        st.health = protocol::Health::kUnhealthy;
        return st.livenessFailed = true;
      }
      return false;
    case Kind::kReadiness:
      if (succeeded && !st.ready) return st.ready = true;
      if (failed && st.ready) {
        st.ready = false;
        return true;
      }
      return false;
  }
  return false;
}

}  // namespace

void Prober::track(const std::string& module, const ProbeTarget& target, const Probes& probes) {
  untrack(module);
  auto w = std::make_shared<Worker>();
  w->containerId = target.containerId;
  w->state.started = !probes.startup.has_value();
  w->state.ready = !probes.readiness.has_value() && w->state.started;
  w->state.health = probes.liveness ? protocol::Health::kUnknown : protocol::Health::kHealthy;
  if (probes.startup || probes.liveness || probes.readiness) {
    std::weak_ptr<Worker> weak = w;
    w->thread = std::jthread([this, module, target, probes, weak](std::stop_token stop) {
      using Clock = std::chrono::steady_clock;
      std::vector<Run> runs;
      auto start = Clock::now();
      auto add = [&](const std::optional<protocol::Probe>& p, Kind k) {
        if (p) runs.push_back({&*p, k, start + std::chrono::seconds(p->initialDelaySeconds)});
      };
      add(probes.startup, Kind::kStartup);
      add(probes.liveness, Kind::kLiveness);
      add(probes.readiness, Kind::kReadiness);
      bool wasStarted = !probes.startup.has_value();
      while (!stop.stop_requested()) {
        auto w = weak.lock();
        if (!w) return;
        bool started = false;
        {
          std::lock_guard lock(w->mu);
          started = w->state.started;
        }
        if (started && !wasStarted) {
          // Liveness and readiness begin once the startup probe succeeded.
          for (auto& r : runs) {
            if (r.kind != Kind::kStartup) {
              r.next = Clock::now() + std::chrono::seconds(r.probe->initialDelaySeconds);
            }
          }
          wasStarted = true;
        }
        auto active = [&](const Run& r) { return started != (r.kind == Kind::kStartup); };
        std::optional<Clock::time_point> next;
        for (const auto& r : runs) {
          if (active(r) && (!next || r.next < *next)) next = r.next;
        }
        if (!next) return;  // a startup probe that succeeded and nothing else to run
        {
          std::unique_lock lock(w->mu);
          if (w->cv.wait_until(lock, stop, *next, [] { return false; })) return;
          if (stop.stop_requested()) return;
        }
        for (auto& r : runs) {
          if (!active(r) || Clock::now() < r.next) continue;
          Status s = runProbe(io_, *r.probe, target);
          r.next = Clock::now() + std::chrono::seconds(std::max(1, r.probe->periodSeconds));
          bool changed = false;
          {
            std::lock_guard lock(w->mu);
            changed = apply(r, s, w->state);
            if (r.kind == Kind::kStartup && w->state.started && !probes.readiness) {
              w->state.ready = true;
            }
          }
          if (changed) {
            common::log::info("probe result changed", {{"module", module},
                                                       {"probe", nameOf(r.kind)},
                                                       {"ok", s.isOk()},
                                                       {"detail", s.isOk() ? "" : s.message()}});
            if (onChange_) onChange_(module);
          }
          if (r.kind == Kind::kStartup && changed) break;  // re-plan: other probes may start
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

void Prober::untrackPrefix(const std::string& prefix) {
  std::vector<std::string> modules;
  {
    std::lock_guard lock(mu_);
    for (const auto& [m, w] : workers_) {
      if (m.starts_with(prefix)) modules.push_back(m);
    }
  }
  for (const auto& m : modules) untrack(m);
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
