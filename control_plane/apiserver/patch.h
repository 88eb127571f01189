// PATCH bodies: JSON patch (RFC 6902) and JSON merge patch (RFC 7386) through nlohmann::json,
// and Kubernetes strategic merge patch: lists merged by their patch merge key (containers, env,
// volumes, volumeMounts by name; ports by containerPort/port; ...), $setElementOrder/<list>,
// $patch: replace|delete|merge, $retainKeys, $deleteFromPrimitiveList/<list>, null deletes.
#pragma once

#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace skiff::control_plane::apiserver {

enum class PatchType { kJson, kMerge, kStrategicMerge, kApply };

// From a Content-Type header; InvalidArgument (415 at the API) for anything else.
common::Result<PatchType> patchTypeFromContentType(std::string_view contentType);

// Applies patch to original. InvalidArgument with a clear message on malformed patches.
common::Result<common::Json> applyPatch(PatchType type, const common::Json& original,
                                        const common::Json& patch);

}  // namespace skiff::control_plane::apiserver
