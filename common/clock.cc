// Clock implementations and RFC 3339 formatting.
#include "common/clock.h"

#include <cstdio>
#include <ctime>

namespace skiff::common {

const SystemClock& SystemClock::instance() {
  static const SystemClock clock;
  return clock;
}

namespace {
std::tm toUtc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}
}  // namespace

std::string formatRfc3339(std::chrono::system_clock::time_point t) {
  std::tm tm = toUtc(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string formatRfc3339Micro(std::chrono::system_clock::time_point t) {
  std::tm tm = toUtc(t);
  auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() % 1000000;
  if (micros < 0) micros += 1000000;
  char buf[48];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06lldZ", static_cast<long long>(micros));
  return buf;
}

}  // namespace skiff::common
