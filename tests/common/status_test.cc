#include "common/status.h"

#include <gtest/gtest.h>

namespace skiff::common {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return invalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> quarter(int x) {
  SKIFF_ASSIGN_OR_RETURN(int h, half(x));
  SKIFF_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

Status checkPositive(int x) {
  if (x <= 0) return invalidArgument("not positive");
  return Status::ok();
}

Status both(int a, int b) {
  SKIFF_RETURN_IF_ERROR(checkPositive(a));
  SKIFF_RETURN_IF_ERROR(checkPositive(b));
  return Status::ok();
}

TEST(StatusTest, OkAndErrorsFormat) {
  EXPECT_TRUE(Status::ok().isOk());
  EXPECT_EQ(Status::ok().toString(), "Ok");
  Status s = notFound("pod default/x");
  EXPECT_FALSE(s.isOk());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.toString(), "NotFound: pod default/x");
  EXPECT_EQ(s.withContext("get").message(), "get: pod default/x");
  EXPECT_EQ(s.withContext("get").code(), StatusCode::kNotFound);
}

TEST(StatusTest, EveryCodeHasAName) {
  for (int c = 0; c <= static_cast<int>(StatusCode::kGone); ++c) {
    EXPECT_NE(statusCodeName(static_cast<StatusCode>(c)), "Unknown") << c;
  }
  EXPECT_EQ(conflict("x").code(), StatusCode::kConflict);
  EXPECT_EQ(alreadyExists("x").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(unauthenticated("x").code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(permissionDenied("x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(unavailable("x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(internalError("x").code(), StatusCode::kInternal);
  EXPECT_EQ(gone("x").code(), StatusCode::kGone);
}

TEST(ResultTest, ValueAndErrorPropagation) {
  auto r = quarter(8);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(*r, 2);
  auto bad = quarter(6);
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "odd: 3");
  EXPECT_EQ(bad.valueOr(-1), -1);
  EXPECT_TRUE(both(1, 2).isOk());
  EXPECT_EQ(both(1, -2).message(), "not positive");
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r);
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

}  // namespace
}  // namespace skiff::common
