// skiff-agent's command line: bad flags, values, config files and subcommand misuse exit 2 with a
// message naming the problem; a device that is not enrolled exits 1 saying how to enroll.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/fs.h"
#include "tests/support/process.h"

namespace skiff::test {
namespace {

CommandResult agent(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {SKIFF_AGENT_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runCommand(argv, {}, std::chrono::seconds(30));
  EXPECT_TRUE(r.isOk()) << r.status();
  return r.isOk() ? *r : CommandResult{};
}

void expectUsageError(const std::vector<std::string>& args, const std::string& mentions) {
  CommandResult r = agent(args);
  EXPECT_EQ(r.exitCode, 2) << r.output;
  EXPECT_NE(r.output.find(mentions), std::string::npos)
      << "expected \"" << mentions << "\" in " << r.output;
}

TEST(AgentCliTest, BadFlagsAndConfigExitTwoNamingTheProblem) {
  expectUsageError({"--state-dir", "/tmp/s", "--engine", "docker.sock"}, "--engine");
  expectUsageError({"--state-dir", "relative/dir"}, "--state-dir");
  expectUsageError({"--state-dir", "/tmp/s", "--mqtt-url", "http://broker:1883"}, "--mqtt-url");
  expectUsageError({"--state-dir", "/tmp/s", "--sync-interval", "soon"}, "--sync-interval");
  expectUsageError({"--state-dir", "/tmp/s", "--workers", "0"}, "--workers");
  expectUsageError({"--state-dir", "/tmp/s", "--crash-loop-backoff", "10m"},
                   "--crash-loop-backoff");
  expectUsageError({"frobnicate"}, "frobnicate");
  expectUsageError({"enroll", "--token", "t", "--insecure-skip-tls-verify-for-enroll"}, "--hub");
  expectUsageError({"enroll", "--hub", "http://hub:8443", "--token", "t",
                    "--insecure-skip-tls-verify-for-enroll"},
                   "--hub must be an https:// URL");
  expectUsageError({"enroll", "--hub", "https://hub:8443", "--token", "t"}, "exactly one of");
  expectUsageError({"enroll", "--hub", "https://hub:8443", "--token", "t", "--ca-sha256", "xyz"},
                   "--ca-sha256");

  auto dir = TempDir::create("agent-cli");
  ASSERT_TRUE(dir.isOk());
  std::string cfg = dir->file("agent.toml");
  ASSERT_TRUE(common::writeFileAtomic(cfg, "state-dir = \"/tmp/s\"\nengnie = \"/x\"\n").isOk());
  expectUsageError({"--config", cfg}, "engnie");
  ASSERT_TRUE(common::writeFileAtomic(cfg, "state-dir = \"/tmp/s\"\nheartbeat-interval = \"-1s\"\n")
                  .isOk());
  expectUsageError({"--config", cfg}, "--heartbeat-interval");
  expectUsageError({"--config", dir->file("missing.toml")}, "missing.toml");

  // Valid flags, not enrolled: a runtime error (exit 1) that says what to do.
  CommandResult r = agent({"--state-dir", dir->file("state"), "run"});
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("skiff-agent enroll"), std::string::npos) << r.output;
  // Nothing is created for a device that is not enrolled... except the state directory itself.
  EXPECT_FALSE(std::filesystem::exists(dir->file("state/desired.json")));
}

}  // namespace
}  // namespace skiff::test
