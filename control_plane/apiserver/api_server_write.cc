// The API server's writes: create (with ClusterIP allocation), update, patch, scale, binding.
#include "control_plane/apiserver/api_server_impl.h"

namespace skiff::control_plane::apiserver {

bool ApiServer::Impl::fixNamespace(Json& obj, const Route& route, ResponseWriter& w) {
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

bool ApiServer::Impl::checkNamespaceWritable(const Route& route, ResponseWriter& w) {
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

common::Result<Json> ApiServer::Impl::updateObject(
    const Request& req, const ResourceInfo& r, const Route& route,
    const std::function<common::Result<std::optional<Json>>(const Json& current)>& mutate) {
  if (!dryRun(req)) return os.guaranteedUpdate(r, route.ns, route.name, mutate);
  SKIFF_ASSIGN_OR_RETURN(Json current, os.get(r, route.ns, route.name));
  SKIFF_ASSIGN_OR_RETURN(std::optional<Json> next, mutate(current));
  if (!next) return current;
  (*next)["metadata"]["resourceVersion"] =
      common::jsonString(common::jsonField(current, "metadata"), "resourceVersion");
  return std::move(*next);
}

void ApiServer::Impl::doCreate(const Request& req, ResponseWriter& w, Route& route) {
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

std::optional<ApiError> ApiServer::Impl::allocateClusterIP(Json& svc, const std::string& name) {
  if (!svc.contains("spec") || !svc["spec"].is_object()) return std::nullopt;
  Json& spec = svc["spec"];
  if (common::jsonString(spec, "type") == "ExternalName") return std::nullopt;
  std::string requested = common::jsonString(spec, "clusterIP");
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
    auto ip = parseIpv4(common::jsonString(common::jsonField(s, "spec"), "clusterIP"));
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

common::Result<std::optional<Json>> ApiServer::Impl::prepareUpdate(const Route& route, Json obj,
                                                                   const Json& current,
                                                                   ApiError* err) {
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

void ApiServer::Impl::finishWrite(const Request& req, ResponseWriter& w, const Route& route,
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

void ApiServer::Impl::doUpdate(const Request& req, ResponseWriter& w, const Route& route) {
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
  auto res =
      updateObject(req, r, route, [&](const Json& current) -> common::Result<std::optional<Json>> {
        if (expected != 0 && parseResourceVersion(current) != expected) {
          return modifiedConflict(r, route.name);
        }
        return prepareUpdate(route, obj, current, &err);
      });
  finishWrite(req, w, route, std::move(res), err);
}

void ApiServer::Impl::updateScale(const Request& req, ResponseWriter& w, const Route& route,
                                  const Json& scale, bool isPatch) {
  const ResourceInfo& r = *route.resource;
  ApiError err;
  auto res =
      updateObject(req, r, route, [&](const Json& current) -> common::Result<std::optional<Json>> {
        Json s = scale;
        if (isPatch) {
          auto type = patchTypeFromContentType(req.header("content-type"));
          if (!type.isOk()) return type.status();
          auto patched = applyPatch(*type, scaleOf(r, current), scale);
          if (!patched.isOk()) return patched.status();
          s = std::move(*patched);
        }
        Json rep = s.is_object() && s.contains("spec") && s["spec"].is_object()
                       ? common::jsonField(common::jsonField(s, "spec"), "replicas")
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

void ApiServer::Impl::doPatch(const Request& req, ResponseWriter& w, const Route& route) {
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
  auto res =
      updateObject(req, r, route, [&](const Json& current) -> common::Result<std::optional<Json>> {
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

void ApiServer::Impl::doBinding(const Request& req, ResponseWriter& w, const Route& route) {
  auto body = readBody(req, w, route, true);
  if (!body) return;
  std::string node = common::jsonString(common::jsonField(*body, "target"), "name");
  if (node.empty()) {
    return sendError(w, invalid("Binding", route.name, "",
                                {{"target.name", "FieldValueRequired", "Required value"}}));
  }
  const ResourceInfo& r = *route.resource;
  auto res =
      updateObject(req, r, route, [&](const Json& current) -> common::Result<std::optional<Json>> {
        std::string bound = common::jsonString(common::jsonField(current, "spec"), "nodeName");
        if (!bound.empty()) {
          return common::conflict("Operation cannot be fulfilled on pods/binding \"" + route.name +
                                  "\": pod " + route.name + " is already assigned to node \"" +
                                  bound + "\"");
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
          if (common::jsonString(c, "type") == "PodScheduled") {
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

}  // namespace skiff::control_plane::apiserver
