// Pod → hub deployment identity (docs/pod-mapping.md): one pod is one hub deployment whose id is
// derived from namespace/name/uid, so a re-created pod with the same name never reuses the old
// deployment, and the id is stable across virtual-node restarts.
#pragma once

#include <string>
#include <string_view>

namespace skiff::edge_provider {

// "<namespace>.<name>-<10 hex of sha256(namespace/name/uid)>", lower-case, at most 63 chars,
// characters outside [a-z0-9.-] replaced by '-'. Pure function; thread-safe.
std::string deploymentIdFor(std::string_view ns, std::string_view name, std::string_view uid);

}  // namespace skiff::edge_provider
