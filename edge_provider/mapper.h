// The pod → hub deployment mapper behind mapPod() (edge_provider/pod_mapping.h), in three files:
// pod_mapping.cc (pod-level settings, ConfigMap/Secret/field lookups, registry credentials,
// targeting, the deployment), container_mapping.cc (containers, init containers and sidecars:
// env, ports, resources, probes, lifecycle hooks, security context) and volume_mapping.cc (pod
// volumes and mounts). Internal to the edge provider; one Mapper converts one pod, once.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "edge_provider/pod_mapping.h"

namespace skiff::edge_provider::detail {

// j itself when it is an object, else an empty object (for iterating optional maps).
const Json& objectOrEmpty(const Json& j);
bool truthy(const Json& j, std::string_view key);
// Set and not empty.
bool present(const Json& v);
std::string idx(const std::string& path, std::size_t i);
// A quantity as Kubernetes sends it: a string, or a number from a YAML manifest.
common::Result<std::string> quantityText(const Json& v, const std::string& path);
// Expands $(VAR) references the way the kubelet does: defined variables are substituted, $$
// escapes a dollar, anything else stays as written.
std::string expand(const std::string& in, const std::map<std::string, std::string>& vars);
bool validEnvName(const std::string& n);

class Mapper {
 public:
  Mapper(const Json& pod, const MappingContext& ctx) : pod_(pod), ctx_(ctx) {}
  common::Result<PodMapping> run();

 private:
  common::Status fail(const std::string& path, const std::string& msg) {
    return common::invalidArgument(path + ": " + msg);
  }
  void warn(const std::string& path, const std::string& msg) {
    out_.warnings.push_back(path + ": " + msg);
  }

  // pod_mapping.cc
  common::Status podSettings(protocol::PodSpec& p);
  common::Status podSecurityContext(protocol::PodSpec& p);
  common::Result<const Json*> object(bool secret, const std::string& name, const std::string& path);
  common::Result<std::optional<std::string>> keyOf(bool secret, const std::string& name,
                                                   const std::string& key, bool optional,
                                                   const std::string& path);
  common::Result<std::string> fieldRef(const Json& ref, const std::string& path);
  common::Result<std::optional<std::string>> resourceRef(const Json& ref, const Json& container,
                                                         const std::string& path);
  common::Status credentials();
  void podWarnings();

  // container_mapping.cc
  common::Result<protocol::ContainerSpec> container(const Json& c, const std::string& path,
                                                    bool init);
  common::Status env(const Json& c, const std::string& path, protocol::ContainerSpec& m,
                     std::map<std::string, std::string>& vars);
  common::Status ports(const Json& c, const std::string& path, protocol::ContainerSpec& m);
  common::Status resources(const Json& c, const std::string& path, protocol::ContainerSpec& m);
  common::Result<std::optional<protocol::Probe>> probe(const Json& p, const Json& c,
                                                       const std::string& path);
  common::Result<std::optional<protocol::Handler>> handler(const Json& h, const Json& c,
                                                           const std::string& path);
  common::Status securityContext(const Json& c, const std::string& path,
                                 protocol::ContainerSpec& m);
  void containerWarnings(const Json& c, const std::string& path);

  // volume_mapping.cc
  common::Status volumes(protocol::PodSpec& p);
  common::Result<std::optional<protocol::Volume>> volume(const Json& v, const std::string& path);
  common::Status filesFrom(bool secret, const Json& src, const std::string& name, int defaultMode,
                           const std::string& path, std::vector<protocol::FileItem>& files);
  common::Status mounts(const Json& c, const std::string& path, protocol::ContainerSpec& m);

  const Json& pod_;
  const MappingContext& ctx_;
  PodMapping out_;
  std::map<std::string, std::optional<Json>> cache_;  // "cm/<name>" | "secret/<name>"
  std::set<std::string> podVolumes_;                  // converted pod volumes, by name
  std::set<std::string> skippedVolumes_;              // unsupported (warned once)
};

}  // namespace skiff::edge_provider::detail
