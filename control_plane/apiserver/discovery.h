// Discovery documents (legacy /api, /apis, /api/v1, /apis/<g>/<v>; aggregated v2) and the
// OpenAPI v3 documents kubectl's client-side validation and apply need.
#pragma once

#include <string>

#include "common/json.h"

namespace skiff::control_plane::apiserver {

common::Json versionInfo();
common::Json apiVersions();                       // GET /api
common::Json apiGroupList();                      // GET /apis
common::Json apiGroup(const std::string& group);  // GET /apis/<g>; null if unknown
// GET /api/v1 or /apis/<g>/<v>; null if unknown.
common::Json apiResourceList(const std::string& group, const std::string& version);
// Aggregated discovery (apidiscovery.k8s.io/v2 APIGroupDiscoveryList); core = /api, else /apis.
common::Json aggregatedDiscovery(bool core);

common::Json openapiV3Index();
// "api/v1" or "apis/apps/v1"; null if unknown.
common::Json openapiV3Document(const std::string& groupVersionPath);

}  // namespace skiff::control_plane::apiserver
