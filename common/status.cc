// Status helpers: names, formatting and constructors per code.
#include "common/status.h"

namespace skiff::common {

std::string_view statusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "Ok";
    case StatusCode::kNotFound:
      return "NotFound";
    case StatusCode::kAlreadyExists:
      return "AlreadyExists";
    case StatusCode::kConflict:
      return "Conflict";
    case StatusCode::kInvalidArgument:
      return "InvalidArgument";
    case StatusCode::kUnauthenticated:
      return "Unauthenticated";
    case StatusCode::kPermissionDenied:
      return "PermissionDenied";
    case StatusCode::kUnavailable:
      return "Unavailable";
    case StatusCode::kInternal:
      return "Internal";
    case StatusCode::kDeadlineExceeded:
      return "DeadlineExceeded";
    case StatusCode::kResourceExhausted:
      return "ResourceExhausted";
    case StatusCode::kGone:
      return "Gone";
  }
  return "Unknown";
}

std::string Status::toString() const {
  if (isOk()) return "Ok";
  std::string out(statusCodeName(code_));
  if (!message_.empty()) out += ": " + message_;
  return out;
}

Status Status::withContext(std::string_view context) const {
  if (isOk()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.toString(); }

Status notFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
Status alreadyExists(std::string msg) { return {StatusCode::kAlreadyExists, std::move(msg)}; }
Status conflict(std::string msg) { return {StatusCode::kConflict, std::move(msg)}; }
Status invalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
Status unauthenticated(std::string msg) { return {StatusCode::kUnauthenticated, std::move(msg)}; }
Status permissionDenied(std::string msg) { return {StatusCode::kPermissionDenied, std::move(msg)}; }
Status unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
Status internalError(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
Status deadlineExceeded(std::string msg) { return {StatusCode::kDeadlineExceeded, std::move(msg)}; }
Status resourceExhausted(std::string msg) {
  return {StatusCode::kResourceExhausted, std::move(msg)};
}
Status gone(std::string msg) { return {StatusCode::kGone, std::move(msg)}; }

}  // namespace skiff::common
