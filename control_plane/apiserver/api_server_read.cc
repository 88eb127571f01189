// The API server's reads: list (label/field selectors, pagination, tables), get, scale, logs
// proxy, watch.
#include "control_plane/apiserver/api_server_impl.h"

namespace skiff::control_plane::apiserver {

std::optional<ListFilters> ApiServer::Impl::parseFilters(const Request& req, const ResourceInfo& r,
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

std::optional<std::string> ApiServer::Impl::listNamespace(const Route& route) {
  if (!route.resource->namespaced || !route.hasNamespace) return std::nullopt;
  return route.ns;
}

void ApiServer::Impl::doList(const Request& req, ResponseWriter& w, const Route& route) {
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

std::string ApiServer::Impl::continueAfter(std::int64_t revision, const Json& obj,
                                           const ResourceInfo& r, const Route& route) {
  std::string key = objectKey(r, metaString(obj, "namespace"), metaString(obj, "name"));
  std::string prefix = listPrefix(
      r, listNamespace(route) ? std::optional<std::string_view>(route.ns) : std::nullopt);
  return makeContinueToken(revision, key.substr(prefix.size()));
}

void ApiServer::Impl::doGet(const Request& req, ResponseWriter& w, const Route& route) {
  const ResourceInfo& r = *route.resource;
  auto obj = os.get(r, route.ns, route.name);
  if (!obj.isOk()) return sendStatusError(w, obj.status(), &route);
  if (wantsTable(req) && route.subresource.empty()) {
    return sendJson(w, 200,
                    toTable(r, {*obj}, metaString(*obj, "resourceVersion"), "", includeObject(req),
                            os.clock().now()));
  }
  sendJson(w, 200, withType(r, std::move(*obj)));
}

Json ApiServer::Impl::scaleOf(const ResourceInfo& r, const Json& obj) {
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

void ApiServer::Impl::doGetScale(ResponseWriter& w, const Route& route) {
  auto obj = os.get(*route.resource, route.ns, route.name);
  if (!obj.isOk()) return sendStatusError(w, obj.status(), &route);
  sendJson(w, 200, scaleOf(*route.resource, *obj));
}

void ApiServer::Impl::doLogs(const Request& req, ResponseWriter& w, const Route& route) {
  auto pod = os.get(*route.resource, route.ns, route.name);
  if (!pod.isOk()) return sendStatusError(w, pod.status(), &route);
  std::string nodeName = common::jsonString(common::jsonField(*pod, "spec"), "nodeName");
  Json node;
  if (!nodeName.empty()) {
    auto n = os.get(*findResource("", "v1", "nodes"), "", nodeName);
    if (n.isOk()) node = std::move(*n);
  }
  if (auto err = proxyContainerLogs(req, *pod, node, opts.kubeletClient, w)) sendError(w, *err);
}

void ApiServer::Impl::doWatch(const Request& req, ResponseWriter& w, const Route& route) {
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

}  // namespace skiff::control_plane::apiserver
