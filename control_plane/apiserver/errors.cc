// Status objects for API errors.
#include "control_plane/apiserver/errors.h"

namespace skiff::control_plane::apiserver {

using common::Json;
using common::StatusCode;

Json ApiError::toJson() const {
  Json j = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  Json details = Json::object();
  if (!name.empty()) details["name"] = name;
  if (!group.empty()) details["group"] = group;
  if (!kind.empty()) details["kind"] = kind;
  if (!causes.empty()) {
    Json cs = Json::array();
    for (const auto& c : causes) {
      cs.push_back({{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
    }
    details["causes"] = cs;
  }
  if (retryAfterSeconds) details["retryAfterSeconds"] = *retryAfterSeconds;
  if (!details.empty()) j["details"] = details;
  return j;
}

ApiError fromStatus(const common::Status& s) {
  ApiError e;
  e.message = s.message();
  switch (s.code()) {
    case StatusCode::kNotFound:
      e.code = 404;
      e.reason = "NotFound";
      break;
    case StatusCode::kAlreadyExists:
      e.code = 409;
      e.reason = "AlreadyExists";
      break;
    case StatusCode::kConflict:
      e.code = 409;
      e.reason = "Conflict";
      break;
    case StatusCode::kInvalidArgument:
      e.code = 400;
      e.reason = "BadRequest";
      break;
    case StatusCode::kGone:
      e.code = 410;
      e.reason = "Expired";
      break;
    case StatusCode::kResourceExhausted:
      e.code = 413;
      e.reason = "RequestEntityTooLarge";
      break;
    case StatusCode::kUnauthenticated:
      e.code = 401;
      e.reason = "Unauthorized";
      break;
    case StatusCode::kPermissionDenied:
      e.code = 403;
      e.reason = "Forbidden";
      break;
    case StatusCode::kUnavailable:
      e.code = 503;
      e.reason = "ServiceUnavailable";
      e.retryAfterSeconds = 1;
      break;
    case StatusCode::kDeadlineExceeded:
      e.code = 504;
      e.reason = "Timeout";
      break;
    default:
      e.code = 500;
      e.reason = "InternalError";
      break;
  }
  return e;
}

ApiError badRequest(std::string message) {
  return {400, "BadRequest", std::move(message), "", "", "", {}, {}};
}

ApiError notFoundError(const std::string& qualifiedResource, const std::string& name) {
  ApiError e{404, "NotFound", qualifiedResource + " \"" + name + "\" not found", name, "", "",
             {},  {}};
  auto dot = qualifiedResource.find('.');
  e.kind = qualifiedResource.substr(0, dot);
  if (dot != std::string::npos) e.group = qualifiedResource.substr(dot + 1);
  return e;
}

ApiError methodNotAllowed(std::string message) {
  return {405, "MethodNotAllowed", std::move(message), "", "", "", {}, {}};
}

ApiError unsupportedMediaType(std::string message) {
  return {415, "UnsupportedMediaType", std::move(message), "", "", "", {}, {}};
}

ApiError notAcceptable(std::string message) {
  return {406, "NotAcceptable", std::move(message), "", "", "", {}, {}};
}

ApiError unauthorized() { return {401, "Unauthorized", "Unauthorized", "", "", "", {}, {}}; }

ApiError forbidden(const std::string& user, const std::string& verb,
                   const std::string& qualifiedResource, const std::string& ns) {
  std::string msg = qualifiedResource + " is forbidden: User \"" + user + "\" cannot " + verb +
                    " resource \"" + qualifiedResource.substr(0, qualifiedResource.find('.')) +
                    "\"";
  auto dot = qualifiedResource.find('.');
  msg += " in API group \"" + (dot == std::string::npos ? "" : qualifiedResource.substr(dot + 1)) +
         "\"";
  if (!ns.empty())
    msg += " in the namespace \"" + ns + "\"";
  else
    msg += " at the cluster scope";
  return {403, "Forbidden", msg, "", "", qualifiedResource.substr(0, dot), {}, {}};
}

ApiError invalid(const std::string& kind, const std::string& name, const std::string& group,
                 std::vector<FieldCause> causes) {
  std::string msg = kind + " \"" + name + "\" is invalid: ";
  if (causes.size() > 1) msg += "[";
  for (std::size_t i = 0; i < causes.size(); ++i) {
    if (i) msg += ", ";
    msg += causes[i].field + ": " + causes[i].message;
  }
  if (causes.size() > 1) msg += "]";
  return {422, "Invalid", msg, name, group, kind, std::move(causes), {}};
}

}  // namespace skiff::control_plane::apiserver
