// TokenBucket: a burst goes out at once, then one event per interval; idle time refills up to
// the burst, never beyond.
#include "common/token_bucket.h"

#include <gtest/gtest.h>

namespace skiff::common {
namespace {

using namespace std::chrono_literals;
using Clock = TokenBucket::Clock;

TEST(TokenBucketTest, BurstThenOnePerInterval) {
  Clock::time_point t0{};
  TokenBucket b(3, 100ms, t0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(b.delay(t0), Clock::duration::zero()) << i;
    b.take(t0);
  }
  auto d = b.delay(t0);
  EXPECT_GE(d, 100ms);
  EXPECT_LE(d, 101ms);
  EXPECT_GT(b.delay(t0 + 50ms), Clock::duration::zero());
  EXPECT_EQ(b.delay(t0 + 100ms), Clock::duration::zero());
  b.take(t0 + 100ms);
  EXPECT_GE(b.delay(t0 + 100ms), 99ms);
}

TEST(TokenBucketTest, CheapEventsTakeAFraction) {
  Clock::time_point t0{};
  TokenBucket b(2, 100ms, t0);
  b.take(t0);
  b.take(t0, 0.2);
  // 0.8 left: the next event waits for a fifth of an interval, not a whole one.
  auto d = b.delay(t0);
  EXPECT_GE(d, 20ms);
  EXPECT_LE(d, 21ms);
  b.take(t0 + 20ms, 0.2);
  EXPECT_GE(b.delay(t0 + 20ms), 20ms);
  EXPECT_EQ(b.delay(t0 + 40ms), Clock::duration::zero());
}

TEST(TokenBucketTest, IdleRefillsUpToTheBurstOnly) {
  Clock::time_point t0{};
  TokenBucket b(2, 100ms, t0);
  b.take(t0);
  b.take(t0);
  // An hour idle gives back 2 tokens, not 36000.
  auto later = t0 + 1h;
  b.take(later);
  b.take(later);
  EXPECT_GT(b.delay(later), Clock::duration::zero());
  // Taking beyond empty does not go into debt.
  b.take(later);
  EXPECT_LE(b.delay(later), 101ms);
}

TEST(TokenBucketTest, ClockGoingBackwardsChangesNothing) {
  Clock::time_point t0 = Clock::time_point{} + 1h;
  TokenBucket b(1, 100ms, t0);
  b.take(t0);
  EXPECT_GT(b.delay(t0 - 1s), Clock::duration::zero());
  EXPECT_EQ(b.delay(t0 + 100ms), Clock::duration::zero());
}

}  // namespace
}  // namespace skiff::common
