// Every binary: --help/--version exit 0; bad flags, bad values and bad config files exit 2 with a
// message naming the problem.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/fs.h"

namespace {

struct ProcResult {
  int exitCode;
  std::string output;
};

ProcResult run(const std::string& cmd) {
  ProcResult r{-1, ""};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int st = ::pclose(p);
  r.exitCode = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

struct Binary {
  const char* path;
  const char* name;
  const char* validArgs;
};

const Binary kBinaries[] = {
    {CONTROL_PLANE_BIN, "skiff-control-plane", "--data-dir /tmp/x"},
    {HUB_BIN, "skiff-hub", "--data-dir /tmp/x"},
    {VIRTUAL_NODE_BIN, "skiff-virtual-node", "--kubeconfig /tmp/k"},
    {AGENT_BIN, "skiff-agent", "--state-dir /tmp/s"},
};

TEST(CliTest, HelpAndVersion) {
  for (const auto& b : kBinaries) {
    ProcResult h = run(std::string(b.path) + " --help");
    EXPECT_EQ(h.exitCode, 0) << b.name << h.output;
    EXPECT_NE(h.output.find("--log-level"), std::string::npos) << b.name;
    ProcResult v = run(std::string(b.path) + " --version");
    EXPECT_EQ(v.exitCode, 0) << b.name;
    EXPECT_EQ(v.output, std::string(b.name) + " " SKIFF_TEST_VERSION "\n");
  }
}

TEST(CliTest, BadFlagsExitTwoWithMessage) {
  for (const auto& b : kBinaries) {
    std::string base = std::string(b.path) + " " + b.validArgs;
    ProcResult unknown = run(base + " --no-such-flag");
    EXPECT_EQ(unknown.exitCode, 2) << b.name;
    EXPECT_NE(unknown.output.find("--no-such-flag"), std::string::npos) << unknown.output;
    ProcResult level = run(base + " --log-level=chatty");
    EXPECT_EQ(level.exitCode, 2) << b.name;
    EXPECT_NE(level.output.find("chatty"), std::string::npos) << level.output;
  }
  ProcResult addr = run(std::string(CONTROL_PLANE_BIN) + " --data-dir /tmp/x --listen nowhere");
  EXPECT_EQ(addr.exitCode, 2);
  EXPECT_NE(addr.output.find("--listen: invalid address \"nowhere\""), std::string::npos)
      << addr.output;
  ProcResult store = run(std::string(CONTROL_PLANE_BIN) + " --data-dir /tmp/x --store mysql://db");
  EXPECT_EQ(store.exitCode, 2);
  EXPECT_NE(store.output.find("--store must be"), std::string::npos) << store.output;
  ProcResult mqtt = run(std::string(HUB_BIN) + " --data-dir /tmp/x --mqtt http://b");
  EXPECT_EQ(mqtt.exitCode, 2);
  EXPECT_NE(mqtt.output.find("--mqtt must be"), std::string::npos) << mqtt.output;
  ProcResult kube = run(std::string(VIRTUAL_NODE_BIN));
  EXPECT_EQ(kube.exitCode, 2);
  EXPECT_NE(kube.output.find("--kubeconfig is required"), std::string::npos) << kube.output;
}

TEST(CliTest, BadConfigFilesExitTwoWithMessage) {
  char tmpl[] = "/tmp/skiff-cli-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string cfg = dir + "/cp.toml";
  ASSERT_TRUE(skiff::common::writeFileAtomic(cfg, "listen = \"127.0.0.1:x\"\n").isOk());
  ProcResult bad = run(std::string(CONTROL_PLANE_BIN) + " --data-dir /tmp/x --config " + cfg);
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_NE(bad.output.find("invalid address"), std::string::npos) << bad.output;
  ASSERT_TRUE(skiff::common::writeFileAtomic(cfg, "data-dir = \"/x\"\ntypo-key = 1\n").isOk());
  ProcResult extra = run(std::string(CONTROL_PLANE_BIN) + " --config " + cfg);
  EXPECT_EQ(extra.exitCode, 2);
  EXPECT_NE(extra.output.find("typo-key"), std::string::npos) << extra.output;
  ProcResult missing = run(std::string(HUB_BIN) + " --config " + dir + "/missing.toml");
  EXPECT_EQ(missing.exitCode, 2);
  EXPECT_NE(missing.output.find("missing.toml"), std::string::npos) << missing.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
