// gtest helpers for common::Status / Result<T>: fail with the status text instead of "false".
#pragma once

#include <gtest/gtest.h>

#include <utility>

#include "common/status.h"

namespace skiff::test {

inline common::Status statusOf(const common::Status& s) { return s; }
template <typename T>
common::Status statusOf(const common::Result<T>& r) {
  return r.status();
}

}  // namespace skiff::test

// SKIFF_ASSERT_OK(expr) / SKIFF_EXPECT_OK(expr): expr is a Status or a Result<T>.
#define SKIFF_ASSERT_OK(expr)                                                      \
  do {                                                                             \
    const ::skiff::common::Status skiff_assert_s_ = ::skiff::test::statusOf(expr); \
    ASSERT_TRUE(skiff_assert_s_.isOk()) << skiff_assert_s_;                        \
  } while (0)

#define SKIFF_EXPECT_OK(expr)                                                      \
  do {                                                                             \
    const ::skiff::common::Status skiff_expect_s_ = ::skiff::test::statusOf(expr); \
    EXPECT_TRUE(skiff_expect_s_.isOk()) << skiff_expect_s_;                        \
  } while (0)

// SKIFF_ASSERT_OK_AND_ASSIGN(auto x, resultExpr): binds the value or fails the test (returns).
#define SKIFF_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  SKIFF_ASSERT_OK_AND_ASSIGN_IMPL_(SKIFF_CONCAT_(skiff_assert_result_, __LINE__), lhs, expr)
#define SKIFF_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                     \
  ASSERT_TRUE(tmp.isOk()) << tmp.status();               \
  lhs = std::move(tmp).value()
