// Clock implementations and RFC 3339 formatting.
#include "common/clock.h"

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

std::optional<std::chrono::system_clock::time_point> parseRfc3339(std::string_view s) {
  std::tm tm{};
  int consumed = 0;
  std::string str(s);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return std::nullopt;
  }
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::size_t i = 19;
  std::chrono::nanoseconds frac{0};
  if (i < s.size() && s[i] == '.') {
    ++i;
    long long scale = 100000000;
    std::size_t digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      frac += std::chrono::nanoseconds((s[i] - '0') * scale);
      scale /= 10;
      ++i;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
  }
  long offsetSeconds = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int hh = 0;
    int mm = 0;
    if (std::sscanf(str.c_str() + i + 1, "%2d:%2d", &hh, &mm) != 2) return std::nullopt;
    offsetSeconds = (hh * 3600 + mm * 60) * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  std::time_t t = timegm(&tm);
  // system_clock counts nanoseconds in 64 bits (years ~1678-2262); from_time_t outside that
  // overflows (UB). Docker's "never" is 0001-01-01T00:00:00Z: no time_point for it.
  constexpr long long kLimit = 9'000'000'000LL;  // time_t may be 32 bits (armhf)
  if (static_cast<long long>(t) < -kLimit || static_cast<long long>(t) > kLimit)
    return std::nullopt;
  return std::chrono::system_clock::from_time_t(t) - std::chrono::seconds(offsetSeconds) +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(frac);
}

std::optional<std::chrono::nanoseconds> parseDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  // A bare number is seconds.
  bool bare = s.find_first_not_of("0123456789.") == std::string_view::npos;
  if (bare) {
    std::string str(s);
    char* end = nullptr;
    double v = std::strtod(str.c_str(), &end);
    if (end != str.c_str() + str.size() || !(v >= 0) || v > 1e9) return std::nullopt;
    return std::chrono::nanoseconds(static_cast<std::int64_t>(v * 1e9));
  }
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"ns", 1}, {"us", 1e3}, {"µs", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  double total = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == start) return std::nullopt;
    std::string num(s.substr(start, i - start));
    char* end = nullptr;
    double v = std::strtod(num.c_str(), &end);
    if (end != num.c_str() + num.size()) return std::nullopt;
    std::size_t ustart = i;
    while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') ++i;
    std::string_view unit = s.substr(ustart, i - ustart);
    double scale = 0;
    for (const auto& [name, f] : kUnits) {
      if (unit == name) scale = f;
    }
    if (scale == 0) return std::nullopt;
    total += v * scale;
  }
  if (total > 1e18) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(total));
}

std::string formatDuration(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  if (d == nanoseconds::zero()) return "0s";
  std::string out;
  if (d < nanoseconds::zero()) {
    out = "-";
    d = -d;
  }
  if (d < seconds(1)) {
    if (d % milliseconds(1) == nanoseconds::zero()) {
      return out + std::to_string(duration_cast<milliseconds>(d).count()) + "ms";
    }
    if (d % microseconds(1) == nanoseconds::zero()) {
      return out + std::to_string(duration_cast<microseconds>(d).count()) + "us";
    }
    return out + std::to_string(d.count()) + "ns";
  }
  auto h = duration_cast<hours>(d);
  d -= h;
  auto m = duration_cast<minutes>(d);
  d -= m;
  if (h.count() > 0) out += std::to_string(h.count()) + "h";
  if (h.count() > 0 || m.count() > 0) out += std::to_string(m.count()) + "m";
  auto ms = duration_cast<milliseconds>(d).count();
  char buf[32];
  if (ms % 1000 == 0) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(ms / 1000));
  } else {
    std::snprintf(buf, sizeof buf, "%lld.%03llds", static_cast<long long>(ms / 1000),
                  static_cast<long long>(ms % 1000));
    std::string t = buf;
    while (t.size() > 2 && t[t.size() - 2] == '0') t.erase(t.size() - 2, 1);
    return out + t;
  }
  return out + buf;
}

}  // namespace skiff::common
