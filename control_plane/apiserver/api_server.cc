// Request routing and responses of the API server (see api_server.h; the handlers of the verbs
// are in api_server_read.cc, api_server_write.cc and api_server_delete.cc).
#include "control_plane/apiserver/api_server_impl.h"

namespace skiff::control_plane::apiserver {

void ApiServer::Impl::sendJson(ResponseWriter& w, int code, const Json& body) {
  w.send(code, kJson, common::dumpJson(body));
}

void ApiServer::Impl::sendError(ResponseWriter& w, const ApiError& e) {
  std::map<std::string, std::string> headers;
  if (e.retryAfterSeconds) headers["Retry-After"] = std::to_string(*e.retryAfterSeconds);
  w.send(e.code, kJson, common::dumpJson(e.toJson()), headers);
}

void ApiServer::Impl::sendStatusError(ResponseWriter& w, const common::Status& s,
                                      const Route* route) {
  ApiError e = fromStatus(s);
  if (route && route->resource) {
    e.kind = route->resource->resource;
    e.group = route->resource->group;
    e.name = route->name;
  }
  sendError(w, e);
}

bool ApiServer::Impl::wantsTable(const Request& req) {
  std::string accept = req.header("accept");
  return accept.find("as=Table") != std::string::npos;
}

std::string ApiServer::Impl::includeObject(const Request& req) {
  return req.queryParam("includeObject").value_or("Metadata");
}

Json ApiServer::Impl::withType(const ResourceInfo& r, Json obj) {
  obj["kind"] = r.kind;
  obj["apiVersion"] = r.apiVersion();
  return obj;
}

void ApiServer::Impl::handle(const Request& req, ResponseWriter& w) {
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

void ApiServer::Impl::doSelfSubjectAccessReview(const Request& req, ResponseWriter& w,
                                                const UserInfo& user) {
  auto body = req.header("content-type").starts_with("application/vnd.kubernetes.protobuf")
                  ? decodeProtobufObject(req.body)
                  : common::parseJson(req.body);
  if (!body.isOk() || !body->is_object()) {
    return sendError(w, badRequest(body.isOk() ? "SelfSubjectAccessReview must be a JSON object"
                                               : body.status().message()));
  }
  Json spec = common::jsonField(*body, "spec");
  if (!spec.is_object()) spec = Json::object();
  const Json& ra = common::jsonField(spec, "resourceAttributes");
  const Json& nra = common::jsonField(spec, "nonResourceAttributes");
  if (ra.is_object() == nra.is_object()) {
    return sendError(w, invalid("SelfSubjectAccessReview", "", "authorization.k8s.io",
                                {{"spec.resourceAttributes", "FieldValueRequired",
                                  "Required value: exactly one of resourceAttributes or "
                                  "nonResourceAttributes must be specified"}}));
  }
  bool allowed = false;
  std::string reason;
  if (nra.is_object()) {
    allowed = user.inGroup("system:masters") || common::jsonString(nra, "verb") == "get";
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

bool ApiServer::Impl::acceptsAggregated(const Request& req) {
  return req.header("accept").find("apidiscovery.k8s.io") != std::string::npos;
}

void ApiServer::Impl::sendAggregated(ResponseWriter& w, bool core) {
  w.send(200, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
         common::dumpJson(aggregatedDiscovery(core)));
}

ApiError ApiServer::Impl::notFoundPath(const std::string& path) {
  ApiError e{404, "NotFound", "the server could not find the requested resource", "", "", "",
             {},  {}};
  (void)path;
  return e;
}

std::optional<ApiError> ApiServer::Impl::parseRoute(const std::vector<std::string>& seg,
                                                    Route& route) {
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

void ApiServer::Impl::dispatch(const Request& req, ResponseWriter& w, Route& route,
                               const UserInfo& user) {
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

void ApiServer::Impl::dispatchVerb(const Request& req, ResponseWriter& w, Route& route,
                                   const UserInfo& user, const std::string& verb) {
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

bool ApiServer::Impl::authorizeRequest(const UserInfo& user, const Attributes& a,
                                       const Request& req) {
  // The node role's rules depend on the object (a pod's spec.nodeName): fetch it if needed.
  if (!user.inGroup("system:nodes") || a.resource != "pods" || a.name.empty()) {
    return authorize(user, a, nullptr);
  }
  (void)req;
  auto obj = os.get(*findResource("", "v1", "pods"), a.ns, a.name);
  return authorize(user, a, obj.isOk() ? &*obj : nullptr);
}

void ApiServer::Impl::doUnsupportedStream(const Request& req, ResponseWriter& w, const Route& route,
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
                          common::jsonString(common::jsonField(*pod, "spec"), "nodeName") + "\""));
}

std::optional<Json> ApiServer::Impl::readBody(const Request& req, ResponseWriter& w,
                                              const Route& route, bool allowOtherKinds) {
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
  std::string kind = common::jsonString(obj, "kind");
  std::string apiVersion = common::jsonString(obj, "apiVersion");
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
    sendError(w, badRequest("the API version in the data (" + apiVersion +
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

ApiServer::ApiServer(ObjectStore& store, ApiServerOptions opts,
                     std::shared_ptr<prometheus::Registry> metrics)
    : impl_(std::make_unique<Impl>(store, std::move(opts), std::move(metrics))) {}

ApiServer::~ApiServer() = default;

void ApiServer::handle(const Request& req, ResponseWriter& w) { impl_->handle(req, w); }

void ApiServer::shutdown() { impl_->stopping = true; }

}  // namespace skiff::control_plane::apiserver
