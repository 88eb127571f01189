// Certificate renewal timing (edge_agent/enrollment.h).
#include "edge_agent/enrollment.h"

#include <gtest/gtest.h>

namespace skiff::edge_agent {
namespace {

using namespace std::chrono_literals;

TEST(RenewalTest, DueWhenLessThanAThirdRemains) {
  auto t0 = std::chrono::system_clock::time_point(std::chrono::hours(1000));
  auto end = t0 + 90 * 24h;
  EXPECT_FALSE(renewalDue(t0, end, t0 + 59 * 24h));
  EXPECT_TRUE(renewalDue(t0, end, t0 + 61 * 24h));
  EXPECT_TRUE(renewalDue(t0, end, end + 1h));
}

}  // namespace
}  // namespace skiff::edge_agent
