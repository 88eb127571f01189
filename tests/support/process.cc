// Subprocess, TempDir and readiness helpers. Everything the child runs between fork() and exec()
// is async-signal-safe (argv/envp are built before fork) because Paho and libcurl threads may be
// running in the test process.
#include "tests/support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/fs.h"

extern char** environ;

namespace skiff::test {

namespace {

using Clock = std::chrono::steady_clock;

std::string errnoText(int e) { return std::strerror(e); }

// argv/envp as NUL-terminated char* arrays that stay valid across fork().
struct ExecSpec {
  std::string path;
  std::vector<std::string> argvStore;
  std::vector<std::string> envStore;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

Result<ExecSpec> prepareExec(const std::vector<std::string>& argv,
                             const std::map<std::string, std::string>& env) {
  if (argv.empty()) return common::invalidArgument("empty argv");
  SKIFF_ASSIGN_OR_RETURN(std::string path, findProgram(argv[0]));
  ExecSpec spec;
  spec.path = std::move(path);
  spec.argvStore = argv;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    std::string key(kv.substr(0, kv.find('=')));
    if (env.count(key) == 0) spec.envStore.emplace_back(kv);
  }
  for (const auto& [k, v] : env) spec.envStore.push_back(k + "=" + v);
  for (auto& s : spec.argvStore) spec.argv.push_back(s.data());
  spec.argv.push_back(nullptr);
  for (auto& s : spec.envStore) spec.envp.push_back(s.data());
  spec.envp.push_back(nullptr);
  return spec;
}

void childWriteError(const char* what) {
  const char* msg = std::strerror(errno);  // not strictly async-signal-safe, but glibc's is
  (void)!::write(2, "skiff-test: ", 12);
  (void)!::write(2, what, std::strlen(what));
  (void)!::write(2, ": ", 2);
  (void)!::write(2, msg, std::strlen(msg));
  (void)!::write(2, "\n", 1);
}

// Forks a child in its own process group with stdin=inFd, stdout=stderr=outFd.
Result<pid_t> spawn(const ExecSpec& spec, int inFd, int outFd, const std::string& workDir) {
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return common::unavailable("fork: " + errnoText(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // parent died before prctl took effect
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    if (::dup2(inFd, 0) < 0 || ::dup2(outFd, 1) < 0 || ::dup2(outFd, 2) < 0) ::_exit(127);
    if (!workDir.empty() && ::chdir(workDir.c_str()) != 0) {
      childWriteError("chdir");
      ::_exit(127);
    }
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::execve(spec.path.c_str(), spec.argv.data(), spec.envp.data());
    childWriteError(spec.path.c_str());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so kill(-pid) works immediately
  return pid;
}

// Without reaping: has pid exited? Sets *code (exit code or 128+signal) when it has.
bool hasExited(pid_t pid, int* code) {
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno == ECHILD) {
      *code = -1;
      return true;
    }
    return false;
  }
  if (info.si_pid != pid) return false;
  *code = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
  return true;
}

// Kills whatever is left of the group and reaps the (zombie) leader.
int killGroupAndReap(pid_t pid) {
  ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

std::string joinArgv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

const std::map<std::string, std::string>& debianPackages() {
  static const auto* packages = new std::map<std::string, std::string>{
      {"mosquitto", "mosquitto"},
      {"mosquitto_pub", "mosquitto-clients"},
      {"mosquitto_sub", "mosquitto-clients"},
      {"etcd", "etcd-server"},
      {"etcdctl", "etcd-client"},
      {"docker-registry", "docker-registry"},
      {"skopeo", "skopeo"},
      {"umoci", "umoci"},
      {"busybox", "busybox-static"},
      {"podman", "podman"},
      {"runc", "runc"},
  };
  return *packages;
}

}  // namespace

// ---- TempDir ----

bool keepTestDirs() {
  const char* v = std::getenv("SKIFF_KEEP_TEST_DIRS");
  return v != nullptr && std::string_view(v) == "1";
}

Result<TempDir> TempDir::create(std::string_view prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/skiff-" +
                     std::string(prefix) + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return common::unavailable("mkdtemp " + tmpl + ": " + errnoText(errno));
  }
  return TempDir(std::move(tmpl));
}

TempDir::~TempDir() { remove(); }

TempDir::TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

std::string TempDir::file(std::string_view relative) const {
  return path_ + "/" + std::string(relative);
}

void TempDir::remove() {
  if (path_.empty()) return;
  if (keepTestDirs()) {
    std::cerr << "[skiff-test] keeping " << path_ << "\n";
  } else {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    if (ec) std::cerr << "[skiff-test] could not remove " << path_ << ": " << ec.message() << "\n";
  }
  path_.clear();
}

// ---- lookups and polling ----

Result<std::string> findProgram(std::string_view name) {
  if (name.empty()) return common::invalidArgument("empty program name");
  auto executable = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.find('/') != std::string_view::npos) {
    if (executable(std::string(name))) return std::string(name);
    return common::notFound("program " + std::string(name) + " is not an executable file");
  }
  const char* pathEnv = std::getenv("PATH");
  std::string dirs = std::string(pathEnv != nullptr ? pathEnv : "") + ":/usr/sbin:/sbin:/usr/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (!dir.empty()) {
      std::string candidate = dir + "/" + std::string(name);
      if (executable(candidate)) return candidate;
    }
    start = end + 1;
  }
  std::string msg = "test peer '" + std::string(name) + "' not found in PATH or /usr/sbin";
  auto it = debianPackages().find(std::string(name));
  if (it != debianPackages().end()) {
    msg += "; install it with: apt-get install -y --no-install-recommends " + it->second;
  }
  return common::notFound(msg);
}

Result<int> freeLoopbackPort() {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return common::unavailable("socket: " + errnoText(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return common::unavailable("bind 127.0.0.1:0: " + errnoText(errno));
  }
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return common::unavailable("getsockname: " + errnoText(errno));
  }
  return static_cast<int>(ntohs(addr.sin_port));
}

Status waitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                 std::string_view what, std::chrono::milliseconds interval) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pred()) return Status::ok();
    if (Clock::now() >= deadline) {
      return common::deadlineExceeded(std::string(what) + " not reached within " +
                                      std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(interval);
  }
}

bool tcpConnects(int port) {
  // Non-blocking, at most 500 ms: a SYN the kernel drops (a listener's full queue on a loaded
  // machine) must not hold a readiness probe in connect()'s own retries (~2 minutes), past the
  // deadline of the wait that called it; the next probe tries again.
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd p{fd.get(), POLLOUT, 0};
  if (::poll(&p, 1, 500) != 1) return false;
  int err = 0;
  socklen_t len = sizeof err;
  return ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

Status waitForTcp(int port, std::chrono::milliseconds timeout) {
  return waitUntil([port] { return tcpConnects(port); }, timeout,
                   "TCP 127.0.0.1:" + std::to_string(port) + " accepting");
}

std::string fileTail(const std::string& path, std::size_t maxBytes) {
  auto content = common::readFile(path);
  if (!content.isOk()) return "";
  const std::string& s = content.value();
  if (s.size() <= maxBytes) return s;
  return "…" + s.substr(s.size() - maxBytes);
}

// ---- Subprocess ----

Result<Subprocess> Subprocess::start(SubprocessOptions opts) {
  if (opts.logFile.empty()) return common::invalidArgument("Subprocess needs a logFile");
  SKIFF_ASSIGN_OR_RETURN(ExecSpec spec, prepareExec(opts.argv, opts.env));
  Fd devNull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (devNull.get() < 0) return common::unavailable("open /dev/null: " + errnoText(errno));
  Fd log(::open(opts.logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (log.get() < 0) return common::unavailable("open " + opts.logFile + ": " + errnoText(errno));
  SKIFF_ASSIGN_OR_RETURN(pid_t pid, spawn(spec, devNull.get(), log.get(), opts.workDir));
  return Subprocess(pid, std::move(opts.logFile));
}

Subprocess::~Subprocess() { stop(); }

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      exitCode_(std::exchange(other.exitCode_, std::nullopt)),
      logFile_(std::move(other.logFile_)) {}

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this != &other) {
    stop();
    pid_ = std::exchange(other.pid_, -1);
    exitCode_ = std::exchange(other.exitCode_, std::nullopt);
    logFile_ = std::move(other.logFile_);
  }
  return *this;
}

int Subprocess::stop(std::chrono::milliseconds grace) {
  if (pid_ < 0) return -1;
  int code = -1;
  if (!hasExited(pid_, &code)) {
    ::kill(-pid_, SIGTERM);
    ::kill(-pid_, SIGCONT);  // a SIGSTOPped peer must run to handle SIGTERM
    auto deadline = Clock::now() + grace;
    while (!hasExited(pid_, &code) && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // The leader is a zombie (or being killed) here, so its group id cannot have been reused.
  code = killGroupAndReap(pid_);
  exitCode_ = code;
  pid_ = -1;
  return code;
}

Status Subprocess::signal(int sig) const {
  if (pid_ < 0) return common::notFound("process already stopped");
  if (::kill(-pid_, sig) != 0) return common::unavailable("kill: " + errnoText(errno));
  return Status::ok();
}

bool Subprocess::isRunning() {
  if (pid_ < 0) return false;
  int code = -1;
  if (hasExited(pid_, &code)) {  // not reaped: stop() still owns the process group
    exitCode_ = code;
    return false;
  }
  return true;
}

std::string Subprocess::logContents() const {
  auto content = common::readFile(logFile_);
  return content.isOk() ? content.value() : std::string();
}

Status waitForReady(Subprocess& proc, const std::function<bool()>& probe,
                    std::chrono::milliseconds timeout, std::string_view what) {
  bool exited = false;
  Status s = waitUntil(
      [&] {
        if (!proc.isRunning()) {
          exited = true;
          return true;
        }
        return probe();
      },
      timeout, std::string(what) + " ready");
  if (exited) {
    return common::unavailable(
        std::string(what) + " exited with " + std::to_string(proc.exitCode().value_or(-1)) +
        " before becoming ready; log " + proc.logFile() + ":\n" + fileTail(proc.logFile()));
  }
  if (!s.isOk()) {
    return Status(s.code(),
                  s.message() + "; log " + proc.logFile() + ":\n" + fileTail(proc.logFile()));
  }
  return Status::ok();
}

// ---- runCommand ----

Result<CommandResult> runCommand(const std::vector<std::string>& argv,
                                 const std::map<std::string, std::string>& env,
                                 std::chrono::milliseconds timeout) {
  SKIFF_ASSIGN_OR_RETURN(ExecSpec spec, prepareExec(argv, env));
  Fd devNull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (devNull.get() < 0) return common::unavailable("open /dev/null: " + errnoText(errno));
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return common::unavailable("pipe: " + errnoText(errno));
  Fd readEnd(fds[0]);
  Fd writeEnd(fds[1]);
  SKIFF_ASSIGN_OR_RETURN(pid_t pid, spawn(spec, devNull.get(), writeEnd.get(), ""));
  writeEnd.reset();
  ::fcntl(readEnd.get(), F_SETFL, O_NONBLOCK);

  CommandResult result;
  auto drain = [&] {
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(readEnd.get(), buf, sizeof buf);
      if (n > 0) {
        result.output.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n == 0;  // true on EOF
    }
  };
  auto deadline = Clock::now() + timeout;
  bool eof = false;
  int code = -1;
  // Grandchildren that keep the pipe open must not make us wait: stop reading once the command
  // itself has exited.
  while (!hasExited(pid, &code)) {
    if (Clock::now() >= deadline) {
      killGroupAndReap(pid);
      if (!eof) drain();
      return common::deadlineExceeded(joinArgv(argv) + " did not finish within " +
                                      std::to_string(timeout.count()) +
                                      " ms; output: " + result.output);
    }
    if (!eof) {
      pollfd p{readEnd.get(), POLLIN, 0};
      ::poll(&p, 1, 20);
      eof = drain();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (!eof) drain();
  result.exitCode = killGroupAndReap(pid);
  return result;
}

Result<std::string> runCommandOk(const std::vector<std::string>& argv,
                                 const std::map<std::string, std::string>& env,
                                 std::chrono::milliseconds timeout) {
  SKIFF_ASSIGN_OR_RETURN(CommandResult r, runCommand(argv, env, timeout));
  if (r.exitCode != 0) {
    return common::internalError(joinArgv(argv) + " exited with " + std::to_string(r.exitCode) +
                                 ": " + r.output);
  }
  return std::move(r.output);
}

}  // namespace skiff::test
