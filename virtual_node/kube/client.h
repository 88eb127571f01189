// Kubernetes API client over HTTPS (libcurl) and JSON (nlohmann), written against the public API
// only, so it works against Skiff's control plane and a real cluster alike. Authentication and
// trust come from a kubeconfig (bearer token or client certificate, cluster CA).
//
// Contract: every method blocks on the network and is thread-safe (a small pool of keep-alive
// connections is shared). Errors are values: the server's Status message with the HTTP status
// mapped to a code (404 NotFound, 409 AlreadyExists/Conflict, 410 Gone, 400/422 InvalidArgument,
// 401 Unauthenticated, 403 PermissionDenied, 429 ResourceExhausted, 5xx and transport failures
// Unavailable, timeouts DeadlineExceeded). Requests the server certainly did not process
// (connection refused, 429, 503) are retried with exponential backoff and jitter, reads also on
// any transport failure; writes are otherwise not repeated (callers own idempotency).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "virtual_node/kube/curl_easy.h"
#include "virtual_node/kube/kubeconfig.h"

namespace skiff::virtual_node::kube {

using common::Json;
using common::Result;

// A resource of the API ("pods" in "" v1, "leases" in coordination.k8s.io/v1, ...).
struct ApiResource {
  std::string group;
  std::string version;
  std::string resource;
  std::string kind;
  bool namespaced = true;

  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "/api/v1/namespaces/ns/pods/name/status"; ns ignored for cluster-scoped resources, "" lists
  // across namespaces; name "" is the collection.
  std::string path(std::string_view ns, std::string_view name = "",
                   std::string_view subresource = "") const;
};

namespace resources {
extern const ApiResource kPods;
extern const ApiResource kNodes;
extern const ApiResource kLeases;
extern const ApiResource kEvents;
extern const ApiResource kConfigMaps;
extern const ApiResource kSecrets;
}  // namespace resources

enum class PatchType { kMerge, kStrategicMerge, kJson };

struct KubeClientOptions {
  std::string userAgent = "skiff-virtual-node";
  std::chrono::milliseconds requestTimeout{30000};
  int maxRetries = 4;
  std::chrono::milliseconds retryBaseDelay{100};
  std::chrono::milliseconds retryMaxDelay{5000};
};

class KubeClient {
 public:
  KubeClient(KubeConfig config, KubeClientOptions options = {});
  ~KubeClient();

  Result<Json> get(const std::string& path);
  Result<Json> create(const std::string& collectionPath, const Json& obj);
  Result<Json> update(const std::string& path, const Json& obj);  // PUT
  Result<Json> patch(const std::string& path, const Json& patch,
                     PatchType type = PatchType::kMerge);
  // DELETE with DeleteOptions as the body (e.g. {"gracePeriodSeconds":0,"preconditions":{uid}}).
  Result<Json> remove(const std::string& path, const Json& deleteOptions = Json::object());

  // Streaming GET (watch, follow): onLine receives every complete line as it arrives and returns
  // false to end the stream. Returns Ok when the server ended the stream or onLine stopped it,
  // Cancelled-as-Ok when stop was requested, and the mapped error for non-2xx answers (410 Gone
  // for an expired resourceVersion) or transport failures. timeout 0 = unbounded.
  common::Status streamLines(const std::string& path,
                             const std::function<bool(std::string_view line)>& onLine,
                             std::stop_token stop, std::chrono::milliseconds timeout);

  // Ends backoff waits and open streams at once (shutdown). Later calls fail with Unavailable.
  void shutdown();
  const KubeConfig& config() const { return config_; }

  // Maps a finished HTTP exchange to a Result (exposed for tests).
  static Result<Json> toResult(const std::string& what, const CurlResponse& resp);

 private:
  Result<Json> call(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& contentType);
  CurlRequest baseRequest(const std::string& method, const std::string& path) const;
  Result<CurlEasy> acquire();
  void release(CurlEasy h);
  bool sleepBackoff(int attempt, const CurlResponse& resp);

  KubeConfig config_;
  KubeClientOptions opts_;
  CurlTls tls_;
  std::mutex mu_;
  std::vector<CurlEasy> idle_;
  std::atomic<bool> shutdown_{false};
  std::mutex sleepMu_;
  std::condition_variable sleepCv_;
};

// Percent-encoding for query values ("app=web" → "app%3Dweb").
std::string queryEscape(std::string_view s);

}  // namespace skiff::virtual_node::kube
