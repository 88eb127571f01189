// PATCH implementations. JSON patch and merge patch are nlohmann's; strategic merge patch
// follows k8s.io/apimachinery/pkg/util/strategicpatch for the directives kubectl sends.
#include "control_plane/apiserver/patch.h"

#include <algorithm>
#include <map>

namespace skiff::control_plane::apiserver {

using common::Json;
using common::Result;

namespace {

// Patch merge keys of the lists Kubernetes merges (patchStrategy=merge), by field name.
const std::map<std::string, std::string, std::less<>>& mergeKeys() {
  static const std::map<std::string, std::string, std::less<>> kKeys = {
      {"containers", "name"},
      {"initContainers", "name"},
      {"ephemeralContainers", "name"},
      {"env", "name"},
      {"volumes", "name"},
      {"volumeMounts", "mountPath"},
      {"volumeDevices", "devicePath"},
      {"imagePullSecrets", "name"},
      {"conditions", "type"},
      {"ownerReferences", "uid"},
      {"hostAliases", "ip"},
      {"taints", "key"},
      {"addresses", "type"},
      {"topologySpreadConstraints", "topologyKey"},
      {"ports", ""},  // containerPort for container ports, port for service ports
  };
  return kKeys;
}

// Primitive lists merged as sets (patchStrategy=merge).
bool isMergedPrimitiveList(std::string_view field) { return field == "finalizers"; }

Result<Json> mergeMap(const Json& original, const Json& patch);

std::string mergeKeyFor(std::string_view field, const Json& patchList, const Json& original) {
  auto it = mergeKeys().find(field);
  if (it == mergeKeys().end()) return "";
  if (!it->second.empty()) return it->second;
  for (const Json* list : {&patchList, &original}) {
    if (!list->is_array()) continue;
    for (const auto& e : *list) {
      if (e.is_object() && e.contains("containerPort")) return "containerPort";
      if (e.is_object() && e.contains("port")) return "port";
    }
  }
  return "containerPort";
}

Result<Json> mergeList(const Json& original, const Json& patch, const std::string& key,
                       const std::string& field) {
  Json result = original.is_array() ? original : Json::array();
  // A {"$patch": "replace"} element replaces the whole list with the other elements.
  for (const auto& e : patch) {
    if (common::jsonString(e, "$patch") == "replace") {
      Json out = Json::array();
      for (const auto& x : patch) {
        if (!(x.is_object() && x.contains("$patch"))) out.push_back(x);
      }
      return out;
    }
  }
  for (const auto& e : patch) {
    if (!e.is_object()) {
      return common::invalidArgument("strategic merge patch: list " + field +
                                     " must contain objects with merge key \"" + key + "\"");
    }
    auto kv = e.find(key);
    if (kv == e.end()) {
      return common::invalidArgument("strategic merge patch: map in list " + field +
                                     " does not contain its merge key \"" + key + "\"");
    }
    auto pos = std::find_if(result.begin(), result.end(), [&](const Json& o) {
      return o.is_object() && o.contains(key) && o[key] == *kv;
    });
    std::string directive = common::jsonString(e, "$patch");
    if (directive == "delete") {
      if (pos != result.end()) result.erase(pos);
      continue;
    }
    if (!directive.empty() && directive != "merge") {
      return common::invalidArgument("strategic merge patch: unknown $patch directive \"" +
                                     directive + "\" in list " + field);
    }
    if (pos != result.end()) {
      auto merged = mergeMap(*pos, e);
      if (!merged.isOk()) return merged.status();
      *pos = std::move(*merged);
    } else {
      auto fresh = mergeMap(Json::object(), e);
      if (!fresh.isOk()) return fresh.status();
      result.push_back(std::move(*fresh));
    }
  }
  return result;
}

// Reorders list so elements appear in the order of `order` (values of their merge key, or the
// primitives themselves); elements not named keep their relative order after the named ones.
Json applyElementOrder(const Json& list, const Json& order, const std::string& key) {
  if (!list.is_array() || !order.is_array()) return list;
  Json out = Json::array();
  std::vector<bool> used(list.size(), false);
  for (const auto& o : order) {
    Json want = key.empty() ? o : (o.is_object() && o.contains(key) ? o[key] : Json());
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (used[i]) continue;
      const Json& e = list[i];
      Json have = key.empty() ? e : (e.is_object() && e.contains(key) ? e[key] : Json());
      if (have == want) {
        out.push_back(e);
        used[i] = true;
        break;
      }
    }
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!used[i]) out.push_back(list[i]);
  }
  return out;
}

Result<Json> mergeMap(const Json& original, const Json& patch) {
  if (!patch.is_object()) return patch;
  std::string directive = common::jsonString(patch, "$patch");
  if (directive == "replace") {
    Json out = patch;
    out.erase("$patch");
    return out;
  }
  if (directive == "delete") return Json();
  if (!directive.empty() && directive != "merge") {
    return common::invalidArgument("strategic merge patch: unknown $patch directive \"" +
                                   directive + "\"");
  }
  Json result = original.is_object() ? original : Json::object();
  std::map<std::string, Json> orders;
  for (const auto& [k, v] : patch.items()) {
    if (k == "$patch" || k == "$retainKeys") continue;
    if (k.starts_with("$setElementOrder/")) {
      orders[k.substr(17)] = v;
      continue;
    }
    if (k.starts_with("$deleteFromPrimitiveList/")) {
      std::string field = k.substr(25);
      if (!v.is_array()) {
        return common::invalidArgument("strategic merge patch: " + k + " must be a list");
      }
      if (result.contains(field) && result[field].is_array()) {
        Json kept = Json::array();
        for (const auto& e : result[field]) {
          if (std::find(v.begin(), v.end(), e) == v.end()) kept.push_back(e);
        }
        result[field] = kept;
      }
      continue;
    }
    if (v.is_null()) {
      result.erase(k);
      continue;
    }
    if (v.is_object()) {
      auto merged = mergeMap(result.contains(k) ? result[k] : Json::object(), v);
      if (!merged.isOk()) return merged.status();
      if (merged->is_null())
        result.erase(k);
      else
        result[k] = std::move(*merged);
      continue;
    }
    if (v.is_array()) {
      std::string key = mergeKeyFor(k, v, result.contains(k) ? result[k] : Json());
      if (!key.empty()) {
        auto merged = mergeList(result.contains(k) ? result[k] : Json::array(), v, key, k);
        if (!merged.isOk()) return merged.status();
        result[k] = std::move(*merged);
      } else if (isMergedPrimitiveList(k)) {
        Json list = result.contains(k) && result[k].is_array() ? result[k] : Json::array();
        for (const auto& e : v) {
          if (std::find(list.begin(), list.end(), e) == list.end()) list.push_back(e);
        }
        result[k] = list;
      } else {
        Json clean = Json::array();
        for (const auto& e : v) {
          if (!(e.is_object() && e.contains("$patch"))) clean.push_back(e);
        }
        result[k] = clean;
      }
      continue;
    }
    result[k] = v;
  }
  for (const auto& [field, order] : orders) {
    if (!result.contains(field)) continue;
    std::string key = mergeKeyFor(field, order, result[field]);
    result[field] = applyElementOrder(result[field], order, key);
  }
  if (auto rk = patch.find("$retainKeys"); rk != patch.end()) {
    if (!rk->is_array()) {
      return common::invalidArgument("strategic merge patch: $retainKeys must be a list");
    }
    Json kept = Json::object();
    for (const auto& [k, v] : result.items()) {
      if (std::find(rk->begin(), rk->end(), k) != rk->end()) kept[k] = v;
    }
    result = kept;
  }
  return result;
}

}  // namespace

Result<PatchType> patchTypeFromContentType(std::string_view contentType) {
  std::string_view ct = contentType.substr(0, contentType.find(';'));
  if (ct == "application/json-patch+json") return PatchType::kJson;
  if (ct == "application/merge-patch+json") return PatchType::kMerge;
  if (ct == "application/strategic-merge-patch+json") return PatchType::kStrategicMerge;
  if (ct == "application/apply-patch+yaml" || ct == "application/apply-patch+json") {
    return PatchType::kApply;
  }
  return common::invalidArgument(
      "the body of the request was in an unknown format - accepted media types include: "
      "application/json-patch+json, application/merge-patch+json, "
      "application/apply-patch+yaml, application/strategic-merge-patch+json");
}

Result<Json> applyPatch(PatchType type, const Json& original, const Json& patch) {
  try {
    switch (type) {
      case PatchType::kJson:
        if (!patch.is_array()) {
          return common::invalidArgument("json patch: the patch must be a JSON array");
        }
        return original.patch(patch);
      case PatchType::kMerge: {
        if (!patch.is_object()) {
          return common::invalidArgument("merge patch: the patch must be a JSON object");
        }
        Json out = original;
        out.merge_patch(patch);
        return out;
      }
      case PatchType::kStrategicMerge:
        if (!patch.is_object()) {
          return common::invalidArgument("strategic merge patch: the patch must be a JSON object");
        }
        return mergeMap(original, patch);
      case PatchType::kApply:
        return common::invalidArgument("server-side apply is not supported");
    }
  } catch (const Json::exception& e) {
    return common::invalidArgument(std::string("the patch could not be applied: ") + e.what());
  }
  return common::invalidArgument("unknown patch type");
}

}  // namespace skiff::control_plane::apiserver
