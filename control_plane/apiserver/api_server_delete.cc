// The API server's deletes: graceful deletion, finalizers, deletecollection, namespace finalize.
#include "control_plane/apiserver/api_server_impl.h"

namespace skiff::control_plane::apiserver {

std::vector<std::string> ApiServer::Impl::finalizers(const Json& obj) {
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

bool ApiServer::Impl::podAwaitsKubelet(const Json& pod) {
  std::string node = common::jsonString(common::jsonField(pod, "spec"), "nodeName");
  if (node.empty()) return false;
  auto grace = pod["metadata"].find("deletionGracePeriodSeconds");
  return grace != pod["metadata"].end() && grace->is_number_integer() &&
         grace->get<long long>() > 0;
}

auto ApiServer::Impl::readDeleteOptions(const Request& req, ResponseWriter& w)
    -> std::optional<DeleteOptions> {
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
          sendError(w,
                    invalid("DeleteOptions", "", "",
                            {{"dryRun", "FieldValueNotSupported",
                              "Unsupported value: " + v.dump() + ": supported values: \"All\""}}));
          return std::nullopt;
        }
        o.dryRun = true;
      }
    }
    if (auto pre = j->find("preconditions"); pre != j->end() && pre->is_object()) {
      o.preconditionUid = common::jsonString(*pre, "uid");
      o.preconditionRv = common::jsonString(*pre, "resourceVersion");
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

common::Result<Json> ApiServer::Impl::deleteObject(const ResourceInfo& r, const std::string& ns,
                                                   const std::string& name, const DeleteOptions& o,
                                                   bool dry) {
  return deleteWithRetries(r, ns, name, o, dry, 0);
}

common::Result<Json> ApiServer::Impl::deleteWithRetries(const ResourceInfo& r,
                                                        const std::string& ns,
                                                        const std::string& name,
                                                        const DeleteOptions& o, bool dry,
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
    long long grace = o.gracePeriodSeconds.value_or([&] {
      const Json& g =
          common::jsonField(common::jsonField(current, "spec"), "terminationGracePeriodSeconds");
      return g.is_number_integer() ? g.get<long long>() : 30LL;
    }());
    std::string node = common::jsonString(common::jsonField(current, "spec"), "nodeName");
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

void ApiServer::Impl::doDelete(const Request& req, ResponseWriter& w, const Route& route) {
  const ResourceInfo& r = *route.resource;
  auto o = readDeleteOptions(req, w);
  if (!o) return;
  auto res = deleteObject(r, route.ns, route.name, *o, o->dryRun || dryRun(req));
  if (!res.isOk()) return sendStatusError(w, res.status(), &route);
  sendJson(w, 200, withType(r, std::move(*res)));
}

void ApiServer::Impl::doDeleteCollection(const Request& req, ResponseWriter& w,
                                         const Route& route) {
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

void ApiServer::Impl::doFinalize(const Request& req, ResponseWriter& w, const Route& route) {
  const ResourceInfo& r = *route.resource;
  auto body = readBody(req, w, route);
  if (!body) return;
  const Json& spec = common::jsonField(*body, "spec");
  if (!spec.is_null() && !spec.is_object()) {
    return sendError(w, badRequest(r.kind + " spec must be an object"));
  }
  Json wanted = common::jsonField(spec, "finalizers");
  if (wanted.is_null()) wanted = Json::array();
  if (!wanted.is_array()) {
    return sendError(w, invalid(r.kind, route.name, "",
                                {{"spec.finalizers", "FieldValueInvalid", "must be a list"}}));
  }
  for (const auto& f : wanted) {
    if (!f.is_string()) {
      return sendError(
          w,
          invalid(r.kind, route.name, "",
                  {{"spec.finalizers", "FieldValueInvalid", "every finalizer must be a string"}}));
    }
  }
  auto res = os.guaranteedUpdate(r, "", route.name,
                                 [&](const Json& current) -> common::Result<std::optional<Json>> {
                                   Json next = current;
                                   next["spec"]["finalizers"] = wanted;
                                   if (next == current) return std::optional<Json>();
                                   return std::optional<Json>(next);
                                 });
  if (!res.isOk()) return sendStatusError(w, res.status(), &route);
  Json obj = std::move(*res);
  if (!metaString(obj, "deletionTimestamp").empty() && wanted.empty() && finalizers(obj).empty()) {
    auto removed = os.remove(r, "", route.name, parseResourceVersion(obj));
    if (removed.isOk()) obj = std::move(*removed);
  }
  sendJson(w, 200, withType(r, std::move(obj)));
}

}  // namespace skiff::control_plane::apiserver
