// Per-resource behaviour of the API server, as Kubernetes' registry "strategies": defaulting,
// validation (with field causes), what create/update may change (status is only written via
// the status subresource; spec changes bump metadata.generation), and graceful deletion.
#pragma once

#include <vector>

#include "common/json.h"
#include "control_plane/apiserver/errors.h"
#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::apiserver {

using common::Json;

// Admission defaults that are flags of kube-apiserver.
struct DefaultingOptions {
  // DefaultTolerationSeconds: pods tolerate node.kubernetes.io/not-ready and /unreachable
  // NoExecute taints this long unless they say otherwise.
  long long notReadyTolerationSeconds = 300;
  long long unreachableTolerationSeconds = 300;
};

// Fills defaults in place, like the Kubernetes defaulting functions (container port protocol,
// restartPolicy, imagePullPolicy, terminationGracePeriodSeconds, deployment strategy, ...).
void applyDefaults(const ResourceInfo& r, Json& obj, const DefaultingOptions& opts = {});

// Validates a whole object (create, or update when old != nullptr). Empty = valid.
std::vector<FieldCause> validateObject(const ResourceInfo& r, const Json& obj, const Json* old);

// Create: resets status where the resource has a status subresource (keeps the initial status
// Kubernetes itself sets, e.g. pod phase Pending), sets generation 1.
void prepareForCreate(const ResourceInfo& r, Json& obj);
// Update of the main resource: keeps old status, system metadata (uid, creationTimestamp,
// deletionTimestamp, generation), bumps generation when spec changed.
void prepareForUpdate(const ResourceInfo& r, Json& obj, const Json& old);
// Update through /status: only status changes; everything else comes from old.
void prepareForStatusUpdate(const ResourceInfo& r, Json& obj, const Json& old);

// Validation helpers shared with other checks.
bool isDnsSubdomain(std::string_view s);
bool isDnsLabel(std::string_view s);

}  // namespace skiff::control_plane::apiserver
