// Resource table (kept in the same order `kubectl api-resources` prints for a real cluster).
#include "control_plane/apiserver/resources.h"

#include <algorithm>

namespace skiff::control_plane::apiserver {

bool ResourceInfo::hasStatus() const { return hasSubresource("status"); }

bool ResourceInfo::hasSubresource(std::string_view s) const {
  return std::find(subresources.begin(), subresources.end(), s) != subresources.end();
}

std::string ResourceInfo::apiVersion() const {
  return group.empty() ? version : group + "/" + version;
}

std::string ResourceInfo::qualifiedResource() const {
  return group.empty() ? resource : resource + "." + group;
}

const std::vector<ResourceInfo>& allResources() {
  static const std::vector<ResourceInfo> kResources = {
      {"", "v1", "configmaps", "configmap", "ConfigMap", "ConfigMapList", true, {"cm"}, {}, {}},
      {"", "v1", "events", "event", "Event", "EventList", true, {"ev"}, {}, {}},
      {"",
       "v1",
       "namespaces",
       "namespace",
       "Namespace",
       "NamespaceList",
       false,
       {"ns"},
       {"status"},
       {}},
      {"", "v1", "nodes", "node", "Node", "NodeList", false, {"no"}, {"status"}, {}},
      {"",
       "v1",
       "pods",
       "pod",
       "Pod",
       "PodList",
       true,
       {"po"},
       {"status", "binding", "log"},
       {"all"}},
      {"", "v1", "secrets", "secret", "Secret", "SecretList", true, {}, {}, {}},
      {"",
       "v1",
       "serviceaccounts",
       "serviceaccount",
       "ServiceAccount",
       "ServiceAccountList",
       true,
       {"sa"},
       {},
       {}},
      {"",
       "v1",
       "services",
       "service",
       "Service",
       "ServiceList",
       true,
       {"svc"},
       {"status"},
       {"all"}},
      {"apps",
       "v1",
       "daemonsets",
       "daemonset",
       "DaemonSet",
       "DaemonSetList",
       true,
       {"ds"},
       {"status"},
       {"all"}},
      {"apps",
       "v1",
       "deployments",
       "deployment",
       "Deployment",
       "DeploymentList",
       true,
       {"deploy"},
       {"status", "scale"},
       {"all"}},
      {"apps",
       "v1",
       "replicasets",
       "replicaset",
       "ReplicaSet",
       "ReplicaSetList",
       true,
       {"rs"},
       {"status", "scale"},
       {"all"}},
      {"coordination.k8s.io", "v1", "leases", "lease", "Lease", "LeaseList", true, {}, {}, {}},
  };
  return kResources;
}

const std::vector<GroupVersion>& allGroupVersions() {
  static const std::vector<GroupVersion> kGroups = {
      {"", "v1"}, {"apps", "v1"}, {"coordination.k8s.io", "v1"}};
  return kGroups;
}

const ResourceInfo* findResource(std::string_view group, std::string_view version,
                                 std::string_view resource) {
  for (const auto& r : allResources()) {
    if (r.group == group && r.version == version && r.resource == resource) return &r;
  }
  return nullptr;
}

const ResourceInfo* findByKind(std::string_view apiVersion, std::string_view kind) {
  for (const auto& r : allResources()) {
    if (r.apiVersion() == apiVersion && r.kind == kind) return &r;
  }
  return nullptr;
}

std::string objectKey(const ResourceInfo& r, std::string_view ns, std::string_view name) {
  std::string k = listPrefix(r, r.namespaced ? std::optional<std::string_view>(ns) : std::nullopt);
  k += name;
  return k;
}

std::string listPrefix(const ResourceInfo& r, std::optional<std::string_view> ns) {
  std::string k =
      "/registry/" + (r.group.empty() ? std::string("core") : r.group) + "/" + r.resource + "/";
  if (r.namespaced && ns) {
    k += *ns;
    k += '/';
  }
  return k;
}

}  // namespace skiff::control_plane::apiserver
