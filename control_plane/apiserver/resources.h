// The API resources the server serves: names, kinds, scope, short names and storage keys.
// One static table drives discovery, routing, OpenAPI and storage, so adding a resource is one
// entry here plus its validation/defaulting/table columns.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skiff::control_plane::apiserver {

struct ResourceInfo {
  std::string group;     // "" for core
  std::string version;   // "v1"
  std::string resource;  // plural: "pods"
  std::string singular;  // "pod"
  std::string kind;      // "Pod"
  std::string listKind;  // "PodList"
  bool namespaced = true;
  std::vector<std::string> shortNames;
  std::vector<std::string> subresources;  // "status", "scale", "binding", "log"
  std::vector<std::string> categories;    // "all"
  bool hasStatus() const;
  bool hasSubresource(std::string_view s) const;
  // "apps/v1" or "v1"
  std::string apiVersion() const;
  // "pods" / "deployments.apps" (for messages: `deployments.apps "web" not found`)
  std::string qualifiedResource() const;
};

// All served resources, in discovery order.
const std::vector<ResourceInfo>& allResources();

// Group/versions in discovery order: {"", "v1"}, {"apps", "v1"}, ...
struct GroupVersion {
  std::string group;
  std::string version;
};
const std::vector<GroupVersion>& allGroupVersions();

const ResourceInfo* findResource(std::string_view group, std::string_view version,
                                 std::string_view resource);
const ResourceInfo* findByKind(std::string_view apiVersion, std::string_view kind);

// Storage key of an object, and key prefixes for lists (all namespaces / one namespace).
std::string objectKey(const ResourceInfo& r, std::string_view ns, std::string_view name);
std::string listPrefix(const ResourceInfo& r, std::optional<std::string_view> ns);

}  // namespace skiff::control_plane::apiserver
