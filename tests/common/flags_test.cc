#include "common/flags.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "common/fs.h"

namespace skiff::common {
namespace {

struct Cli {
  CLI::App app{"test daemon", "skiff-test"};
  CommonFlags common;
  std::string listen = "127.0.0.1:6443";
  int workers = 4;
  std::string dataDir;
  Cli() {
    addCommonFlags(app, common);
    app.add_option("--listen", listen, "address");
    app.add_option("--workers", workers, "workers")->check(CLI::Range(1, 64));
    app.add_option("--data-dir", dataDir, "state")->required();
    app.set_version_flag("--version", "skiff-test 0.1.0");
  }
  ParseOutcome parse(std::vector<std::string> args) {
    std::vector<const char*> argv{"skiff-test"};
    for (auto& a : args) argv.push_back(a.c_str());
    return parseCommandLine(app, static_cast<int>(argv.size()), argv.data());
  }
};

class FlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/skiff-flags-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string writeConfig(const std::string& text) {
    std::string p = dir_ + "/config.toml";
    EXPECT_TRUE(writeFileAtomic(p, text).isOk());
    return p;
  }
  std::string dir_;
};

TEST_F(FlagsTest, ParsesFlags) {
  Cli c;
  auto out = c.parse({"--data-dir", "/var/lib/skiff", "--workers=8", "--log-format", "json"});
  EXPECT_EQ(out.kind, ParseOutcome::Kind::kRun) << out.output;
  EXPECT_EQ(c.workers, 8);
  EXPECT_EQ(c.dataDir, "/var/lib/skiff");
  EXPECT_EQ(c.common.logFormat, "json");
  EXPECT_TRUE(applyLogging(c.common, "test").isOk());
  log::configure(log::Level::kInfo, log::Format::kText, "skiff");
}

TEST_F(FlagsTest, HelpAndVersionExitZero) {
  Cli c;
  auto help = c.parse({"--help"});
  EXPECT_EQ(help.kind, ParseOutcome::Kind::kExit);
  EXPECT_EQ(help.exitCode, 0);
  EXPECT_NE(help.output.find("--data-dir"), std::string::npos);
  Cli v;
  auto ver = v.parse({"--version"});
  EXPECT_EQ(ver.exitCode, 0);
  EXPECT_EQ(ver.output, "skiff-test 0.1.0\n");
}

TEST_F(FlagsTest, BadFlagsGiveClearErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  std::vector<Case> cases = {
      {{"--data-dir", "/x", "--bogus"}, "--bogus"},
      {{"--data-dir", "/x", "--workers", "many"}, "--workers"},
      {{"--data-dir", "/x", "--workers", "0"}, "--workers"},
      {{"--data-dir", "/x", "--log-level", "loud"}, "loud"},
      {{}, "--data-dir is required"},
      {{"--data-dir"}, "--data-dir"},
  };
  for (auto& tc : cases) {
    Cli c;
    auto out = c.parse(tc.args);
    EXPECT_EQ(out.kind, ParseOutcome::Kind::kExit);
    EXPECT_EQ(out.exitCode, 2);
    EXPECT_NE(out.output.find(tc.expect), std::string::npos) << out.output;
    EXPECT_EQ(c.workers, 4) << "a failed parse must not leave partial values behind";
  }
}

TEST_F(FlagsTest, ConfigFileSuppliesFlagsCommandLineWins) {
  std::string p = writeConfig("data-dir = \"/srv/skiff\"\nworkers = 16\nlisten = \"0.0.0.0:1\"\n");
  Cli c;
  auto out = c.parse({"--config", p, "--listen", "127.0.0.1:7000"});
  ASSERT_EQ(out.kind, ParseOutcome::Kind::kRun) << out.output;
  EXPECT_EQ(c.dataDir, "/srv/skiff");
  EXPECT_EQ(c.workers, 16);
  EXPECT_EQ(c.listen, "127.0.0.1:7000");
}

TEST_F(FlagsTest, BadConfigFilesGiveClearErrors) {
  struct Case {
    std::string text;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"data-dir = \"/x\"\nunknown-key = 3\n", "unknown-key"},
      {"data-dir = \"/x\"\nworkers = \"lots\"\n", "workers"},
      {"data-dir = \"/x\"\nworkers = 1000\n", "workers"},
  };
  for (auto& tc : cases) {
    Cli c;
    auto out = c.parse({"--config", writeConfig(tc.text)});
    EXPECT_EQ(out.exitCode, 2) << tc.text;
    EXPECT_NE(out.output.find(tc.expect), std::string::npos) << out.output;
  }
  Cli missing;
  auto out = missing.parse({"--config", dir_ + "/absent.toml"});
  EXPECT_EQ(out.exitCode, 2);
  EXPECT_NE(out.output.find("absent.toml"), std::string::npos) << out.output;
}

TEST(DurationOptionTest, ParsesGoDurationsAndNamesTheFlagOnErrors) {
  auto parse = [](std::vector<const char*> argv, std::chrono::milliseconds& target) {
    CLI::App app{"t", "t"};
    addDurationOption(app, "--every", target, "How often");
    argv.insert(argv.begin(), "t");
    return parseCommandLine(app, static_cast<int>(argv.size()), argv.data());
  };
  std::chrono::milliseconds every{30000};
  EXPECT_EQ(parse({"--every", "1m30s"}, every).kind, ParseOutcome::Kind::kRun);
  EXPECT_EQ(every, std::chrono::milliseconds(90000));
  EXPECT_EQ(parse({"--every", "250us"}, every).kind, ParseOutcome::Kind::kRun);
  EXPECT_EQ(every, std::chrono::milliseconds(1));
  for (const char* bad : {"soon", "-1s", "0s"}) {
    auto out = parse({"--every", bad}, every);
    EXPECT_EQ(out.exitCode, 2) << bad;
    EXPECT_NE(out.output.find("--every"), std::string::npos) << out.output;
  }
  CLI::App app{"t", "t"};
  std::chrono::milliseconds d{2000};
  addDurationOption(app, "--d", d, "Delay");
  EXPECT_NE(app.help().find("Delay (default 2s)"), std::string::npos) << app.help();
}

}  // namespace
}  // namespace skiff::common
