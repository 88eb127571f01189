// Kubernetes-style API errors: an HTTP code, a reason and a message, serialized as a
// metav1.Status object (what kubectl prints as "Error from server (NotFound): ...").
#pragma once

#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace skiff::control_plane::apiserver {

struct FieldCause {
  std::string field;    // "spec.containers[0].image"
  std::string reason;   // "FieldValueRequired", "FieldValueInvalid", ...
  std::string message;  // "Required value"
};

struct ApiError {
  int code = 500;
  std::string reason = "InternalError";
  std::string message;
  std::string name;   // details.name
  std::string group;  // details.group
  std::string kind;   // details.kind (resource plural, as Kubernetes does)
  std::vector<FieldCause> causes;
  std::optional<int> retryAfterSeconds;

  common::Json toJson() const;
};

// Maps a Status from lower layers: NotFound→404, AlreadyExists→409, Conflict→409,
// InvalidArgument→400 BadRequest, Gone→410 Expired, ResourceExhausted→413,
// Unauthenticated→401, PermissionDenied→403, Unavailable→503, DeadlineExceeded→504, else 500.
ApiError fromStatus(const common::Status& s);

ApiError badRequest(std::string message);
ApiError notFoundError(const std::string& qualifiedResource, const std::string& name);
ApiError methodNotAllowed(std::string message);
ApiError unsupportedMediaType(std::string message);
ApiError notAcceptable(std::string message);
ApiError unauthorized();
ApiError forbidden(const std::string& user, const std::string& verb,
                   const std::string& qualifiedResource, const std::string& ns);
// 422 Invalid: `<Kind> "<name>" is invalid: <field>: <message>, ...`
ApiError invalid(const std::string& kind, const std::string& name, const std::string& group,
                 std::vector<FieldCause> causes);

}  // namespace skiff::control_plane::apiserver
