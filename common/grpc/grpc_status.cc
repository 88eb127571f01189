// common::Status ⇄ grpc::Status (see grpc_status.h).
#include "common/grpc/grpc_status.h"

namespace skiff::common::grpc_status {

StatusCode codeFromGrpc(grpc::StatusCode code) {
  using G = grpc::StatusCode;
  switch (code) {
    case G::OK:
      return StatusCode::kOk;
    case G::NOT_FOUND:
      return StatusCode::kNotFound;
    case G::ALREADY_EXISTS:
      return StatusCode::kAlreadyExists;
    case G::INVALID_ARGUMENT:
    case G::OUT_OF_RANGE:
      return StatusCode::kInvalidArgument;
    case G::FAILED_PRECONDITION:
    case G::ABORTED:
      return StatusCode::kConflict;
    case G::UNAUTHENTICATED:
      return StatusCode::kUnauthenticated;
    case G::PERMISSION_DENIED:
      return StatusCode::kPermissionDenied;
    case G::DEADLINE_EXCEEDED:
      return StatusCode::kDeadlineExceeded;
    case G::RESOURCE_EXHAUSTED:
      return StatusCode::kResourceExhausted;
    case G::UNAVAILABLE:
    case G::CANCELLED:
      return StatusCode::kUnavailable;
    default:
      return StatusCode::kInternal;
  }
}

Status fromGrpc(const grpc::Status& s, std::string message) {
  if (s.ok()) return Status::ok();
  return Status(codeFromGrpc(s.error_code()), std::move(message));
}

grpc::Status toGrpc(const Status& s) {
  using C = StatusCode;
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  switch (s.code()) {
    case C::kOk:
      return grpc::Status::OK;
    case C::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case C::kAlreadyExists:
      code = grpc::StatusCode::ALREADY_EXISTS;
      break;
    case C::kConflict:
    case C::kGone:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case C::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case C::kUnauthenticated:
      code = grpc::StatusCode::UNAUTHENTICATED;
      break;
    case C::kPermissionDenied:
      code = grpc::StatusCode::PERMISSION_DENIED;
      break;
    case C::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case C::kInternal:
      code = grpc::StatusCode::INTERNAL;
      break;
    case C::kDeadlineExceeded:
      code = grpc::StatusCode::DEADLINE_EXCEEDED;
      break;
    case C::kResourceExhausted:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
  }
  return grpc::Status(code, s.message());
}

}  // namespace skiff::common::grpc_status
