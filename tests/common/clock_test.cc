#include "common/clock.h"

#include <gtest/gtest.h>

namespace skiff::common {
namespace {

using namespace std::chrono_literals;

TEST(ClockTest, ManualClockMovesOnlyWhenAdvanced) {
  ManualClock c;
  auto w = c.now();
  auto s = c.steadyNow();
  EXPECT_EQ(c.now(), w);
  c.advance(90s);
  EXPECT_EQ(c.now() - w, 90s);
  EXPECT_EQ(c.steadyNow() - s, 90s);
}

TEST(ClockTest, SystemClockIsMonotonic) {
  const Clock& c = SystemClock::instance();
  auto a = c.steadyNow();
  auto b = c.steadyNow();
  EXPECT_LE(a, b);
}

TEST(ClockTest, Rfc3339Formatting) {
  std::chrono::system_clock::time_point t{std::chrono::seconds(1700000000)};
  EXPECT_EQ(formatRfc3339(t), "2023-11-14T22:13:20Z");
  EXPECT_EQ(formatRfc3339Micro(t + 1234us), "2023-11-14T22:13:20.001234Z");
}

TEST(ClockTest, Rfc3339Parsing) {
  std::chrono::system_clock::time_point t{std::chrono::seconds(1700000000)};
  EXPECT_EQ(parseRfc3339("2023-11-14T22:13:20Z"), t);
  EXPECT_EQ(parseRfc3339("2023-11-14T22:13:20.001234Z"), t + 1234us);
  EXPECT_EQ(parseRfc3339("2023-11-14T23:13:20+01:00"), t);
  EXPECT_EQ(parseRfc3339(formatRfc3339Micro(t + 5us)), t + 5us);
  for (const char* bad : {"", "2023-11-14", "2023-11-14T22:13:20", "2023-13-14T22:13:20Z",
                          "2023-11-14T22:13:20Zjunk", "2023-11-14T22:13:20.Z", "garbage"}) {
    EXPECT_FALSE(parseRfc3339(bad).has_value()) << bad;
  }
  // Outside system_clock's range (Docker's "never" is year 1): no time point, and no overflow.
  EXPECT_FALSE(parseRfc3339("0001-01-01T00:00:00Z").has_value());
  EXPECT_FALSE(parseRfc3339("9999-12-31T23:59:59Z").has_value());
  EXPECT_TRUE(parseRfc3339("1970-01-01T00:00:00Z").has_value());
}

TEST(ClockTest, ParsesGoDurations) {
  EXPECT_EQ(parseDuration("40s"), 40s);
  EXPECT_EQ(parseDuration("1m30s"), 90s);
  EXPECT_EQ(parseDuration("500ms"), 500ms);
  EXPECT_EQ(parseDuration("1.5s"), 1500ms);
  EXPECT_EQ(parseDuration("2h"), 2h);
  EXPECT_EQ(parseDuration("250us"), 250us);
  EXPECT_EQ(parseDuration("7"), 7s);
  EXPECT_EQ(parseDuration("0"), 0s);
  for (const char* bad : {"", "s", "10x", "-5s", "1..2s", "5 s", "abc", "1e3s", "10s5"}) {
    EXPECT_FALSE(parseDuration(bad).has_value()) << bad;
  }
}

TEST(ClockTest, FormatsDurationsLikeGo) {
  EXPECT_EQ(formatDuration(0s), "0s");
  EXPECT_EQ(formatDuration(40s), "40s");
  EXPECT_EQ(formatDuration(90s), "1m30s");
  EXPECT_EQ(formatDuration(500ms), "500ms");
  EXPECT_EQ(formatDuration(1500ms), "1.5s");
  EXPECT_EQ(formatDuration(2h), "2h0m0s");
}

}  // namespace
}  // namespace skiff::common
