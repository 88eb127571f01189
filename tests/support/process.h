// Process plumbing for real-peer test fixtures: temp dirs, loopback ports, readiness polling and
// a Subprocess that runs a peer (mosquitto, etcd, podman, …) in its own process group with its
// output in a log file, and that is always stopped (SIGTERM, then SIGKILL) and reaped.
//
// Children are exec'd (execve of the findProgram() path, argv/envp built before fork) with
// PR_SET_PDEATHSIG(SIGKILL): if the test binary dies, the kernel kills the peers too. The death
// signal is tied to the forking *thread*, so fixtures must be created on a thread that outlives
// them (the gtest main thread is).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace skiff::test {

using common::Result;
using common::Status;

// A fresh directory (mkdtemp under $TMPDIR or /tmp) removed recursively by the destructor, unless
// the environment sets SKIFF_KEEP_TEST_DIRS=1 (then its path is printed to stderr instead).
class TempDir {
 public:
  // prefix becomes part of the name: "<tmp>/skiff-<prefix>-XXXXXX".
  static Result<TempDir> create(std::string_view prefix = "test");
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + relative.
  std::string file(std::string_view relative) const;

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  void remove();
  std::string path_;
};

// True when SKIFF_KEEP_TEST_DIRS=1.
bool keepTestDirs();

// Absolute path of an executable: name is looked up in $PATH and then /usr/sbin, /sbin (peers such
// as mosquitto live there). NotFound names the Debian package that ships it when known.
Result<std::string> findProgram(std::string_view name);

// A currently unused TCP port on 127.0.0.1 (binds port 0, reads it, closes). Racy by nature, but
// the kernel hands out ephemeral ports round-robin so a reuse within a test is unlikely.
Result<int> freeLoopbackPort();

// Polls pred every interval until it returns true; DeadlineExceeded("<what> ...") after timeout.
Status waitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                 std::string_view what = "condition",
                 std::chrono::milliseconds interval = std::chrono::milliseconds(20));

// `eventually(pred)`: true once pred holds, polling every `interval`; false after `timeout` (or
// the timeout given to the call). A test file or fixture configures one for its pace, e.g.
// `const test::Eventually eventually{15s};`, then writes EXPECT_TRUE(eventually([&] {...})).
struct Eventually {
  std::chrono::milliseconds timeout;
  std::chrono::milliseconds interval = std::chrono::milliseconds(20);
  bool operator()(const std::function<bool()>& pred) const {
    return waitUntil(pred, timeout, "condition", interval).isOk();
  }
  bool operator()(const std::function<bool()>& pred, std::chrono::milliseconds t) const {
    return waitUntil(pred, t, "condition", interval).isOk();
  }
};

// True if a TCP connect to 127.0.0.1:port succeeds right now.
bool tcpConnects(int port);

// Waits until a TCP connect to 127.0.0.1:port succeeds.
Status waitForTcp(int port, std::chrono::milliseconds timeout);

// Last maxBytes of a (log) file, or "" if it cannot be read. For failure messages.
std::string fileTail(const std::string& path, std::size_t maxBytes = 8192);

struct SubprocessOptions {
  std::vector<std::string> argv;           // argv[0] is resolved with findProgram()
  std::map<std::string, std::string> env;  // added to / overriding the inherited environment
  std::string logFile;                     // stdout+stderr; required
  std::string workDir;                     // empty: inherit
};

// A running child process. Movable; the destructor calls stop().
class Subprocess {
 public:
  static Result<Subprocess> start(SubprocessOptions opts);
  ~Subprocess();
  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // SIGTERM to the whole process group, SIGKILL after grace, then reaps. Idempotent; returns the
  // exit code (128+signal when killed by a signal), or -1 if it was already stopped earlier.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // Sends a signal to the process group (e.g. SIGSTOP to simulate a hung peer).
  Status signal(int sig) const;
  pid_t pid() const { return pid_; }
  // Non-blocking. Once the child has exited, exitCode() is set; the zombie is only reaped by
  // stop(), so the process group id cannot be reused while this object still signals it.
  bool isRunning();
  std::optional<int> exitCode() const { return exitCode_; }
  const std::string& logFile() const { return logFile_; }
  std::string logContents() const;

 private:
  Subprocess(pid_t pid, std::string logFile) : pid_(pid), logFile_(std::move(logFile)) {}
  pid_t pid_ = -1;
  std::optional<int> exitCode_;
  std::string logFile_;
};

// Polls probe until it returns true, failing fast (Unavailable, with the log tail) if proc exits
// first and with DeadlineExceeded (also with the log tail) after timeout. what names the peer.
Status waitForReady(Subprocess& proc, const std::function<bool()>& probe,
                    std::chrono::milliseconds timeout, std::string_view what);

struct CommandResult {
  int exitCode = -1;   // 128+signal when killed by a signal
  std::string output;  // stdout and stderr interleaved
};

// Runs a short-lived command to completion (own process group, PDEATHSIG, stdin /dev/null).
// DeadlineExceeded (after killing the group) if it takes longer than timeout. A non-zero exit is
// not an error here: inspect exitCode.
Result<CommandResult> runCommand(const std::vector<std::string>& argv,
                                 const std::map<std::string, std::string>& env = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(60));

// runCommand, and Internal("<argv> exited with N: <output>") unless the exit code is 0.
Result<std::string> runCommandOk(const std::vector<std::string>& argv,
                                 const std::map<std::string, std::string>& env = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace skiff::test
