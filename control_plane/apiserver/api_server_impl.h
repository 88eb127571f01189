// The API server's request handling, shared by its files: routing and responses
// (api_server.cc), reads and watches (api_server_read.cc), creates, updates, patches and
// bindings (api_server_write.cc), deletes and finalization (api_server_delete.cc). Internal to
// control_plane/apiserver; the public face is api_server.h.
#pragma once

#include "control_plane/apiserver/api_server.h"

#include <prometheus/counter.h>

#include <arpa/inet.h>

#include <mutex>
#include <random>
#include <sstream>

#include "common/label_selector.h"
#include "common/log.h"
#include "control_plane/apiserver/discovery.h"
#include "control_plane/apiserver/field_selector.h"
#include "control_plane/apiserver/logs_proxy.h"
#include "control_plane/apiserver/patch.h"
#include "control_plane/apiserver/protobuf_body.h"
#include "control_plane/apiserver/strategy.h"
#include "control_plane/apiserver/table.h"

namespace skiff::control_plane::apiserver {

using common::StatusCode;
using common::http::Request;
using common::http::ResponseWriter;

constexpr std::string_view kJson = "application/json";

inline std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

inline bool truthy(const std::optional<std::string>& v) { return v && (*v == "true" || *v == "1"); }

// A parsed resource request.
// Pod subresources kubectl opens as interactive streams (exec, attach, port-forward).
inline bool isStreamingSubresource(std::string_view s) {
  return s == "exec" || s == "attach" || s == "portforward";
}

struct Route {
  const ResourceInfo* resource = nullptr;
  std::string ns;  // namespace from the URL ("" for cluster scope or all namespaces)
  bool hasNamespace = false;
  std::string name;
  std::string subresource;
  bool legacyWatch = false;
};

struct ListFilters {
  common::LabelSelector labels;
  FieldSelector fields;
  bool matches(const Json& obj) const {
    common::Labels l;
    if (auto m = obj.find("metadata"); m != obj.end()) {
      if (auto ls = m->find("labels"); ls != m->end() && ls->is_object()) {
        for (const auto& [k, v] : ls->items()) {
          if (v.is_string()) l.emplace(k, v.get<std::string>());
        }
      }
    }
    return labels.matches(l) && fields.matches(obj);
  }
};

// Forwards to another writer and remembers the response code (for apiserver_request_total).
class CodeRecorder final : public ResponseWriter {
 public:
  explicit CodeRecorder(ResponseWriter& w) : w_(w) {}
  void send(int status, std::string_view contentType, std::string_view body,
            const std::map<std::string, std::string>& headers) override {
    code_ = status;
    w_.send(status, contentType, body, headers);
  }
  void startStream(int status, std::string_view contentType,
                   const std::map<std::string, std::string>& headers) override {
    code_ = status;
    w_.startStream(status, contentType, headers);
  }
  bool writeChunk(std::string_view data) override { return w_.writeChunk(data); }
  bool cancelled() const override { return w_.cancelled(); }
  bool responded() const override { return w_.responded(); }
  int code() const { return code_; }

 private:
  ResponseWriter& w_;
  int code_ = 0;
};

// kube-apiserver's verb label: the HTTP verb, with LIST/WATCH for collection reads.
inline std::string metricVerb(const std::string& verb, const std::string& method) {
  if (verb == "list") return "LIST";
  if (verb == "watch") return "WATCH";
  if (verb == "deletecollection") return "DELETECOLLECTION";
  return method;
}

// The Service cluster IP range (k3s' default), as a host-order base and size.
constexpr std::uint32_t kServiceNet = (10u << 24) | (43u << 16);
constexpr std::uint32_t kServiceNetSize = 1u << 16;
inline constexpr const char* kServiceCidr = "10.43.0.0/16";

inline std::optional<std::uint32_t> parseIpv4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

inline std::string formatIpv4(std::uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." +
         std::to_string((ip >> 8) & 255) + "." + std::to_string(ip & 255);
}

struct ApiServer::Impl {
  ObjectStore& os;
  ApiServerOptions opts;
  std::shared_ptr<prometheus::Registry> metrics;
  prometheus::Family<prometheus::Counter>* apiRequests = nullptr;
  std::atomic<bool> stopping{false};
  // Serializes ClusterIP allocation with the create that claims the address (one API server).
  std::mutex serviceIpMu;

  Impl(ObjectStore& s, ApiServerOptions o, std::shared_ptr<prometheus::Registry> m)
      : os(s), opts(std::move(o)), metrics(std::move(m)) {
    if (metrics) {
      apiRequests = &prometheus::BuildCounter()
                         .Name("apiserver_request_total")
                         .Help(
                             "Counter of apiserver requests broken out for each verb, dry run "
                             "value, group, version, resource, scope, component, and HTTP "
                             "response code.")
                         .Register(*metrics);
    }
  }

  struct DeleteOptions {
    std::optional<long long> gracePeriodSeconds;
    std::string propagationPolicy;
    std::string preconditionUid;
    std::string preconditionRv;
    bool dryRun = false;  // DeleteOptions.dryRun ["All"] (kubectl sends it in the body)
  };

  void sendJson(ResponseWriter& w, int code, const Json& body);

  void sendError(ResponseWriter& w, const ApiError& e);

  void sendStatusError(ResponseWriter& w, const common::Status& s, const Route* route);

  static bool wantsTable(const Request& req);

  static std::string includeObject(const Request& req);

  // Object as returned to clients: always with kind and apiVersion.
  static Json withType(const ResourceInfo& r, Json obj);

  void handle(const Request& req, ResponseWriter& w);

  // POST authorization.k8s.io/v1 SelfSubjectAccessReview (kubectl auth can-i): the caller's own
  // permission for resourceAttributes, decided by the same rules as its requests. Non-resource
  // paths (/healthz, /version, discovery) are open to every authenticated user.
  void doSelfSubjectAccessReview(const Request& req, ResponseWriter& w, const UserInfo& user);

  static bool acceptsAggregated(const Request& req);

  void sendAggregated(ResponseWriter& w, bool core);

  static ApiError notFoundPath(const std::string& path);

  std::optional<ApiError> parseRoute(const std::vector<std::string>& seg, Route& route);

  void dispatch(const Request& req, ResponseWriter& w, Route& route, const UserInfo& user);

  void dispatchVerb(const Request& req, ResponseWriter& w, Route& route, const UserInfo& user,
                    const std::string& verb);

  bool authorizeRequest(const UserInfo& user, const Attributes& a, const Request& req);

  std::optional<ListFilters> parseFilters(const Request& req, const ResourceInfo& r,
                                          ResponseWriter& w);

  std::optional<std::string> listNamespace(const Route& route);

  void doList(const Request& req, ResponseWriter& w, const Route& route);

  // A continue token positioned after obj (same format ObjectStore issues).
  std::string continueAfter(std::int64_t revision, const Json& obj, const ResourceInfo& r,
                            const Route& route);

  void doGet(const Request& req, ResponseWriter& w, const Route& route);

  Json scaleOf(const ResourceInfo& r, const Json& obj);

  void doGetScale(ResponseWriter& w, const Route& route);

  // pods/exec, attach and portforward: a device's containers are reached through the hub's MQTT
  // RPC, which carries logs, restart and ping but no interactive streams. Answered as the API
  // server answers (authorization, then the pod must exist) with a Status that kubectl prints,
  // rather than a 404 that reads as a missing pod.
  void doUnsupportedStream(const Request& req, ResponseWriter& w, const Route& route,
                           const UserInfo& user);

  void doLogs(const Request& req, ResponseWriter& w, const Route& route);

  void doWatch(const Request& req, ResponseWriter& w, const Route& route);

  // Parses a request body into an object of the route's kind; errors are sent to w.
  std::optional<Json> readBody(const Request& req, ResponseWriter& w, const Route& route,
                               bool allowOtherKinds = false);

  // Checks/sets the namespace of a body against the URL.
  bool fixNamespace(Json& obj, const Route& route, ResponseWriter& w);

  bool checkNamespaceWritable(const Route& route, ResponseWriter& w);

  static bool dryRun(const Request& req) { return req.queryParam("dryRun").has_value(); }

  // os.guaranteedUpdate; with ?dryRun the object the update would write, computed from the
  // current one and validated the same way, and nothing written.
  common::Result<Json> updateObject(
      const Request& req, const ResourceInfo& r, const Route& route,
      const std::function<common::Result<std::optional<Json>>(const Json& current)>& mutate);

  void doCreate(const Request& req, ResponseWriter& w, Route& route);

  // Gives a new Service its spec.clusterIP(s) like kube-apiserver's allocator: a requested
  // address must be in the range and free, "None" (headless) is kept, otherwise a free address
  // is picked (from the upper part of the range first, which Kubernetes leaves to dynamic
  // allocation). Called with serviceIpMu held until the create is stored.
  std::optional<ApiError> allocateClusterIP(Json& svc, const std::string& name);

  // Shared tail of update and patch: validation + store write + finalization.
  common::Result<std::optional<Json>> prepareUpdate(const Route& route, Json obj,
                                                    const Json& current, ApiError* err);

  void finishWrite(const Request& req, ResponseWriter& w, const Route& route,
                   common::Result<Json> res, const ApiError& err);

  void doUpdate(const Request& req, ResponseWriter& w, const Route& route);

  void updateScale(const Request& req, ResponseWriter& w, const Route& route, const Json& scale,
                   bool isPatch);

  void doPatch(const Request& req, ResponseWriter& w, const Route& route);

  static std::vector<std::string> finalizers(const Json& obj);

  // A pod bound to a node and not yet confirmed gone by its kubelet (graceful deletion).
  static bool podAwaitsKubelet(const Json& pod);

  std::optional<DeleteOptions> readDeleteOptions(const Request& req, ResponseWriter& w);

  // Deletes one object following Kubernetes' rules; returns the object as the response shows it.
  common::Result<Json> deleteObject(const ResourceInfo& r, const std::string& ns,
                                    const std::string& name, const DeleteOptions& o, bool dry);

  common::Result<Json> deleteWithRetries(const ResourceInfo& r, const std::string& ns,
                                         const std::string& name, const DeleteOptions& o, bool dry,
                                         int attempt);

  void doDelete(const Request& req, ResponseWriter& w, const Route& route);

  void doDeleteCollection(const Request& req, ResponseWriter& w, const Route& route);

  // PUT namespaces/<name>/finalize: replaces spec.finalizers; an emptied Terminating
  // namespace is removed.
  void doFinalize(const Request& req, ResponseWriter& w, const Route& route);

  // POST pods/<name>/binding: assigns the pod to a node (the scheduler's write).
  void doBinding(const Request& req, ResponseWriter& w, const Route& route);
};

}  // namespace skiff::control_plane::apiserver
