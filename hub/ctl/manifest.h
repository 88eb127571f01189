// Deployment manifests for `skiffctl deploy apply -f FILE`: YAML (one or more documents) or JSON
// (an object or an array of objects) with the fields of a hub deployment:
//
//   id: web                       # required
//   targetSelector: "site=a"      # required, a label selector
//   priority: 10                  # optional
//   labels: {app: web}            # optional
//   annotations: {...}            # optional
//   pods: [PodSpec, ...]          # required (docs/protocol.md "Pod spec")
//   registryCredentials: [{server, username, password}]   # optional
//
// (`apiVersion: skiff.io/v1` and `kind: Deployment` are accepted; so are schema-1 `modules:`
// lists instead of `pods:`, which the hub converts to pods of one container.) Pod specs are
// validated by the hub, which names the offending field. Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/label_selector.h"
#include "common/status.h"
#include "skiff/v1/hub.pb.h"

namespace skiff::hub::ctl {

// YAML text → one JSON value per document. Plain scalars become numbers, booleans or null when
// they look like one; quoted scalars stay strings. InvalidArgument with the line on errors.
common::Result<std::vector<common::Json>> yamlToJson(std::string_view text);

// Parses a manifest file's content; `source` prefixes errors ("web.yaml: document 2: id: ...").
common::Result<std::vector<v1::Deployment>> parseManifests(std::string_view text,
                                                           const std::string& source);

}  // namespace skiff::hub::ctl
