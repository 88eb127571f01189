// The one Status ⇄ gRPC mapping (common/grpc/grpc_status.h): every common code survives a round
// trip through gRPC except Gone, which a gRPC peer sees as FAILED_PRECONDITION (Conflict).
#include "common/grpc/grpc_status.h"

#include <gtest/gtest.h>

namespace skiff::common::grpc_status {
namespace {

TEST(GrpcStatusTest, CommonCodesSurviveARoundTrip) {
  for (StatusCode c :
       {StatusCode::kNotFound, StatusCode::kAlreadyExists, StatusCode::kConflict,
        StatusCode::kInvalidArgument, StatusCode::kUnauthenticated, StatusCode::kPermissionDenied,
        StatusCode::kUnavailable, StatusCode::kInternal, StatusCode::kDeadlineExceeded,
        StatusCode::kResourceExhausted}) {
    grpc::Status g = toGrpc(Status(c, "why"));
    EXPECT_EQ(g.error_message(), "why");
    Status back = fromGrpc(g, "hub: why");
    EXPECT_EQ(back.code(), c) << statusCodeName(c);
    EXPECT_EQ(back.message(), "hub: why");
  }
  EXPECT_TRUE(toGrpc(Status::ok()).ok());
  EXPECT_TRUE(fromGrpc(grpc::Status::OK, "ignored").isOk());
  EXPECT_EQ(toGrpc(gone("compacted")).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(GrpcStatusTest, GrpcOnlyCodesMapToTheirNearestMeaning) {
  EXPECT_EQ(codeFromGrpc(grpc::StatusCode::ABORTED), StatusCode::kConflict);
  EXPECT_EQ(codeFromGrpc(grpc::StatusCode::OUT_OF_RANGE), StatusCode::kInvalidArgument);
  EXPECT_EQ(codeFromGrpc(grpc::StatusCode::CANCELLED), StatusCode::kUnavailable);
  EXPECT_EQ(codeFromGrpc(grpc::StatusCode::UNKNOWN), StatusCode::kInternal);
  EXPECT_EQ(codeFromGrpc(grpc::StatusCode::UNIMPLEMENTED), StatusCode::kInternal);
  EXPECT_EQ(codeFromGrpc(grpc::StatusCode::DATA_LOSS), StatusCode::kInternal);
}

}  // namespace
}  // namespace skiff::common::grpc_status
