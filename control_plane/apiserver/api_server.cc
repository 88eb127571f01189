// Request routing and the verbs of every resource (see api_server.h).
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

namespace {

constexpr std::string_view kJson = "application/json";

std::vector<std::string> splitPath(std::string_view path) {
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

bool truthy(const std::optional<std::string>& v) { return v && (*v == "true" || *v == "1"); }

// A parsed resource request.
// Pod subresources kubectl opens as interactive streams (exec, attach, port-forward).
bool isStreamingSubresource(std::string_view s) {
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
std::string metricVerb(const std::string& verb, const std::string& method) {
  if (verb == "list") return "LIST";
  if (verb == "watch") return "WATCH";
  if (verb == "deletecollection") return "DELETECOLLECTION";
  return method;
}

// The Service cluster IP range (k3s' default), as a host-order base and size.
constexpr std::uint32_t kServiceNet = (10u << 24) | (43u << 16);
constexpr std::uint32_t kServiceNetSize = 1u << 16;
constexpr const char* kServiceCidr = "10.43.0.0/16";

std::optional<std::uint32_t> parseIpv4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string formatIpv4(std::uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." +
         std::to_string((ip >> 8) & 255) + "." + std::to_string(ip & 255);
}

}  // namespace

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

  // ---- responses ---------------------------------------------------------------------------

  void sendJson(ResponseWriter& w, int code, const Json& body) {
    w.send(code, kJson, common::dumpJson(body));
  }

  void sendError(ResponseWriter& w, const ApiError& e) {
    std::map<std::string, std::string> headers;
    if (e.retryAfterSeconds) headers["Retry-After"] = std::to_string(*e.retryAfterSeconds);
    w.send(e.code, kJson, common::dumpJson(e.toJson()), headers);
  }

  void sendStatusError(ResponseWriter& w, const common::Status& s, const Route* route) {
    ApiError e = fromStatus(s);
    if (route && route->resource) {
      e.kind = route->resource->resource;
      e.group = route->resource->group;
      e.name = route->name;
    }
    sendError(w, e);
  }

  static bool wantsTable(const Request& req) {
    std::string accept = req.header("accept");
    return accept.find("as=Table") != std::string::npos;
  }

  static std::string includeObject(const Request& req) {
    return req.queryParam("includeObject").value_or("Metadata");
  }

  // Object as returned to clients: always with kind and apiVersion.
  static Json withType(const ResourceInfo& r, Json obj) {
    obj["kind"] = r.kind;
    obj["apiVersion"] = r.apiVersion();
    return obj;
  }

  // ---- entry point -------------------------------------------------------------------------

  void handle(const Request& req, ResponseWriter& w) {
    auto seg = splitPath(req.path);
    const std::string& m = req.method;
    if (req.path == "/healthz" || req.path == "/livez" || req.path == "/readyz" ||
        req.path.starts_with("/healthz/") || req.path.starts_with("/livez/") ||
        req.path.starts_with("/readyz/")) {
      auto rev = os.currentRevision();
      if (!rev.isOk()) {
        w.send(503, "text/plain", "store unavailable: " + rev.status().message());
        return;
      }
      w.send(200, "text/plain", "ok");
      return;
    }
    if (req.path == "/version" || req.path == "/version/") {
      sendJson(w, 200, versionInfo());
      return;
    }

    // Everything below needs an authenticated user.
    UserInfo user{"system:admin", {"system:masters"}};
    if (opts.requireAuth) {
      auto u = authenticate(req, opts.tokens.get());
      if (!u.isOk()) {
        sendError(w, unauthorized());
        return;
      }
      user = *u;
    }

    if (m == "GET" && seg.size() == 1 && seg[0] == "api") {
      Json v = apiVersions();
      if (acceptsAggregated(req)) return sendAggregated(w, true);
      return sendJson(w, 200, v);
    }
    if (m == "GET" && seg.size() == 1 && seg[0] == "apis") {
      if (acceptsAggregated(req)) return sendAggregated(w, false);
      return sendJson(w, 200, apiGroupList());
    }
    if (m == "GET" && seg.size() == 2 && seg[0] == "api") {
      Json l = apiResourceList("", seg[1]);
      if (l.is_null()) return sendError(w, notFoundPath(req.path));
      return sendJson(w, 200, l);
    }
    if (m == "GET" && seg.size() == 2 && seg[0] == "apis") {
      Json g = apiGroup(seg[1]);
      if (g.is_null()) return sendError(w, notFoundPath(req.path));
      return sendJson(w, 200, g);
    }
    if (m == "GET" && seg.size() == 3 && seg[0] == "apis") {
      Json l = apiResourceList(seg[1], seg[2]);
      if (l.is_null()) return sendError(w, notFoundPath(req.path));
      return sendJson(w, 200, l);
    }
    if (m == "GET" && !seg.empty() && seg[0] == "openapi") {
      if (seg.size() == 2 && seg[1] == "v3") return sendJson(w, 200, openapiV3Index());
      if (seg.size() >= 3 && seg[1] == "v3") {
        std::string p;
        for (std::size_t i = 2; i < seg.size(); ++i) p += (i > 2 ? "/" : "") + seg[i];
        Json doc = openapiV3Document(p);
        if (!doc.is_null()) return sendJson(w, 200, doc);
      }
      return sendError(w, notFoundPath(req.path));
    }

    if (m == "POST" && seg.size() == 4 && seg[0] == "apis") {
      if (seg[1] == "authorization.k8s.io" && seg[2] == "v1" &&
          seg[3] == "selfsubjectaccessreviews") {
        return doSelfSubjectAccessReview(req, w, user);
      }
      if (seg[1] == "authentication.k8s.io" && seg[2] == "v1" && seg[3] == "selfsubjectreviews") {
        return sendJson(
            w, 201,
            {{"kind", "SelfSubjectReview"},
             {"apiVersion", "authentication.k8s.io/v1"},
             {"metadata", {{"creationTimestamp", nullptr}}},
             {"status", {{"userInfo", {{"username", user.name}, {"groups", user.groups}}}}}});
      }
    }

    Route route;
    if (auto err = parseRoute(seg, route)) return sendError(w, *err);
    dispatch(req, w, route, user);
  }

  // POST authorization.k8s.io/v1 SelfSubjectAccessReview (kubectl auth can-i): the caller's own
  // permission for resourceAttributes, decided by the same rules as its requests. Non-resource
  // paths (/healthz, /version, discovery) are open to every authenticated user.
  void doSelfSubjectAccessReview(const Request& req, ResponseWriter& w, const UserInfo& user) {
    auto body = req.header("content-type").starts_with("application/vnd.kubernetes.protobuf")
                    ? decodeProtobufObject(req.body)
                    : common::parseJson(req.body);
    if (!body.isOk() || !body->is_object()) {
      return sendError(w, badRequest(body.isOk() ? "SelfSubjectAccessReview must be a JSON object"
                                                 : body.status().message()));
    }
    Json spec = body->value("spec", Json::object());
    if (!spec.is_object()) spec = Json::object();
    const Json& ra = spec.value("resourceAttributes", Json());
    const Json& nra = spec.value("nonResourceAttributes", Json());
    if (ra.is_object() == nra.is_object()) {
      return sendError(w, invalid("SelfSubjectAccessReview", "", "authorization.k8s.io",
                                  {{"spec.resourceAttributes", "FieldValueRequired",
                                    "Required value: exactly one of resourceAttributes or "
                                    "nonResourceAttributes must be specified"}}));
    }
    bool allowed = false;
    std::string reason;
    if (nra.is_object()) {
      allowed = user.inGroup("system:masters") || nra.value("verb", "") == "get";
    } else {
      auto str = [&](const char* k) {
        return ra.contains(k) && ra[k].is_string() ? ra[k].get<std::string>() : std::string();
      };
      Attributes a{str("verb"),        str("group"),     str("resource"),
                   str("subresource"), str("namespace"), str("name")};
      if (a.resource == "*" || a.verb == "*") {
        allowed = user.inGroup("system:masters");
      } else {
        std::optional<Json> obj;
        if (a.resource == "pods" && a.group.empty() && !a.name.empty()) {
          if (auto p = os.get(*findResource("", "v1", "pods"), a.ns, a.name); p.isOk()) obj = *p;
        }
        allowed = authorize(user, a, obj ? &*obj : nullptr);
      }
    }
    if (allowed) reason = "allowed by the " + roleOf(user) + " role";
    Json status = {{"allowed", allowed}};
    if (!reason.empty()) status["reason"] = reason;
    Json out = *body;
    out["kind"] = "SelfSubjectAccessReview";
    out["apiVersion"] = "authorization.k8s.io/v1";
    out["metadata"] = {{"creationTimestamp", nullptr}};
    out["status"] = std::move(status);
    sendJson(w, 201, out);
  }

  static bool acceptsAggregated(const Request& req) {
    return req.header("accept").find("apidiscovery.k8s.io") != std::string::npos;
  }

  void sendAggregated(ResponseWriter& w, bool core) {
    w.send(200, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
           common::dumpJson(aggregatedDiscovery(core)));
  }

  static ApiError notFoundPath(const std::string& path) {
    ApiError e{404, "NotFound", "the server could not find the requested resource", "", "", "",
               {},  {}};
    (void)path;
    return e;
  }

  std::optional<ApiError> parseRoute(const std::vector<std::string>& seg, Route& route) {
    std::size_t i = 0;
    std::string group;
    std::string version;
    if (seg.size() >= 2 && seg[0] == "api") {
      version = seg[1];
      i = 2;
    } else if (seg.size() >= 3 && seg[0] == "apis") {
      group = seg[1];
      version = seg[2];
      i = 3;
    } else {
      return notFoundPath("");
    }
    std::vector<std::string> rest(seg.begin() + static_cast<long>(i), seg.end());
    if (!rest.empty() && rest[0] == "watch") {
      route.legacyWatch = true;
      rest.erase(rest.begin());
    }
    if (rest.empty()) return notFoundPath("");
    if (rest[0] == "namespaces" && rest.size() >= 3 &&
        !(rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
      route.ns = rest[1];
      route.hasNamespace = true;
      rest.erase(rest.begin(), rest.begin() + 2);
    }
    route.resource = findResource(group, version, rest[0]);
    if (route.resource == nullptr || rest.size() > 3) return notFoundPath("");
    if (route.hasNamespace && !route.resource->namespaced) return notFoundPath("");
    if (rest.size() >= 2) route.name = rest[1];
    if (rest.size() == 3) {
      route.subresource = rest[2];
      if (!route.resource->hasSubresource(route.subresource) &&
          !(route.resource->resource == "namespaces" && route.subresource == "finalize") &&
          !(route.resource->resource == "pods" && isStreamingSubresource(route.subresource))) {
        return notFoundPath("");
      }
    }
    return std::nullopt;
  }

  void dispatch(const Request& req, ResponseWriter& w, Route& route, const UserInfo& user) {
    const ResourceInfo& r = *route.resource;
    const std::string& m = req.method;
    if (isStreamingSubresource(route.subresource)) return doUnsupportedStream(req, w, route, user);
    std::string verb;
    bool watch = route.legacyWatch || truthy(req.queryParam("watch"));
    if (m == "GET") {
      verb = route.name.empty() ? (watch ? "watch" : "list") : "get";
    } else if (m == "POST") {
      verb = "create";
      if (!route.name.empty() && route.subresource.empty()) {
        return sendError(
            w, methodNotAllowed("POST is not supported on a named " + r.resource + " object"));
      }
    } else if (m == "PUT") {
      verb = "update";
    } else if (m == "PATCH") {
      verb = "patch";
    } else if (m == "DELETE") {
      verb = route.name.empty() ? "deletecollection" : "delete";
    } else {
      return sendError(w, methodNotAllowed("the server does not allow this method on the "
                                           "requested resource"));
    }
    if ((verb == "update" || verb == "patch") && route.name.empty()) {
      return sendError(w, methodNotAllowed("the server does not allow this method on the "
                                           "requested resource"));
    }
    if (r.namespaced && !route.hasNamespace && !route.name.empty()) {
      return sendError(w, notFoundPath(""));
    }

    // kube-apiserver's scope label, decided by the URL (doCreate fills route.name later).
    std::string scope = !route.name.empty()  ? "resource"
                        : route.hasNamespace ? "namespace"
                                             : "cluster";
    CodeRecorder recorder(w);
    dispatchVerb(req, recorder, route, user, verb);
    if (apiRequests) {
      apiRequests
          ->Add({{"verb", metricVerb(verb, m)},
                 {"dry_run", dryRun(req) ? "All" : ""},
                 {"group", r.group},
                 {"version", r.version},
                 {"resource", r.resource},
                 {"subresource", route.subresource},
                 {"scope", scope},
                 {"component", "apiserver"},
                 {"code", std::to_string(recorder.code())}})
          .Increment();
    }
  }

  void dispatchVerb(const Request& req, ResponseWriter& w, Route& route, const UserInfo& user,
                    const std::string& verb) {
    const ResourceInfo& r = *route.resource;
    Attributes attrs{verb, r.group, r.resource, route.subresource, route.ns, route.name};
    if (opts.requireAuth && !authorizeRequest(user, attrs, req)) {
      return sendError(w, forbidden(user.name, verb, r.qualifiedResource(), route.ns));
    }

    if (verb == "list") return doList(req, w, route);
    if (verb == "watch") return doWatch(req, w, route);
    if (verb == "get") {
      if (route.subresource == "scale") return doGetScale(w, route);
      if (route.subresource == "log") return doLogs(req, w, route);
      return doGet(req, w, route);
    }
    if (verb == "create") {
      if (route.subresource == "binding") return doBinding(req, w, route);
      return doCreate(req, w, route);
    }
    if (verb == "update") return doUpdate(req, w, route);
    if (verb == "patch") return doPatch(req, w, route);
    if (verb == "delete") return doDelete(req, w, route);
    return doDeleteCollection(req, w, route);
  }

  bool authorizeRequest(const UserInfo& user, const Attributes& a, const Request& req) {
    // The node role's rules depend on the object (a pod's spec.nodeName): fetch it if needed.
    if (!user.inGroup("system:nodes") || a.resource != "pods" || a.name.empty()) {
      return authorize(user, a, nullptr);
    }
    (void)req;
    auto obj = os.get(*findResource("", "v1", "pods"), a.ns, a.name);
    return authorize(user, a, obj.isOk() ? &*obj : nullptr);
  }

  // ---- read verbs --------------------------------------------------------------------------

  std::optional<ListFilters> parseFilters(const Request& req, const ResourceInfo& r,
                                          ResponseWriter& w) {
    ListFilters f;
    if (auto ls = req.queryParam("labelSelector"); ls && !ls->empty()) {
      auto sel = common::LabelSelector::parse(*ls);
      if (!sel.isOk()) {
        sendError(w, badRequest(sel.status().message()));
        return std::nullopt;
      }
      f.labels = *sel;
    }
    if (auto fs = req.queryParam("fieldSelector"); fs && !fs->empty()) {
      auto sel = FieldSelector::parse(r, *fs);
      if (!sel.isOk()) {
        sendError(w, badRequest(sel.status().message()));
        return std::nullopt;
      }
      f.fields = *sel;
    }
    return f;
  }

  std::optional<std::string> listNamespace(const Route& route) {
    if (!route.resource->namespaced || !route.hasNamespace) return std::nullopt;
    return route.ns;
  }

  void doList(const Request& req, ResponseWriter& w, const Route& route) {
    const ResourceInfo& r = *route.resource;
    auto filters = parseFilters(req, r, w);
    if (!filters) return;
    std::size_t limit = 0;
    if (auto l = req.queryParam("limit"); l && !l->empty()) {
      try {
        long long v = std::stoll(*l);
        if (v < 0) throw std::invalid_argument("negative");
        limit = static_cast<std::size_t>(v);
      } catch (const std::exception&) {
        return sendError(w, badRequest("invalid limit \"" + *l + "\""));
      }
    }
    ObjectListOptions lo;
    lo.continueToken = req.queryParam("continue").value_or("");
    std::vector<Json> items;
    std::int64_t revision = 0;
    std::string cont;
    // Collect up to `limit` matching items; with selectors, keep paging through the store.
    for (;;) {
      lo.limit = limit == 0 ? 0 : std::max<std::size_t>(limit - items.size(), 1);
      if (limit != 0 && !filters->labels.empty()) lo.limit = std::max<std::size_t>(lo.limit, 100);
      auto page = os.list(r, listNamespace(route), lo);
      if (!page.isOk()) return sendStatusError(w, page.status(), &route);
      if (revision == 0) revision = page->revision;
      std::size_t used = 0;
      bool full = false;
      for (auto& obj : page->items) {
        ++used;
        if (!filters->matches(obj)) continue;
        items.push_back(std::move(obj));
        if (limit != 0 && items.size() >= limit) {
          full = true;
          break;
        }
      }
      if (full) {
        bool lastOfPage = used == page->items.size();
        if (!lastOfPage || !page->continueToken.empty()) {
          cont = continueAfter(page->revision, items.back(), r, route);
        }
        break;
      }
      if (page->continueToken.empty()) break;
      lo.continueToken = page->continueToken;
    }
    std::string rv = std::to_string(revision);
    if (wantsTable(req)) {
      return sendJson(w, 200, toTable(r, items, rv, cont, includeObject(req), os.clock().now()));
    }
    Json meta = {{"resourceVersion", rv}};
    if (!cont.empty()) meta["continue"] = cont;
    Json list = {{"kind", r.listKind},
                 {"apiVersion", r.apiVersion()},
                 {"metadata", meta},
                 {"items", Json::array()}};
    for (auto& it : items) list["items"].push_back(withType(r, std::move(it)));
    sendJson(w, 200, list);
  }

  // A continue token positioned after obj (same format ObjectStore issues).
  std::string continueAfter(std::int64_t revision, const Json& obj, const ResourceInfo& r,
                            const Route& route) {
    std::string key = objectKey(r, metaString(obj, "namespace"), metaString(obj, "name"));
    std::string prefix = listPrefix(
        r, listNamespace(route) ? std::optional<std::string_view>(route.ns) : std::nullopt);
    return makeContinueToken(revision, key.substr(prefix.size()));
  }

  void doGet(const Request& req, ResponseWriter& w, const Route& route) {
    const ResourceInfo& r = *route.resource;
    auto obj = os.get(r, route.ns, route.name);
    if (!obj.isOk()) return sendStatusError(w, obj.status(), &route);
    if (wantsTable(req) && route.subresource.empty()) {
      return sendJson(w, 200,
                      toTable(r, {*obj}, metaString(*obj, "resourceVersion"), "",
                              includeObject(req), os.clock().now()));
    }
    sendJson(w, 200, withType(r, std::move(*obj)));
  }

  Json scaleOf(const ResourceInfo& r, const Json& obj) {
    Json sel = obj["spec"].value("selector", Json::object());
    auto ls = common::LabelSelector::fromJson(sel);
    Json meta = {{"name", metaString(obj, "name")},
                 {"namespace", metaString(obj, "namespace")},
                 {"uid", metaString(obj, "uid")},
                 {"resourceVersion", metaString(obj, "resourceVersion")},
                 {"creationTimestamp", metaString(obj, "creationTimestamp")}};
    (void)r;
    return {{"kind", "Scale"},
            {"apiVersion", "autoscaling/v1"},
            {"metadata", meta},
            {"spec", {{"replicas", obj["spec"].value("replicas", 1)}}},
            {"status",
             {{"replicas", obj.value("status", Json::object()).value("replicas", 0)},
              {"selector", ls.isOk() ? ls->toString() : ""}}}};
  }

  void doGetScale(ResponseWriter& w, const Route& route) {
    auto obj = os.get(*route.resource, route.ns, route.name);
    if (!obj.isOk()) return sendStatusError(w, obj.status(), &route);
    sendJson(w, 200, scaleOf(*route.resource, *obj));
  }

  // pods/exec, attach and portforward: a device's containers are reached through the hub's MQTT
  // RPC, which carries logs, restart and ping but no interactive streams. Answered as the API
  // server answers (authorization, then the pod must exist) with a Status that kubectl prints,
  // rather than a 404 that reads as a missing pod.
  void doUnsupportedStream(const Request& req, ResponseWriter& w, const Route& route,
                           const UserInfo& user) {
    const ResourceInfo& r = *route.resource;
    Attributes attrs{"create", r.group, r.resource, route.subresource, route.ns, route.name};
    if (opts.requireAuth && !authorizeRequest(user, attrs, req)) {
      return sendError(w, forbidden(user.name, "create", r.qualifiedResource(), route.ns));
    }
    auto pod = os.get(r, route.ns, route.name);
    if (!pod.isOk()) return sendStatusError(w, pod.status(), &route);
    sendError(w, badRequest("pods/" + route.subresource +
                            " is not supported by Skiff: containers "
                            "on edge devices are reached through the hub, which relays logs "
                            "(kubectl logs) but no interactive streams; pod \"" +
                            route.name + "\" runs on node \"" +
                            pod->value("spec", Json::object()).value("nodeName", "") + "\""));
  }

  void doLogs(const Request& req, ResponseWriter& w, const Route& route) {
    auto pod = os.get(*route.resource, route.ns, route.name);
    if (!pod.isOk()) return sendStatusError(w, pod.status(), &route);
    std::string nodeName = pod->value("spec", Json::object()).value("nodeName", "");
    Json node;
    if (!nodeName.empty()) {
      auto n = os.get(*findResource("", "v1", "nodes"), "", nodeName);
      if (n.isOk()) node = std::move(*n);
    }
    if (auto err = proxyContainerLogs(req, *pod, node, opts.kubeletClient, w)) sendError(w, *err);
  }

  void doWatch(const Request& req, ResponseWriter& w, const Route& route) {
    const ResourceInfo& r = *route.resource;
    auto filters = parseFilters(req, r, w);
    if (!filters) return;
    std::string rvParam = req.queryParam("resourceVersion").value_or("");
    std::int64_t from = 0;
    bool sendInitial = rvParam.empty() || rvParam == "0";
    std::vector<Json> initial;
    if (!sendInitial) {
      try {
        from = std::stoll(rvParam);
        if (from < 0) throw std::invalid_argument("negative");
      } catch (const std::exception&) {
        return sendError(w, badRequest("invalid resourceVersion \"" + rvParam + "\""));
      }
    } else {
      auto list = os.list(r, listNamespace(route));
      if (!list.isOk()) return sendStatusError(w, list.status(), &route);
      from = list->revision;
      for (auto& obj : list->items) {
        if (filters->matches(obj)) initial.push_back(std::move(obj));
      }
    }
    auto watch = os.watch(r, listNamespace(route), from);
    if (!watch.isOk()) {
      if (watch.status().code() == StatusCode::kGone) {
        // As Kubernetes: a 200 stream carrying one ERROR event with a 410 Status.
        w.startStream(200, kJson);
        ApiError e = fromStatus(watch.status());
        w.writeChunk(common::dumpJson(Json{{"type", "ERROR"}, {"object", e.toJson()}}) + "\n");
        return;
      }
      return sendStatusError(w, watch.status(), &route);
    }
    bool table = wantsTable(req);
    std::string include = includeObject(req);
    bool bookmarks = truthy(req.queryParam("allowWatchBookmarks"));
    auto timeout = opts.minWatchTimeout;
    if (auto t = req.queryParam("timeoutSeconds"); t && !t->empty()) {
      try {
        timeout = std::chrono::seconds(std::max(0LL, std::stoll(*t)));
      } catch (const std::exception&) {
        return sendError(w, badRequest("invalid timeoutSeconds \"" + *t + "\""));
      }
    } else {
      static thread_local std::mt19937 rng{std::random_device{}()};
      timeout += std::chrono::seconds(rng() % (opts.minWatchTimeout.count() + 1));
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    w.startStream(200, table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : kJson);
    bool firstTable = true;
    auto emit = [&](std::string_view type, const Json& obj) {
      Json out;
      if (table) {
        out = toTable(r, {obj}, metaString(obj, "resourceVersion"), "", include, os.clock().now());
        if (!firstTable) out.erase("columnDefinitions");
        firstTable = false;
      } else {
        out = withType(r, obj);
      }
      return w.writeChunk(common::dumpJson(Json{{"type", type}, {"object", out}}) + "\n");
    };
    for (const auto& obj : initial) {
      if (!emit("ADDED", obj)) return;
    }
    std::int64_t lastRevision = from;
    auto lastBookmark = std::chrono::steady_clock::now();
    while (!w.cancelled() && !stopping) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      auto wait = std::min<std::chrono::steady_clock::duration>(deadline - now,
                                                                std::chrono::milliseconds(500));
      auto ev = (*watch)->next(std::chrono::duration_cast<std::chrono::milliseconds>(wait));
      if (!ev.isOk()) {
        ApiError e = fromStatus(ev.status());
        w.writeChunk(common::dumpJson(Json{{"type", "ERROR"}, {"object", e.toJson()}}) + "\n");
        return;
      }
      if (*ev) {
        const ObjectEvent& e = **ev;
        lastRevision = e.revision;
        bool nowMatches = e.type != ObjectEvent::Type::kDeleted && filters->matches(e.object);
        bool wasMatching = e.previous && filters->matches(*e.previous);
        bool ok = true;
        if (e.type == ObjectEvent::Type::kDeleted) {
          if (filters->matches(e.object)) ok = emit("DELETED", e.object);
        } else if (nowMatches && wasMatching) {
          ok = emit("MODIFIED", e.object);
        } else if (nowMatches) {
          ok = emit("ADDED", e.object);
        } else if (wasMatching) {
          // Left the selection: clients see it deleted, with the new state and revision.
          ok = emit("DELETED", e.object);
        }
        if (!ok) return;
      }
      if (bookmarks && std::chrono::steady_clock::now() - lastBookmark >= opts.bookmarkInterval) {
        lastBookmark = std::chrono::steady_clock::now();
        Json bm = {{"kind", r.kind},
                   {"apiVersion", r.apiVersion()},
                   {"metadata", {{"resourceVersion", std::to_string(lastRevision)}}}};
        if (!w.writeChunk(common::dumpJson(Json{{"type", "BOOKMARK"}, {"object", bm}}) + "\n")) {
          return;
        }
      }
    }
  }

  // ---- write verbs -------------------------------------------------------------------------

  // Parses a request body into an object of the route's kind; errors are sent to w.
  std::optional<Json> readBody(const Request& req, ResponseWriter& w, const Route& route,
                               bool allowOtherKinds = false) {
    const ResourceInfo& r = *route.resource;
    std::string ctype = req.header("content-type");
    Json obj;
    if (ctype.starts_with("application/vnd.kubernetes.protobuf")) {
      auto decoded = decodeProtobufBody(r, req.body);
      if (!decoded.isOk()) {
        sendError(w, unsupportedMediaType(decoded.status().message()));
        return std::nullopt;
      }
      obj = std::move(*decoded);
    } else if (!ctype.empty() && !ctype.starts_with("application/json") &&
               !ctype.starts_with("application/yaml") && ctype != "*/*") {
      sendError(w, unsupportedMediaType("the body of the request was in an unknown format - "
                                        "accepted media types include: application/json, "
                                        "application/vnd.kubernetes.protobuf"));
      return std::nullopt;
    } else {
      auto parsed = common::parseJson(req.body);
      if (!parsed.isOk()) {
        sendError(w, fromStatus(parsed.status()));
        return std::nullopt;
      }
      obj = std::move(*parsed);
    }
    if (!obj.is_object()) {
      sendError(w, badRequest("the request body must be a JSON object"));
      return std::nullopt;
    }
    if (allowOtherKinds) return obj;
    std::string kind = obj.value("kind", "");
    std::string apiVersion = obj.value("apiVersion", "");
    if (!obj.contains("kind") || !obj["kind"].is_string() || kind.empty()) {
      obj["kind"] = r.kind;
    } else if (kind != r.kind) {
      sendError(w, badRequest("the kind in the data (" + kind +
                              ") does not match the expected kind (" + r.kind + ")"));
      return std::nullopt;
    }
    if (!obj.contains("apiVersion") || apiVersion.empty()) {
      obj["apiVersion"] = r.apiVersion();
    } else if (apiVersion != r.apiVersion()) {
      sendError(w,
                badRequest("the API version in the data (" + apiVersion +
                           ") does not match the expected API version (" + r.apiVersion() + ")"));
      return std::nullopt;
    }
    if (obj.contains("metadata") && !obj["metadata"].is_object()) {
      sendError(w, badRequest("metadata: expected object, got " +
                              std::string(common::jsonTypeName(obj["metadata"]))));
      return std::nullopt;
    }
    if (!obj.contains("metadata")) obj["metadata"] = Json::object();
    return obj;
  }

  // Checks/sets the namespace of a body against the URL.
  bool fixNamespace(Json& obj, const Route& route, ResponseWriter& w) {
    if (!route.resource->namespaced) {
      obj["metadata"].erase("namespace");
      return true;
    }
    auto& meta = obj["metadata"];
    if (meta.contains("namespace") && meta["namespace"].is_string() &&
        !meta["namespace"].get<std::string>().empty() && meta["namespace"] != route.ns) {
      sendError(w, badRequest("the namespace of the provided object does not match the "
                              "namespace sent on the request"));
      return false;
    }
    meta["namespace"] = route.ns;
    return true;
  }

  bool checkNamespaceWritable(const Route& route, ResponseWriter& w) {
    if (!route.resource->namespaced) return true;
    auto ns = os.get(*findResource("", "v1", "namespaces"), "", route.ns);
    if (!ns.isOk()) {
      sendError(w, notFoundError("namespaces", route.ns));
      return false;
    }
    if (!metaString(*ns, "deletionTimestamp").empty()) {
      ApiError e{403,
                 "Forbidden",
                 route.resource->resource + " \"" +
                     "\" is forbidden: unable to create new "
                     "content in namespace " +
                     route.ns + " because it is being terminated",
                 "",
                 "",
                 route.resource->resource,
                 {},
                 {}};
      sendError(w, e);
      return false;
    }
    return true;
  }

  static bool dryRun(const Request& req) { return req.queryParam("dryRun").has_value(); }

  // os.guaranteedUpdate; with ?dryRun the object the update would write, computed from the
  // current one and validated the same way, and nothing written.
  common::Result<Json> updateObject(
      const Request& req, const ResourceInfo& r, const Route& route,
      const std::function<common::Result<std::optional<Json>>(const Json& current)>& mutate) {
    if (!dryRun(req)) return os.guaranteedUpdate(r, route.ns, route.name, mutate);
    SKIFF_ASSIGN_OR_RETURN(Json current, os.get(r, route.ns, route.name));
    SKIFF_ASSIGN_OR_RETURN(std::optional<Json> next, mutate(current));
    if (!next) return current;
    (*next)["metadata"]["resourceVersion"] = current["metadata"].value("resourceVersion", "");
    return std::move(*next);
  }

  void doCreate(const Request& req, ResponseWriter& w, Route& route) {
    const ResourceInfo& r = *route.resource;
    auto body = readBody(req, w, route);
    if (!body) return;
    Json obj = std::move(*body);
    if (!fixNamespace(obj, route, w)) return;
    std::string name = metaString(obj, "name");
    route.name = name;
    if (!checkNamespaceWritable(route, w)) return;
    applyDefaults(r, obj, opts.defaulting);
    prepareForCreate(r, obj);
    auto causes = validateObject(r, obj, nullptr);
    if (!causes.empty()) {
      return sendError(w, invalid(r.kind, name.empty() ? metaString(obj, "generateName") : name,
                                  r.group, std::move(causes)));
    }
    std::unique_lock<std::mutex> ipLock;
    if (r.group.empty() && r.resource == "services") {
      ipLock = std::unique_lock(serviceIpMu);
      if (auto err = allocateClusterIP(obj, name)) return sendError(w, *err);
    }
    if (dryRun(req)) return sendJson(w, 201, obj);
    auto created = os.create(r, std::move(obj));
    if (!created.isOk()) return sendStatusError(w, created.status(), &route);
    sendJson(w, 201, withType(r, std::move(*created)));
  }

  // Gives a new Service its spec.clusterIP(s) like kube-apiserver's allocator: a requested
  // address must be in the range and free, "None" (headless) is kept, otherwise a free address
  // is picked (from the upper part of the range first, which Kubernetes leaves to dynamic
  // allocation). Called with serviceIpMu held until the create is stored.
  std::optional<ApiError> allocateClusterIP(Json& svc, const std::string& name) {
    if (!svc.contains("spec") || !svc["spec"].is_object()) return std::nullopt;
    Json& spec = svc["spec"];
    if (spec.value("type", "ClusterIP") == "ExternalName") return std::nullopt;
    std::string requested = spec.value("clusterIP", "");
    if (requested.empty() && spec.contains("clusterIPs") && spec["clusterIPs"].is_array() &&
        !spec["clusterIPs"].empty() && spec["clusterIPs"][0].is_string()) {
      requested = spec["clusterIPs"][0].get<std::string>();
    }
    auto fail = [&](const std::string& field, const std::string& message) {
      return invalid("Service", name, "", {{field, "FieldValueInvalid", message}});
    };
    auto setAddress = [&](const std::string& ip) {
      spec["clusterIP"] = ip;
      spec["clusterIPs"] = Json::array({ip});
      if (!spec.contains("ipFamilies")) spec["ipFamilies"] = Json::array({"IPv4"});
      if (!spec.contains("ipFamilyPolicy")) spec["ipFamilyPolicy"] = "SingleStack";
    };
    if (requested == "None") {
      setAddress("None");
      return std::nullopt;
    }
    std::optional<std::uint32_t> want;
    if (!requested.empty()) {
      want = parseIpv4(requested);
      if (!want) {
        return fail("spec.clusterIPs[0]", "Invalid value: \"" + requested +
                                              "\": must be a valid IP address, (e.g. 10.9.8.7 "
                                              "or 2001:db8::ffff)");
      }
      if (*want <= kServiceNet || *want >= kServiceNet + kServiceNetSize - 1) {
        return fail("spec.clusterIPs",
                    "Invalid value: []string{\"" + requested + "\"}: failed to allocate IP " +
                        requested + ": the provided IP (" + requested +
                        ") is not in the valid range. The range of valid IPs is " + kServiceCidr);
      }
    }
    auto services = os.list(*findResource("", "v1", "services"), std::nullopt);
    if (!services.isOk()) return fromStatus(services.status());
    std::vector<bool> used(kServiceNetSize, false);
    for (const auto& s : services->items) {
      auto ip = parseIpv4(s.value("spec", Json::object()).value("clusterIP", ""));
      if (ip && *ip > kServiceNet && *ip < kServiceNet + kServiceNetSize) {
        used[*ip - kServiceNet] = true;
      }
    }
    if (want) {
      if (used[*want - kServiceNet]) {
        return fail("spec.clusterIPs", "Invalid value: []string{\"" + requested +
                                           "\"}: failed to allocate IP " + requested +
                                           ": provided IP is already allocated");
      }
      setAddress(requested);
      return std::nullopt;
    }
    // Dynamic band first (offsets 256 .. size-2), from a random start; then the static band.
    static thread_local std::mt19937 rng{std::random_device{}()};
    constexpr std::uint32_t kStatic = 256;
    constexpr std::uint32_t kDynamic = kServiceNetSize - 1 - kStatic;
    std::uint32_t start = static_cast<std::uint32_t>(rng() % kDynamic);
    for (std::uint32_t i = 0; i < kDynamic; ++i) {
      std::uint32_t offset = kStatic + (start + i) % kDynamic;
      if (!used[offset]) {
        setAddress(formatIpv4(kServiceNet + offset));
        return std::nullopt;
      }
    }
    for (std::uint32_t offset = 2; offset < kStatic; ++offset) {
      if (!used[offset]) {
        setAddress(formatIpv4(kServiceNet + offset));
        return std::nullopt;
      }
    }
    return fail("spec.clusterIPs",
                "Invalid value: []string{}: failed to allocate IP: range is "
                "full");
  }

  // Shared tail of update and patch: validation + store write + finalization.
  common::Result<std::optional<Json>> prepareUpdate(const Route& route, Json obj,
                                                    const Json& current, ApiError* err) {
    const ResourceInfo& r = *route.resource;
    if (route.subresource == "status") {
      prepareForStatusUpdate(r, obj, current);
    } else {
      prepareForUpdate(r, obj, current);
      applyDefaults(r, obj, opts.defaulting);
    }
    auto causes = validateObject(r, obj, &current);
    if (!causes.empty()) {
      *err = invalid(r.kind, route.name, r.group, std::move(causes));
      return common::invalidArgument(err->message);
    }
    if (obj == current) return std::optional<Json>();  // no-op: keep resourceVersion
    return std::optional<Json>(std::move(obj));
  }

  void finishWrite(const Request& req, ResponseWriter& w, const Route& route,
                   common::Result<Json> res, const ApiError& err) {
    const ResourceInfo& r = *route.resource;
    if (!res.isOk()) {
      if (err.code == 422) return sendError(w, err);
      return sendStatusError(w, res.status(), &route);
    }
    Json obj = std::move(*res);
    // An object being deleted whose last finalizer was just removed goes away now.
    if (!dryRun(req) && !metaString(obj, "deletionTimestamp").empty() && finalizers(obj).empty() &&
        !(r.resource == "pods" && r.group.empty() && podAwaitsKubelet(obj)) &&
        !(r.resource == "namespaces")) {
      auto removed = os.remove(r, route.ns, route.name, parseResourceVersion(obj));
      if (removed.isOk()) obj = std::move(*removed);
    }
    if (route.subresource == "scale") return sendJson(w, 200, scaleOf(r, obj));
    sendJson(w, 200, withType(r, std::move(obj)));
  }

  void doUpdate(const Request& req, ResponseWriter& w, const Route& route) {
    const ResourceInfo& r = *route.resource;
    if (route.subresource == "finalize") return doFinalize(req, w, route);
    auto body = readBody(req, w, route, route.subresource == "scale");
    if (!body) return;
    Json obj = std::move(*body);
    if (route.subresource == "scale") return updateScale(req, w, route, obj, false);
    if (!fixNamespace(obj, route, w)) return;
    std::string bodyName = metaString(obj, "name");
    if (bodyName != route.name) {
      return sendError(w, badRequest("the name of the object (" + bodyName +
                                     ") does not match the name on the URL (" + route.name + ")"));
    }
    std::int64_t expected = parseResourceVersion(obj);
    if (expected < 0) {
      return sendError(w, invalid(r.kind, route.name, r.group,
                                  {{"metadata.resourceVersion", "FieldValueInvalid",
                                    "Invalid value: must be a decimal revision"}}));
    }
    ApiError err;
    auto res = updateObject(req, r, route,
                            [&](const Json& current) -> common::Result<std::optional<Json>> {
                              if (expected != 0 && parseResourceVersion(current) != expected) {
                                return modifiedConflict(r, route.name);
                              }
                              return prepareUpdate(route, obj, current, &err);
                            });
    finishWrite(req, w, route, std::move(res), err);
  }

  void updateScale(const Request& req, ResponseWriter& w, const Route& route, const Json& scale,
                   bool isPatch) {
    const ResourceInfo& r = *route.resource;
    ApiError err;
    auto res = updateObject(
        req, r, route, [&](const Json& current) -> common::Result<std::optional<Json>> {
          Json s = scale;
          if (isPatch) {
            auto type = patchTypeFromContentType(req.header("content-type"));
            if (!type.isOk()) return type.status();
            auto patched = applyPatch(*type, scaleOf(r, current), scale);
            if (!patched.isOk()) return patched.status();
            s = std::move(*patched);
          }
          Json rep = s.is_object() && s.contains("spec") && s["spec"].is_object()
                         ? s["spec"].value("replicas", Json())
                         : Json();
          if (!rep.is_number_integer() || rep.get<long long>() < 0) {
            err = invalid("Scale", route.name, "autoscaling",
                          {{"spec.replicas", "FieldValueInvalid",
                            "Invalid value: must be greater than or equal to 0"}});
            return common::invalidArgument(err.message);
          }
          Json next = current;
          next["spec"]["replicas"] = rep;
          Route main = route;
          main.subresource.clear();
          return prepareUpdate(main, next, current, &err);
        });
    finishWrite(req, w, route, std::move(res), err);
  }

  void doPatch(const Request& req, ResponseWriter& w, const Route& route) {
    const ResourceInfo& r = *route.resource;
    auto type = patchTypeFromContentType(req.header("content-type"));
    if (!type.isOk()) return sendError(w, unsupportedMediaType(type.status().message()));
    if (*type == PatchType::kApply) {
      return sendError(
          w, unsupportedMediaType("server-side apply is not supported; use client-side apply "
                                  "(the default)"));
    }
    auto patch = common::parseJson(req.body);
    if (!patch.isOk()) return sendError(w, fromStatus(patch.status()));
    if (route.subresource == "scale") return updateScale(req, w, route, *patch, true);
    ApiError err;
    auto res = updateObject(
        req, r, route, [&](const Json& current) -> common::Result<std::optional<Json>> {
          auto patched = applyPatch(*type, current, *patch);
          if (!patched.isOk()) return patched.status();
          Json obj = std::move(*patched);
          if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) {
            return common::invalidArgument("the patch produced an object without metadata");
          }
          if (metaString(obj, "name") != route.name ||
              (r.namespaced && metaString(obj, "namespace") != route.ns)) {
            return common::invalidArgument("the patch may not change the name or namespace");
          }
          std::int64_t want = parseResourceVersion(obj);
          if (want > 0 && want != parseResourceVersion(current)) {
            return modifiedConflict(r, route.name);
          }
          obj["kind"] = r.kind;
          obj["apiVersion"] = r.apiVersion();
          return prepareUpdate(route, std::move(obj), current, &err);
        });
    finishWrite(req, w, route, std::move(res), err);
  }

  static std::vector<std::string> finalizers(const Json& obj) {
    std::vector<std::string> out;
    auto m = obj.find("metadata");
    if (m == obj.end()) return out;
    auto f = m->find("finalizers");
    if (f == m->end() || !f->is_array()) return out;
    for (const auto& v : *f) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
    return out;
  }

  // A pod bound to a node and not yet confirmed gone by its kubelet (graceful deletion).
  static bool podAwaitsKubelet(const Json& pod) {
    std::string node = pod.value("spec", Json::object()).value("nodeName", "");
    if (node.empty()) return false;
    auto grace = pod["metadata"].find("deletionGracePeriodSeconds");
    return grace != pod["metadata"].end() && grace->is_number_integer() &&
           grace->get<long long>() > 0;
  }

  struct DeleteOptions {
    std::optional<long long> gracePeriodSeconds;
    std::string propagationPolicy;
    std::string preconditionUid;
    std::string preconditionRv;
    bool dryRun = false;  // DeleteOptions.dryRun ["All"] (kubectl sends it in the body)
  };

  std::optional<DeleteOptions> readDeleteOptions(const Request& req, ResponseWriter& w) {
    DeleteOptions o;
    if (!req.body.empty()) {
      auto j = common::parseJson(req.body);
      if (!j.isOk() || !j->is_object()) {
        sendError(
            w, badRequest(j.isOk() ? "DeleteOptions must be a JSON object" : j.status().message()));
        return std::nullopt;
      }
      if (auto g = j->find("gracePeriodSeconds"); g != j->end() && !g->is_null()) {
        if (!g->is_number_integer()) {
          sendError(w, badRequest("gracePeriodSeconds must be an integer"));
          return std::nullopt;
        }
        o.gracePeriodSeconds = g->get<long long>();
      }
      if (auto p = j->find("propagationPolicy"); p != j->end() && p->is_string()) {
        o.propagationPolicy = p->get<std::string>();
      }
      if (auto orphan = j->find("orphanDependents"); orphan != j->end() && orphan->is_boolean()) {
        if (o.propagationPolicy.empty()) {
          o.propagationPolicy = orphan->get<bool>() ? "Orphan" : "Background";
        }
      }
      if (auto d = j->find("dryRun"); d != j->end() && !d->is_null()) {
        if (!d->is_array()) {
          sendError(w, badRequest("dryRun must be a list of strings"));
          return std::nullopt;
        }
        for (const auto& v : *d) {
          if (!v.is_string() || v.get<std::string>() != "All") {
            sendError(
                w, invalid("DeleteOptions", "", "",
                           {{"dryRun", "FieldValueNotSupported",
                             "Unsupported value: " + v.dump() + ": supported values: \"All\""}}));
            return std::nullopt;
          }
          o.dryRun = true;
        }
      }
      if (auto pre = j->find("preconditions"); pre != j->end() && pre->is_object()) {
        o.preconditionUid = pre->value("uid", "");
        o.preconditionRv = pre->value("resourceVersion", "");
      }
    }
    if (auto g = req.queryParam("gracePeriodSeconds")) {
      try {
        o.gracePeriodSeconds = std::stoll(*g);
      } catch (const std::exception&) {
        sendError(w, badRequest("invalid gracePeriodSeconds \"" + *g + "\""));
        return std::nullopt;
      }
    }
    if (auto p = req.queryParam("propagationPolicy")) o.propagationPolicy = *p;
    if (!o.propagationPolicy.empty() && o.propagationPolicy != "Background" &&
        o.propagationPolicy != "Foreground" && o.propagationPolicy != "Orphan") {
      sendError(w, invalid("DeleteOptions", "", "",
                           {{"propagationPolicy", "FieldValueNotSupported",
                             "Unsupported value: \"" + o.propagationPolicy +
                                 "\": supported values: \"Foreground\", \"Background\", "
                                 "\"Orphan\""}}));
      return std::nullopt;
    }
    return o;
  }

  // Deletes one object following Kubernetes' rules; returns the object as the response shows it.
  common::Result<Json> deleteObject(const ResourceInfo& r, const std::string& ns,
                                    const std::string& name, const DeleteOptions& o, bool dry) {
    return deleteWithRetries(r, ns, name, o, dry, 0);
  }

  common::Result<Json> deleteWithRetries(const ResourceInfo& r, const std::string& ns,
                                         const std::string& name, const DeleteOptions& o, bool dry,
                                         int attempt) {
    SKIFF_ASSIGN_OR_RETURN(Json current, os.get(r, ns, name));
    std::string conflictMsg =
        "Operation cannot be fulfilled on " + r.qualifiedResource() + " \"" + name + "\": ";
    if (!o.preconditionUid.empty() && o.preconditionUid != metaString(current, "uid")) {
      return common::conflict(conflictMsg +
                              "Precondition failed: UID in precondition: " + o.preconditionUid +
                              ", UID in object meta: " + metaString(current, "uid"));
    }
    if (!o.preconditionRv.empty() && o.preconditionRv != metaString(current, "resourceVersion")) {
      return common::conflict(conflictMsg +
                              "Precondition failed: ResourceVersion in "
                              "precondition: " +
                              o.preconditionRv + ", ResourceVersion in object meta: " +
                              metaString(current, "resourceVersion"));
    }
    std::int64_t rev = parseResourceVersion(current);
    Json next = current;
    auto& meta = next["metadata"];
    bool graceful = false;
    bool isPod = r.resource == "pods" && r.group.empty();
    bool isNamespace = r.resource == "namespaces" && r.group.empty();
    std::string now = common::formatRfc3339(os.clock().now());
    if (isPod) {
      long long grace = o.gracePeriodSeconds.value_or(
          current.value("spec", Json::object()).value("terminationGracePeriodSeconds", 30LL));
      std::string node = current.value("spec", Json::object()).value("nodeName", "");
      // Unbound pods (or grace 0) go at once; bound pods wait for their kubelet to confirm.
      if (node.empty()) grace = 0;
      if (grace > 0) {
        auto existing = meta.find("deletionGracePeriodSeconds");
        bool shorter = existing == meta.end() || !existing->is_number_integer() ||
                       existing->get<long long>() > grace;
        if (metaString(current, "deletionTimestamp").empty() || shorter) {
          meta["deletionTimestamp"] =
              common::formatRfc3339(os.clock().now() + std::chrono::seconds(grace));
          meta["deletionGracePeriodSeconds"] = grace;
        }
        graceful = true;
      } else if (!metaString(current, "deletionTimestamp").empty()) {
        meta["deletionGracePeriodSeconds"] = 0;
      }
    }
    if (isNamespace) {
      if (metaString(current, "deletionTimestamp").empty()) meta["deletionTimestamp"] = now;
      next["status"]["phase"] = "Terminating";
      graceful = true;
    }
    std::vector<std::string> fins = finalizers(current);
    auto addFinalizer = [&](const std::string& f) {
      if (std::find(fins.begin(), fins.end(), f) == fins.end()) {
        fins.push_back(f);
        meta["finalizers"] = fins;
      }
    };
    if (o.propagationPolicy == "Orphan" && !isNamespace) addFinalizer("orphan");
    if (o.propagationPolicy == "Foreground" && !isNamespace) addFinalizer("foregroundDeletion");
    if (!fins.empty() || graceful) {
      if (metaString(next, "deletionTimestamp").empty()) meta["deletionTimestamp"] = now;
      if (!meta.contains("deletionGracePeriodSeconds")) meta["deletionGracePeriodSeconds"] = 0;
      if (dry) return next;
      if (next == current) return current;
      auto res = os.update(r, next, rev);
      if (!res.isOk() && res.status().code() == StatusCode::kConflict && attempt < 8) {
        return deleteWithRetries(r, ns, name, o, dry, attempt + 1);
      }
      return res;
    }
    if (dry) return current;
    auto removed = os.remove(r, ns, name, rev);
    if (!removed.isOk() && removed.status().code() == StatusCode::kConflict && attempt < 8) {
      return deleteWithRetries(r, ns, name, o, dry, attempt + 1);
    }
    return removed;
  }

  void doDelete(const Request& req, ResponseWriter& w, const Route& route) {
    const ResourceInfo& r = *route.resource;
    auto o = readDeleteOptions(req, w);
    if (!o) return;
    auto res = deleteObject(r, route.ns, route.name, *o, o->dryRun || dryRun(req));
    if (!res.isOk()) return sendStatusError(w, res.status(), &route);
    sendJson(w, 200, withType(r, std::move(*res)));
  }

  void doDeleteCollection(const Request& req, ResponseWriter& w, const Route& route) {
    const ResourceInfo& r = *route.resource;
    auto filters = parseFilters(req, r, w);
    if (!filters) return;
    auto o = readDeleteOptions(req, w);
    if (!o) return;
    auto list = os.list(r, listNamespace(route));
    if (!list.isOk()) return sendStatusError(w, list.status(), &route);
    Json items = Json::array();
    for (const auto& obj : list->items) {
      if (!filters->matches(obj)) continue;
      auto res = deleteObject(r, metaString(obj, "namespace"), metaString(obj, "name"), *o,
                              o->dryRun || dryRun(req));
      if (res.isOk()) items.push_back(withType(r, std::move(*res)));
    }
    sendJson(w, 200,
             {{"kind", r.listKind},
              {"apiVersion", r.apiVersion()},
              {"metadata", {{"resourceVersion", std::to_string(list->revision)}}},
              {"items", items}});
  }

  // PUT namespaces/<name>/finalize: replaces spec.finalizers; an emptied Terminating
  // namespace is removed.
  void doFinalize(const Request& req, ResponseWriter& w, const Route& route) {
    const ResourceInfo& r = *route.resource;
    auto body = readBody(req, w, route);
    if (!body) return;
    Json wanted = body->value("spec", Json::object()).value("finalizers", Json::array());
    auto res = os.guaranteedUpdate(r, "", route.name,
                                   [&](const Json& current) -> common::Result<std::optional<Json>> {
                                     Json next = current;
                                     next["spec"]["finalizers"] = wanted;
                                     if (next == current) return std::optional<Json>();
                                     return std::optional<Json>(next);
                                   });
    if (!res.isOk()) return sendStatusError(w, res.status(), &route);
    Json obj = std::move(*res);
    if (!metaString(obj, "deletionTimestamp").empty() && wanted.empty() &&
        finalizers(obj).empty()) {
      auto removed = os.remove(r, "", route.name, parseResourceVersion(obj));
      if (removed.isOk()) obj = std::move(*removed);
    }
    sendJson(w, 200, withType(r, std::move(obj)));
  }

  // POST pods/<name>/binding: assigns the pod to a node (the scheduler's write).
  void doBinding(const Request& req, ResponseWriter& w, const Route& route) {
    auto body = readBody(req, w, route, true);
    if (!body) return;
    std::string node = body->value("target", Json::object()).value("name", "");
    if (node.empty()) {
      return sendError(w, invalid("Binding", route.name, "",
                                  {{"target.name", "FieldValueRequired", "Required value"}}));
    }
    const ResourceInfo& r = *route.resource;
    auto res = updateObject(
        req, r, route, [&](const Json& current) -> common::Result<std::optional<Json>> {
          std::string bound = current.value("spec", Json::object()).value("nodeName", "");
          if (!bound.empty()) {
            return common::conflict("Operation cannot be fulfilled on pods/binding \"" +
                                    route.name + "\": pod " + route.name +
                                    " is already assigned to node \"" + bound + "\"");
          }
          if (!metaString(current, "deletionTimestamp").empty()) {
            return common::conflict("pod " + route.name + " is being deleted, cannot be assigned");
          }
          Json next = current;
          next["spec"]["nodeName"] = node;
          Json& conds = next["status"]["conditions"];
          if (!conds.is_array()) conds = Json::array();
          Json cond = {{"type", "PodScheduled"},
                       {"status", "True"},
                       {"lastProbeTime", nullptr},
                       {"lastTransitionTime", common::formatRfc3339(os.clock().now())}};
          bool replaced = false;
          for (auto& c : conds) {
            if (c.value("type", "") == "PodScheduled") {
              c = cond;
              replaced = true;
            }
          }
          if (!replaced) conds.push_back(cond);
          return std::optional<Json>(next);
        });
    if (!res.isOk()) return sendStatusError(w, res.status(), &route);
    sendJson(w, 201,
             {{"kind", "Status"},
              {"apiVersion", "v1"},
              {"metadata", Json::object()},
              {"status", "Success"},
              {"code", 201}});
  }
};

ApiServer::ApiServer(ObjectStore& store, ApiServerOptions opts,
                     std::shared_ptr<prometheus::Registry> metrics)
    : impl_(std::make_unique<Impl>(store, std::move(opts), std::move(metrics))) {}

ApiServer::~ApiServer() = default;

void ApiServer::handle(const Request& req, ResponseWriter& w) { impl_->handle(req, w); }

void ApiServer::shutdown() { impl_->stopping = true; }

}  // namespace skiff::control_plane::apiserver
