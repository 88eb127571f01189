// Self-test of the process helpers: process-group stop, runCommand, TempDir, ports, lookups.
#include "tests/support/process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

#include "common/fs.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using namespace std::chrono_literals;

// Running (not gone, not a zombie: orphans are reaped by PID 1, which may take its time).
bool pidAlive(pid_t pid) {
  std::string stat = common::readFile("/proc/" + std::to_string(pid) + "/stat").valueOr("");
  return !stat.empty() && stat.find(") Z ") == std::string::npos;
}

TEST(ProcessTest, StopKillsTheWholeProcessGroup) {
  SKIFF_ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::create("proc"));
  SubprocessOptions so;
  // The grandchild's pid lands in the log; the shell ignores SIGTERM so SIGKILL is needed.
  so.argv = {"sh", "-c", "trap '' TERM; sleep 100 & echo child=$!; echo $GREETING; wait"};
  so.env = {{"GREETING", "hi-from-env"}};
  so.logFile = dir.file("log");
  SKIFF_ASSERT_OK_AND_ASSIGN(Subprocess proc, Subprocess::start(so));
  EXPECT_TRUE(proc.isRunning());
  SKIFF_ASSERT_OK(waitUntil(
      [&] { return proc.logContents().find("hi-from-env") != std::string::npos; }, 5s, "output"));
  std::string log = proc.logContents();
  pid_t child = std::stoi(log.substr(log.find("child=") + 6));
  EXPECT_TRUE(pidAlive(child));
  int code = proc.stop(200ms);
  EXPECT_EQ(code, 128 + SIGKILL);
  EXPECT_FALSE(proc.isRunning());
  // The grandchild was SIGKILLed too.
  SKIFF_EXPECT_OK(waitUntil([&] { return !pidAlive(child); }, 2s, "grandchild gone"));
  EXPECT_EQ(proc.stop(), -1);  // idempotent
}

TEST(ProcessTest, ExitCodeOfFinishedProcess) {
  SKIFF_ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::create("proc"));
  SKIFF_ASSERT_OK_AND_ASSIGN(Subprocess proc,
                             Subprocess::start({{"sh", "-c", "exit 3"}, {}, dir.file("log"), ""}));
  SKIFF_ASSERT_OK(waitUntil([&] { return !proc.isRunning(); }, 5s, "exit"));
  EXPECT_EQ(proc.exitCode(), 3);
  EXPECT_EQ(proc.stop(), 3);
}

TEST(ProcessTest, RunCommand) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto r, runCommand({"sh", "-c", "echo out; echo err >&2; exit 7"}));
  EXPECT_EQ(r.exitCode, 7);
  EXPECT_NE(r.output.find("out"), std::string::npos);
  EXPECT_NE(r.output.find("err"), std::string::npos);
  EXPECT_FALSE(runCommandOk({"false"}).isOk());
  SKIFF_ASSERT_OK_AND_ASSIGN(auto ok, runCommandOk({"echo", "fine"}));
  EXPECT_EQ(ok, "fine\n");
  auto slow = runCommand({"sleep", "10"}, {}, 200ms);
  ASSERT_FALSE(slow.isOk());
  EXPECT_EQ(slow.status().code(), common::StatusCode::kDeadlineExceeded);
  // A background grandchild holding the pipe does not make runCommand wait for it.
  auto start = std::chrono::steady_clock::now();
  SKIFF_ASSERT_OK_AND_ASSIGN(auto bg, runCommand({"sh", "-c", "sleep 30 & echo started"}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(bg.output, "started\n");
}

TEST(ProcessTest, FindProgram) {
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string sh, findProgram("sh"));
  EXPECT_EQ(sh.front(), '/');
  SKIFF_EXPECT_OK(findProgram("mosquitto"));  // in /usr/sbin, maybe not in PATH
  auto missing = findProgram("skiff-no-such-peer");
  ASSERT_FALSE(missing.isOk());
  EXPECT_EQ(missing.status().code(), common::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("skiff-no-such-peer"), std::string::npos);
  auto failedStart = Subprocess::start({{"skiff-no-such-peer"}, {}, "/dev/null", ""});
  EXPECT_FALSE(failedStart.isOk());
}

TEST(ProcessTest, TempDirIsRemoved) {
  std::string path;
  {
    SKIFF_ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::create("tmp"));
    path = dir.path();
    SKIFF_ASSERT_OK(common::makeDirs(dir.file("a/b")));
    SKIFF_ASSERT_OK(common::writeFileAtomic(dir.file("a/b/f"), "x"));
    TempDir moved = std::move(dir);
    EXPECT_EQ(moved.path(), path);
  }
  if (!keepTestDirs()) {
    EXPECT_FALSE(std::filesystem::exists(path));
  }
}

TEST(ProcessTest, PortsAndTcpWait) {
  SKIFF_ASSERT_OK_AND_ASSIGN(int port, freeLoopbackPort());
  EXPECT_GT(port, 0);
  EXPECT_FALSE(tcpConnects(port));
  auto s = waitForTcp(port, 100ms);
  EXPECT_EQ(s.code(), common::StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace skiff::test
