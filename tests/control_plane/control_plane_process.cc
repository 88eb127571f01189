// See control_plane_process.h.
#include "tests/control_plane/control_plane_process.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/fs.h"
#include "tests/support/status_assert.h"

#ifndef SKIFF_CONTROL_PLANE_BIN
#error "SKIFF_CONTROL_PLANE_BIN must name the skiff-control-plane binary"
#endif

namespace skiff::test {

using common::Result;
using common::Status;

namespace {

// token,user,uid,"groups" lines; returns the token of `user`.
std::string tokenOf(const std::string& text, const std::string& user) {
  for (const auto& line : splitLines(text)) {
    if (line.empty() || line[0] == '#') continue;
    auto c1 = line.find(',');
    if (c1 == std::string::npos) continue;
    auto c2 = line.find(',', c1 + 1);
    if (line.substr(c1 + 1, c2 - c1 - 1) == user) return line.substr(0, c1);
  }
  return "";
}

}  // namespace

Result<std::unique_ptr<ControlPlaneProcess>> ControlPlaneProcess::start(
    ControlPlaneProcessOptions opts) {
  if (opts.dataDir.empty()) return common::invalidArgument("dataDir is required");
  if (opts.port == 0) {
    SKIFF_ASSIGN_OR_RETURN(opts.port, freeLoopbackPort());
  }
  std::unique_ptr<ControlPlaneProcess> cp(new ControlPlaneProcess(std::move(opts)));
  SKIFF_RETURN_IF_ERROR(cp->launch());
  return cp;
}

ControlPlaneProcess::~ControlPlaneProcess() {
  if (proc_) proc_->stop();
}

Status ControlPlaneProcess::launch() {
  ++launches_;
  SubprocessOptions so;
  so.argv = {SKIFF_CONTROL_PLANE_BIN, "--data-dir", opts_.dataDir, "--listen",
             "127.0.0.1:" + std::to_string(opts_.port)};
  if (!opts_.schedulerAndControllers) {
    so.argv.push_back("--disable-scheduler");
    so.argv.push_back("--disable-controllers");
  }
  bool graceSet = false;
  for (const auto& a : opts_.extraArgs) {
    so.argv.push_back(a);
    if (a.starts_with("--node-monitor-grace-period")) graceSet = true;
  }
  if (!graceSet) {
    so.argv.push_back("--node-monitor-grace-period");
    so.argv.push_back("1h");
  }
  if (!opts_.store.empty()) {
    so.argv.push_back("--store");
    so.argv.push_back(opts_.store);
  }
  // The data dir's parent holds the logs so that restarts append separate files.
  so.logFile = opts_.dataDir + ".log." + std::to_string(launches_);
  SKIFF_ASSIGN_OR_RETURN(auto proc, Subprocess::start(so));
  proc_.emplace(std::move(proc));
  auto probe = [this] {
    if (!std::filesystem::exists(caFile()) || !std::filesystem::exists(adminKubeconfig())) {
      return false;
    }
    HttpsClient c(baseUrl(), caFile(), "");
    auto r = c.request("GET", "/healthz", "", "", std::chrono::seconds(2));
    return r.isOk() && r->status == 200;
  };
  SKIFF_RETURN_IF_ERROR(waitForReady(*proc_, probe, opts_.startTimeout, "skiff-control-plane"));
  SKIFF_ASSIGN_OR_RETURN(std::string tokens, common::readFile(opts_.dataDir + "/tokens.csv"));
  adminToken_ = tokenOf(tokens, "admin");
  readOnlyToken_ = tokenOf(tokens, "read-only");
  if (adminToken_.empty() || readOnlyToken_.empty()) {
    return common::internalError("tokens.csv lacks the admin or read-only token");
  }
  return Status::ok();
}

int ControlPlaneProcess::stop() {
  if (!proc_) return -1;
  int code = proc_->stop(std::chrono::seconds(10));
  return code;
}

void ControlPlaneProcess::kill9() {
  if (!proc_) return;
  (void)proc_->signal(SIGKILL);
  proc_->stop(std::chrono::seconds(1));
}

Status ControlPlaneProcess::restart() {
  if (proc_) proc_->stop();
  proc_.reset();
  return launch();
}

bool ControlPlaneProcess::isRunning() { return proc_ && proc_->isRunning(); }

pid_t ControlPlaneProcess::pid() const { return proc_ ? proc_->pid() : -1; }

std::string ControlPlaneProcess::logContents() const { return proc_ ? proc_->logContents() : ""; }

std::map<std::string, std::string> Kubectl::env() const {
  return {{"HOME", home_}, {"KUBECONFIG", kubeconfig_}};
}

Result<CommandResult> Kubectl::run(const std::vector<std::string>& args,
                                   std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {"kubectl"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, env(), timeout);
}

Result<std::string> Kubectl::ok(const std::vector<std::string>& args,
                                std::chrono::milliseconds timeout) {
  SKIFF_ASSIGN_OR_RETURN(CommandResult r, run(args, timeout));
  if (r.exitCode != 0) {
    std::string cmd = "kubectl";
    for (const auto& a : args) cmd += " " + a;
    return common::internalError(cmd + " exited with " + std::to_string(r.exitCode) + ":\n" +
                                 r.output);
  }
  return r.output;
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

std::string squeezeSpaces(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

KubectlTable parseKubectlTable(const std::string& text) {
  KubectlTable t;
  auto lines = splitLines(text);
  std::size_t h = 0;
  while (h < lines.size() &&
         !(lines[h].starts_with("NAME") || lines[h].starts_with("NAMESPACE") ||
           lines[h].starts_with("LAST SEEN") || lines[h].starts_with("EVENT"))) {
    ++h;
  }
  if (h == lines.size()) return t;
  const std::string& head = lines[h];
  t.headerLine = squeezeSpaces(head);
  // Column starts: a non-space preceded by at least two spaces (or the line start).
  std::vector<std::size_t> starts;
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] == ' ') continue;
    if (i == 0 || (i >= 2 && head[i - 1] == ' ' && head[i - 2] == ' ')) starts.push_back(i);
  }
  for (std::size_t k = 0; k < starts.size(); ++k) {
    std::size_t end = k + 1 < starts.size() ? starts[k + 1] : head.size();
    t.header.push_back(squeezeSpaces(head.substr(starts[k], end - starts[k])));
  }
  for (std::size_t i = h + 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty()) break;  // next table (kubectl get a,b prints blank-separated tables)
    std::map<std::string, std::string> row;
    for (std::size_t k = 0; k < starts.size(); ++k) {
      std::size_t b = starts[k];
      std::size_t e = k + 1 < starts.size() ? starts[k + 1] : std::string::npos;
      std::string cell = b < line.size() ? line.substr(b, e == std::string::npos ? e : e - b) : "";
      row[t.header[k]] = squeezeSpaces(cell);
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

void ControlPlaneKubectlTest::SetUp() {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto dir, TempDir::create("cp-kubectl"));
  dir_.emplace(std::move(dir));
  ControlPlaneProcessOptions o;
  o.dataDir = dir_->file("data");
  o.schedulerAndControllers = true;
  o.extraArgs = extraArgs();
  SKIFF_ASSERT_OK_AND_ASSIGN(cp_, ControlPlaneProcess::start(o));
  SKIFF_ASSERT_OK(common::makeDirs(dir_->file("home"), 0700));
  kubectl_.emplace(dir_->file("home"), cp_->adminKubeconfig());
}

void ControlPlaneKubectlTest::TearDown() {
  if (!cp_) return;
  if (HasFailure()) std::cerr << "--- control plane log ---\n" << cp_->logContents() << "\n";
  EXPECT_EQ(cp_->stop(), 0);
}

std::string ControlPlaneKubectlTest::file(const std::string& name, const std::string& content) {
  std::string path = dir_->file(name);
  std::ofstream(path) << content;
  return path;
}

common::Json ControlPlaneKubectlTest::getJson(const std::vector<std::string>& args) {
  std::vector<std::string> a = args;
  a.push_back("-o");
  a.push_back("json");
  auto out = kubectl_->ok(a);
  if (!out.isOk()) return common::Json();
  return common::Json::parse(*out, nullptr, false);
}

}  // namespace skiff::test
