// A token bucket: up to `burst` events at once, then one per `interval` on average. Used to
// rate-limit status pushes without delaying the first few changes of a burst (the agent's
// reports, the hub's watch streams). Not thread-safe: one owner thread.
#pragma once

#include <chrono>

namespace skiff::common {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(double burst, Clock::duration interval, Clock::time_point now = Clock::now());

  // How long until an event may happen (zero: now).
  Clock::duration delay(Clock::time_point now = Clock::now());
  // An event happened: takes `tokens` (a cheap event may take a fraction; never below zero).
  void take(Clock::time_point now = Clock::now(), double tokens = 1);

 private:
  void refill(Clock::time_point now);

  double burst_;
  Clock::duration interval_;
  double tokens_;
  Clock::time_point at_;
};

}  // namespace skiff::common
