// Decodes the protobuf request bodies kubectl sends (`kubectl create namespace|configmap|secret|
// deployment|service` post a `k8s\0`-prefixed runtime.Unknown wrapping the object) into the JSON
// object form. The fields users write are decoded (ObjectMeta name, generateName, namespace,
// labels, annotations, finalizers; the specs/data of those kinds down to containers, ports, env,
// resources, selectors); server-set fields are ignored. Other kinds are refused (415) rather
// than half-read.
#pragma once

#include <string_view>

#include "common/json.h"
#include "common/status.h"
#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::apiserver {

common::Result<common::Json> decodeProtobufBody(const ResourceInfo& r, std::string_view body);
// Any kind above, plus the bodies of kubectl's self reviews (SelfSubjectAccessReview: spec's
// resource/non-resource attributes; SelfSubjectReview); with `r`, the kind must be r's.
common::Result<common::Json> decodeProtobufObject(std::string_view body,
                                                  const ResourceInfo* r = nullptr);

}  // namespace skiff::control_plane::apiserver
