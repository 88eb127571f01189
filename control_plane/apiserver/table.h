// Server-side Table output (meta.k8s.io/v1 Table) with the same columns a real cluster prints
// for each resource, so `kubectl get` shows NAME/READY/STATUS/... and `-o wide` the extra ones.
#pragma once

#include <chrono>
#include <vector>

#include "common/json.h"
#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::apiserver {

// includeObject: "Metadata" (default: PartialObjectMetadata), "Object" or "None".
common::Json toTable(const ResourceInfo& r, const std::vector<common::Json>& items,
                     const std::string& resourceVersion, const std::string& continueToken,
                     const std::string& includeObject, std::chrono::system_clock::time_point now);

// Kubernetes' human duration for AGE columns: 45s, 3m12s, 5h, 2d3h, 400d, ...
std::string humanDuration(std::chrono::seconds d);

}  // namespace skiff::control_plane::apiserver
