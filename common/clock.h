// Clock seam: production code asks a Clock for time so tests can inject a ManualClock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace skiff::common {

// Thread-safe; never blocks except sleepFor.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (for timestamps shown to users).
  virtual std::chrono::system_clock::time_point now() const = 0;
  // Monotonic time (for timeouts, backoff, leases).
  virtual std::chrono::steady_clock::time_point steadyNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point steadyNow() const override {
    return std::chrono::steady_clock::now();
  }
  // Process-wide instance.
  static const SystemClock& instance();
};

// A clock that moves only when advance() is called. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point start =
                           std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)))
      : wall_(start) {}
  std::chrono::system_clock::time_point now() const override {
    std::lock_guard lock(mu_);
    return wall_;
  }
  std::chrono::steady_clock::time_point steadyNow() const override {
    std::lock_guard lock(mu_);
    return steady_;
  }
  void advance(std::chrono::nanoseconds d) {
    std::lock_guard lock(mu_);
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
    steady_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
  }

 private:
  mutable std::mutex mu_;
  std::chrono::system_clock::time_point wall_;
  std::chrono::steady_clock::time_point steady_{};
};

// RFC 3339 UTC with a trailing Z and second precision ("2026-11-23T09:22:37Z"), as Kubernetes.
std::string formatRfc3339(std::chrono::system_clock::time_point t);
// RFC 3339 with microseconds ("...T09:22:37.123456Z"), as Kubernetes MicroTime.
std::string formatRfc3339Micro(std::chrono::system_clock::time_point t);

// Parses RFC 3339 ("2026-11-23T09:22:37Z", optional fraction, "Z" or "+hh:mm" offset).
// std::nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> parseRfc3339(std::string_view s);

// Parses a Go/Kubernetes duration ("40s", "1m30s", "500ms", "2h", "1.5s"; units ns us ms s m h).
// A bare number means seconds. Negative, empty or malformed input gives std::nullopt.
std::optional<std::chrono::nanoseconds> parseDuration(std::string_view s);
// Formats a duration for logs and messages the way Go does ("1m30s", "500ms", "0s").
std::string formatDuration(std::chrono::nanoseconds d);

}  // namespace skiff::common
