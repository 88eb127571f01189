// Module spec → engine container: labels, names, and the files behind the module's volumes.
//
// Every container the agent creates carries these labels; the agent only ever lists, stops or
// removes containers whose io.skiff.agent label is its own device id, so containers it did not
// create are never touched:
//   io.skiff.managed-by=skiff-agent, io.skiff.agent=<deviceId>, io.skiff.module=<module>,
//   io.skiff.deployment=<deploymentId>, io.skiff.spec-hash=<specHash>,
//   io.skiff.stop-timeout=<seconds>
//
// Volume files live under <stateDir>/modules/<module with '/' as '_'>/<specHash[0:16]>/<volume>:
// `files` volumes (ConfigMap/Secret content, written with their modes; the directory is 0700),
// `emptyDir` volumes (empty directories; a new spec gets a fresh one, like a new pod). A
// `hostPath` naming a character device becomes an engine device mapping, anything else a bind
// mount. Blocking file I/O; thread-safe for distinct modules.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/protocol/protocol.h"
#include "common/status.h"
#include "edge_agent/engine/container_engine.h"

namespace skiff::edge_agent {

inline constexpr std::string_view kLabelManagedBy = "io.skiff.managed-by";
inline constexpr std::string_view kLabelAgent = "io.skiff.agent";
inline constexpr std::string_view kLabelModule = "io.skiff.module";
inline constexpr std::string_view kLabelDeployment = "io.skiff.deployment";
inline constexpr std::string_view kLabelSpecHash = "io.skiff.spec-hash";
inline constexpr std::string_view kLabelStopTimeout = "io.skiff.stop-timeout";

// "skiff-<module with '/' as '_'>-<hash[0:12]>" (a valid engine container name).
std::string containerName(std::string_view module, std::string_view specHash);
// <stateDir>/modules/<module with '/' as '_'> ('_' never occurs in module names: injective).
std::string moduleDir(std::string_view stateDir, std::string_view module);

// Writes the module's volume files and returns the container configuration. InvalidArgument for
// a mount naming an unknown volume; I/O errors as Internal.
common::Result<engine::ContainerConfig> prepareContainer(const common::protocol::ModuleSpec& spec,
                                                         std::string_view specHash,
                                                         std::string_view agentId,
                                                         std::string_view stateDir);

// Removes the module's volume files except the ones of keepHash ("" removes all of them).
void removeModuleFiles(std::string_view stateDir, std::string_view module,
                       std::string_view keepHash = "");

// The credential that applies to image, if any.
std::optional<engine::RegistryAuth> credentialFor(
    std::string_view image, const std::vector<common::protocol::RegistryCredential>& creds);

}  // namespace skiff::edge_agent
