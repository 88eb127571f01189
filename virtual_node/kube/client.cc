// Kubernetes API client over libcurl.
#include "virtual_node/kube/client.h"

#include <random>
#include <thread>

#include "common/log.h"

namespace skiff::virtual_node::kube {

using common::Status;

namespace resources {
const ApiResource kPods{"", "v1", "pods", "Pod", true};
const ApiResource kNodes{"", "v1", "nodes", "Node", false};
const ApiResource kLeases{"coordination.k8s.io", "v1", "leases", "Lease", true};
const ApiResource kEvents{"", "v1", "events", "Event", true};
const ApiResource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
const ApiResource kSecrets{"", "v1", "secrets", "Secret", true};
}  // namespace resources

std::string ApiResource::path(std::string_view ns, std::string_view name,
                              std::string_view subresource) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + CurlEasy::escape(ns);
  p += "/" + resource;
  if (!name.empty()) p += "/" + CurlEasy::escape(name);
  if (!subresource.empty()) p += "/" + std::string(subresource);
  return p;
}

std::string queryEscape(std::string_view s) { return CurlEasy::escape(s); }

KubeClient::KubeClient(KubeConfig config, KubeClientOptions options)
    : config_(std::move(config)), opts_(std::move(options)) {
  tls_.caPem = config_.caPem;
  tls_.insecureSkipVerify = config_.insecureSkipTlsVerify;
  tls_.clientCertPem = config_.clientCertPem;
  tls_.clientKeyPem = config_.clientKeyPem;
}

KubeClient::~KubeClient() { shutdown(); }

void KubeClient::shutdown() {
  shutdown_ = true;
  std::lock_guard lock(sleepMu_);
  sleepCv_.notify_all();
}

Result<CurlEasy> KubeClient::acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      CurlEasy h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  return CurlEasy::create();
}

void KubeClient::release(CurlEasy h) {
  std::lock_guard lock(mu_);
  if (idle_.size() < 8) idle_.push_back(std::move(h));
}

CurlRequest KubeClient::baseRequest(const std::string& method, const std::string& path) const {
  CurlRequest req;
  req.method = method;
  req.url = config_.server + path;
  req.timeout = opts_.requestTimeout;
  req.headers.push_back("Accept: application/json");
  req.headers.push_back("User-Agent: " + opts_.userAgent);
  if (!config_.token.empty()) req.headers.push_back("Authorization: Bearer " + config_.token);
  return req;
}

namespace {

common::StatusCode codeForHttp(long status, const std::string& reason) {
  switch (status) {
    case 400:
    case 422:
      return common::StatusCode::kInvalidArgument;
    case 401:
      return common::StatusCode::kUnauthenticated;
    case 403:
      return common::StatusCode::kPermissionDenied;
    case 404:
      return common::StatusCode::kNotFound;
    case 409:
      return reason == "AlreadyExists" ? common::StatusCode::kAlreadyExists
                                       : common::StatusCode::kConflict;
    case 410:
      return common::StatusCode::kGone;
    case 429:
      return common::StatusCode::kResourceExhausted;
    case 504:
      return common::StatusCode::kDeadlineExceeded;
    default:
      return status >= 500 ? common::StatusCode::kUnavailable : common::StatusCode::kInternal;
  }
}

bool retryable(const std::string& method, const CurlResponse& resp) {
  using T = CurlResponse::Transport;
  if (resp.transport == T::kConnectFailed) return true;  // never reached the server
  if (resp.transport == T::kOk) return resp.status == 429 || resp.status == 503;
  if (resp.transport == T::kAborted) return false;
  return method == "GET";
}

}  // namespace

Result<Json> KubeClient::toResult(const std::string& what, const CurlResponse& resp) {
  using T = CurlResponse::Transport;
  switch (resp.transport) {
    case T::kOk:
      break;
    case T::kTimedOut:
      return common::deadlineExceeded(what + ": " + resp.error);
    case T::kAborted:
      return common::unavailable(what + ": cancelled");
    default:
      return common::unavailable(what + ": " + resp.error);
  }
  if (resp.status >= 200 && resp.status < 300) {
    if (resp.body.empty()) return Json::object();
    auto j = common::parseJson(resp.body, 256u * 1024 * 1024);
    if (!j.isOk()) return common::internalError(what + ": " + j.status().message());
    return std::move(*j);
  }
  std::string message;
  std::string reason;
  auto j = common::parseJson(resp.body);
  if (j.isOk() && j->is_object() && common::jsonString(*j, "kind") == "Status") {
    message = common::jsonString(*j, "message");
    reason = common::jsonString(*j, "reason");
  }
  if (message.empty()) {
    message = resp.body.empty() ? "HTTP " + std::to_string(resp.status) : resp.body;
    if (message.size() > 512) message.resize(512);
  }
  return common::Status(codeForHttp(resp.status, reason),
                        what + ": " + message + " (HTTP " + std::to_string(resp.status) + ")");
}

bool KubeClient::sleepBackoff(int attempt, const CurlResponse& resp) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  auto delay = opts_.retryBaseDelay * (1 << std::min(attempt, 16));
  if (delay > opts_.retryMaxDelay) delay = opts_.retryMaxDelay;
  if (!resp.retryAfter.empty()) {
    try {
      auto s = std::chrono::seconds(std::stoll(resp.retryAfter));
      if (s > std::chrono::seconds(0) && s < std::chrono::seconds(30)) {
        delay = std::chrono::duration_cast<std::chrono::milliseconds>(s);
      }
    } catch (const std::exception&) {
    }
  }
  // ±25 % jitter, so many clients do not retry in lock-step.
  std::uniform_real_distribution<double> jitter(0.75, 1.25);
  auto d = std::chrono::milliseconds(static_cast<long long>(delay.count() * jitter(rng)));
  std::unique_lock lock(sleepMu_);
  return !sleepCv_.wait_for(lock, d, [this] { return shutdown_.load(); });
}

Result<Json> KubeClient::call(const std::string& method, const std::string& path,
                              const std::string& body, const std::string& contentType) {
  std::string what = method + " " + path;
  for (int attempt = 0;; ++attempt) {
    if (shutdown_) return common::unavailable(what + ": client shut down");
    SKIFF_ASSIGN_OR_RETURN(CurlEasy h, acquire());
    CurlRequest req = baseRequest(method, path);
    req.body = body;
    if (!contentType.empty()) req.headers.push_back("Content-Type: " + contentType);
    req.cancelled = [this] { return shutdown_.load(); };
    CurlResponse resp = h.perform(req, tls_);
    release(std::move(h));
    if (attempt < opts_.maxRetries && retryable(method, resp)) {
      common::log::debug("retrying request", {{"request", what},
                                              {"attempt", attempt + 1},
                                              {"status", resp.status},
                                              {"error", resp.error}});
      if (!sleepBackoff(attempt, resp)) return common::unavailable(what + ": client shut down");
      continue;
    }
    return toResult(what, resp);
  }
}

Result<Json> KubeClient::get(const std::string& path) { return call("GET", path, "", ""); }

Result<Json> KubeClient::create(const std::string& collectionPath, const Json& obj) {
  return call("POST", collectionPath, common::dumpJson(obj), "application/json");
}

Result<Json> KubeClient::update(const std::string& path, const Json& obj) {
  return call("PUT", path, common::dumpJson(obj), "application/json");
}

Result<Json> KubeClient::patch(const std::string& path, const Json& patch, PatchType type) {
  const char* ct = type == PatchType::kMerge            ? "application/merge-patch+json"
                   : type == PatchType::kStrategicMerge ? "application/strategic-merge-patch+json"
                                                        : "application/json-patch+json";
  return call("PATCH", path, common::dumpJson(patch), ct);
}

Result<Json> KubeClient::remove(const std::string& path, const Json& deleteOptions) {
  return call("DELETE", path, deleteOptions.empty() ? "" : common::dumpJson(deleteOptions),
              deleteOptions.empty() ? "" : "application/json");
}

Status KubeClient::streamLines(const std::string& path,
                               const std::function<bool(std::string_view)>& onLine,
                               std::stop_token stop, std::chrono::milliseconds timeout) {
  std::string what = "GET " + path;
  if (shutdown_) return common::unavailable(what + ": client shut down");
  // A dedicated handle: streams hold their connection for minutes.
  SKIFF_ASSIGN_OR_RETURN(CurlEasy h, CurlEasy::create());
  CurlRequest req = baseRequest("GET", path);
  req.timeout = timeout;
  std::string pending;
  bool stoppedByHandler = false;
  req.cancelled = [this, &stop] { return shutdown_.load() || stop.stop_requested(); };
  req.onData = [&](std::string_view data) {
    pending.append(data);
    std::size_t start = 0;
    for (;;) {
      std::size_t nl = pending.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(pending.data() + start, nl - start);
      start = nl + 1;
      if (line.empty()) continue;
      if (!onLine(line)) {
        stoppedByHandler = true;
        return false;
      }
    }
    pending.erase(0, start);
    if (pending.size() > 64u * 1024 * 1024) return false;  // a line without end: give up
    return true;
  };
  CurlResponse resp = h.perform(req, tls_);
  using T = CurlResponse::Transport;
  if (stoppedByHandler || stop.stop_requested()) return Status::ok();
  if (resp.transport == T::kTimedOut && resp.status >= 200 && resp.status < 300) {
    return Status::ok();  // our own bound on the stream's length
  }
  auto r = toResult(what, resp);
  if (!r.isOk()) return r.status();
  if (!pending.empty()) (void)onLine(pending);
  return Status::ok();
}

}  // namespace skiff::virtual_node::kube
