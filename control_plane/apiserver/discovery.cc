// Discovery and OpenAPI documents generated from the resource table.
#include "control_plane/apiserver/discovery.h"

#include <openssl/evp.h>

#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::apiserver {

using common::Json;

namespace {

const std::vector<std::string> kAllVerbs = {"create", "delete", "deletecollection", "get",
                                            "list",   "patch",  "update",           "watch"};

Json subresourceVerbs(const std::string& sub) {
  if (sub == "binding") return Json::array({"create"});
  if (sub == "log") return Json::array({"get"});
  return Json::array({"get", "patch", "update"});
}

std::string subresourceKind(const ResourceInfo& r, const std::string& sub) {
  if (sub == "scale") return "Scale";
  if (sub == "binding") return "Binding";
  if (sub == "log") return "Pod";
  return r.kind;
}

}  // namespace

Json versionInfo() {
  return {{"major", "1"},
          {"minor", "32"},
          {"gitVersion", "v1.32.4-skiff"},
          {"gitCommit", "skiff"},
          {"gitTreeState", "clean"},
          {"buildDate", "2026-11-01T00:00:00Z"},
          {"goVersion", "go1.23 (n/a: Skiff is C++)"},
          {"compiler", "gc"},
          {"platform", "linux/amd64"}};
}

Json apiVersions() {
  return {{"kind", "APIVersions"},
          {"versions", Json::array({"v1"})},
          {"serverAddressByClientCIDRs",
           Json::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", ""}}})}};
}

Json apiGroup(const std::string& group) {
  for (const auto& gv : allGroupVersions()) {
    if (gv.group == group && !group.empty()) {
      Json v = {{"groupVersion", group + "/" + gv.version}, {"version", gv.version}};
      return {{"kind", "APIGroup"},
              {"apiVersion", "v1"},
              {"name", group},
              {"versions", Json::array({v})},
              {"preferredVersion", v}};
    }
  }
  return nullptr;
}

Json apiGroupList() {
  Json groups = Json::array();
  for (const auto& gv : allGroupVersions()) {
    if (gv.group.empty()) continue;
    Json g = apiGroup(gv.group);
    g.erase("kind");
    g.erase("apiVersion");
    groups.push_back(g);
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

Json apiResourceList(const std::string& group, const std::string& version) {
  Json resources = Json::array();
  bool known = false;
  for (const auto& r : allResources()) {
    if (r.group != group || r.version != version) continue;
    known = true;
    Json e = {{"name", r.resource}, {"singularName", r.singular}, {"namespaced", r.namespaced},
              {"kind", r.kind},     {"verbs", kAllVerbs},         {"storageVersionHash", ""}};
    if (!r.shortNames.empty()) e["shortNames"] = r.shortNames;
    if (!r.categories.empty()) e["categories"] = r.categories;
    e.erase("storageVersionHash");
    resources.push_back(e);
    for (const auto& sub : r.subresources) {
      Json s = {{"name", r.resource + "/" + sub},
                {"singularName", ""},
                {"namespaced", r.namespaced},
                {"kind", subresourceKind(r, sub)},
                {"verbs", subresourceVerbs(sub)}};
      if (sub == "scale") {
        s["group"] = "autoscaling";
        s["version"] = "v1";
      }
      resources.push_back(s);
    }
  }
  if (!known) return nullptr;
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", group.empty() ? version : group + "/" + version},
          {"resources", resources}};
}

Json aggregatedDiscovery(bool core) {
  Json items = Json::array();
  for (const auto& gv : allGroupVersions()) {
    if (gv.group.empty() != core) continue;
    Json resources = Json::array();
    for (const auto& r : allResources()) {
      if (r.group != gv.group || r.version != gv.version) continue;
      Json e = {{"resource", r.resource},
                {"responseKind", {{"group", r.group}, {"version", r.version}, {"kind", r.kind}}},
                {"scope", r.namespaced ? "Namespaced" : "Cluster"},
                {"singularResource", r.singular},
                {"verbs", kAllVerbs}};
      if (!r.shortNames.empty()) e["shortNames"] = r.shortNames;
      if (!r.categories.empty()) e["categories"] = r.categories;
      Json subs = Json::array();
      for (const auto& sub : r.subresources) {
        Json k = {{"group", sub == "scale" ? "autoscaling" : r.group},
                  {"version", "v1"},
                  {"kind", subresourceKind(r, sub)}};
        subs.push_back(
            {{"subresource", sub}, {"responseKind", k}, {"verbs", subresourceVerbs(sub)}});
      }
      if (!subs.empty()) e["subresources"] = subs;
      resources.push_back(e);
    }
    Json version = {{"version", gv.version}, {"resources", resources}, {"freshness", "Current"}};
    Json item = {{"metadata", {{"name", gv.group}, {"creationTimestamp", nullptr}}},
                 {"versions", Json::array({version})}};
    items.push_back(item);
  }
  return {{"kind", "APIGroupDiscoveryList"},
          {"apiVersion", "apidiscovery.k8s.io/v2"},
          {"metadata", Json::object()},
          {"items", items}};
}

namespace {
std::string gvPath(const GroupVersion& gv) {
  return gv.group.empty() ? "api/" + gv.version : "apis/" + gv.group + "/" + gv.version;
}

std::string shortHash(const std::string& s) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), d, &n, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < 16 && i < n; ++i) {
    out += kHex[d[i] >> 4];
    out += kHex[d[i] & 0xf];
  }
  return out;
}
}  // namespace

Json openapiV3Index() {
  Json paths = Json::object();
  for (const auto& gv : allGroupVersions()) {
    std::string p = gvPath(gv);
    std::string doc = common::dumpJson(openapiV3Document(p));
    paths[p] = {{"serverRelativeURL", "/openapi/v3/" + p + "?hash=" + shortHash(doc)}};
  }
  return {{"paths", paths}};
}

Json openapiV3Document(const std::string& groupVersionPath) {
  const GroupVersion* found = nullptr;
  for (const auto& gv : allGroupVersions()) {
    if (gvPath(gv) == groupVersionPath) found = &gv;
  }
  if (found == nullptr) return nullptr;
  // kubectl's validation needs, per kind, a path whose patch operation carries
  // x-kubernetes-group-version-kind and a fieldValidation parameter; schemas are kept open
  // (x-kubernetes-preserve-unknown-fields) because the server validates authoritatively.
  Json paths = Json::object();
  Json schemas = Json::object();
  for (const auto& r : allResources()) {
    if (r.group != found->group || r.version != found->version) continue;
    std::string prefix = "/" + groupVersionPath + (r.namespaced ? "/namespaces/{namespace}" : "");
    std::string defName =
        "io.k8s.api." +
        (r.group.empty() ? std::string("core") : r.group.substr(0, r.group.find('.'))) + "." +
        r.version + "." + r.kind;
    Json gvk = {{"group", r.group}, {"version", r.version}, {"kind", r.kind}};
    Json params = Json::array(
        {{{"name", "fieldValidation"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
         {{"name", "dryRun"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
         {{"name", "fieldManager"}, {"in", "query"}, {"schema", {{"type", "string"}}}}});
    Json ref = {{"$ref", "#/components/schemas/" + defName}};
    Json okResponse = {{"200", {{"content", {{"application/json", {{"schema", ref}}}}}}}};
    Json op = {{"x-kubernetes-group-version-kind", gvk},
               {"x-kubernetes-action", "patch"},
               {"parameters", params},
               {"responses", okResponse}};
    Json put = op;
    put["x-kubernetes-action"] = "put";
    Json post = op;
    post["x-kubernetes-action"] = "post";
    paths[prefix + "/" + r.resource + "/{name}"] = {{"patch", op}, {"put", put}};
    paths[prefix + "/" + r.resource] = {{"post", post}};
    schemas[defName] = {
        {"type", "object"},
        {"x-kubernetes-group-version-kind", Json::array({gvk})},
        {"x-kubernetes-preserve-unknown-fields", true},
        {"properties",
         {{"apiVersion", {{"type", "string"}}},
          {"kind", {{"type", "string"}}},
          {"metadata", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}}};
  }
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "v1.32.4-skiff"}}},
          {"paths", paths},
          {"components", {{"schemas", schemas}}}};
}

}  // namespace skiff::control_plane::apiserver
