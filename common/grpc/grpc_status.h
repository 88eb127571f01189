// The one mapping between common::Status codes and gRPC status codes, used at every gRPC edge:
// the hub's service (toGrpc), its clients — the edge provider and skiffctl — and the etcd store
// (fromGrpc). docs/conventions.md #3.
#pragma once

#include <string>

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace skiff::common::grpc_status {

// The common code a gRPC status code stands for: FAILED_PRECONDITION and ABORTED are Conflict,
// OUT_OF_RANGE is InvalidArgument, CANCELLED is Unavailable, codes without an equivalent are
// Internal.
StatusCode codeFromGrpc(grpc::StatusCode code);
// s as a Status with `message` (the caller says whose call failed); Ok for an OK s.
Status fromGrpc(const grpc::Status& s, std::string message);
// The gRPC status for s (Conflict and Gone are FAILED_PRECONDITION), with s's message.
grpc::Status toGrpc(const Status& s);

}  // namespace skiff::common::grpc_status
