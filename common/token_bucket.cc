#include "common/token_bucket.h"

#include <algorithm>

namespace skiff::common {

TokenBucket::TokenBucket(double burst, Clock::duration interval, Clock::time_point now)
    : burst_(std::max(1.0, burst)),
      interval_(std::max(interval, Clock::duration(1))),
      tokens_(burst_),
      at_(now) {}

void TokenBucket::refill(Clock::time_point now) {
  if (now <= at_) return;
  double gained = std::chrono::duration<double>(now - at_) / interval_;
  tokens_ = std::min(burst_, tokens_ + gained);
  at_ = now;
}

TokenBucket::Clock::duration TokenBucket::delay(Clock::time_point now) {
  refill(now);
  if (tokens_ >= 1) return Clock::duration::zero();
  return std::chrono::duration_cast<Clock::duration>((1 - tokens_) * interval_) +
         Clock::duration(1);
}

void TokenBucket::take(Clock::time_point now, double tokens) {
  refill(now);
  tokens_ = std::max(0.0, tokens_ - tokens);
}

}  // namespace skiff::common
