#include "common/log.h"

#include <gtest/gtest.h>

#include <sstream>
#include <thread>
#include <vector>

#include "common/json.h"

namespace skiff::common::log {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void TearDown() override { configure(Level::kInfo, Format::kText, "skiff"); }
  std::ostringstream out_;
};

TEST_F(LogTest, TextLinesCarryLevelComponentAndFields) {
  configure(Level::kInfo, Format::kText, "hub", &out_);
  info("device enrolled", {{"device", "pi-1"}, {"labels", 3}, {"note", "two words"}});
  debug("hidden");
  std::string s = out_.str();
  EXPECT_NE(s.find(" info hub device enrolled device=pi-1 labels=3 note=\"two words\"\n"),
            std::string::npos)
      << s;
  EXPECT_EQ(s.find("hidden"), std::string::npos);
}

TEST_F(LogTest, JsonLinesAreParseable) {
  configure(Level::kDebug, Format::kJson, "agent", &out_);
  warn("reconnecting", {{"attempt", 4}, {"broker", "mqtts://127.0.0.1:8883"}});
  auto j = parseJson(out_.str());
  ASSERT_TRUE(j.isOk()) << out_.str();
  EXPECT_EQ((*j)["level"], "warn");
  EXPECT_EQ((*j)["component"], "agent");
  EXPECT_EQ((*j)["msg"], "reconnecting");
  EXPECT_EQ((*j)["attempt"], 4);
  EXPECT_TRUE((*j)["ts"].get<std::string>().ends_with("Z"));
}

TEST_F(LogTest, ConcurrentLinesNeverInterleave) {
  configure(Level::kInfo, Format::kJson, "t", &out_);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([t] {
      for (int i = 0; i < 200; ++i) info("line", {{"t", t}, {"i", i}});
    });
  }
  for (auto& t : ts) t.join();
  std::istringstream in(out_.str());
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ASSERT_TRUE(parseJson(line).isOk()) << line;
    ++n;
  }
  EXPECT_EQ(n, 800);
}

TEST_F(LogTest, ParsingLevelsAndFormats) {
  EXPECT_EQ(*parseLevel("warning"), Level::kWarn);
  EXPECT_EQ(*parseFormat("json"), Format::kJson);
  auto bad = parseLevel("loud");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("unknown log level \"loud\""), std::string::npos);
  EXPECT_FALSE(parseFormat("xml").isOk());
}

}  // namespace
}  // namespace skiff::common::log
