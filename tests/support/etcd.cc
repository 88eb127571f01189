// etcd fixture: single-member cluster lifecycle and readiness via GET /health.
#include "tests/support/etcd.h"

#include <gtest/gtest.h>

#include <iostream>

#include "common/fs.h"
#include "tests/support/http.h"

namespace skiff::test {

using common::Result;
using common::Status;

Result<std::unique_ptr<EtcdFixture>> EtcdFixture::create(EtcdOptions opts) {
  SKIFF_RETURN_IF_ERROR(findProgram("etcd").status());
  SKIFF_ASSIGN_OR_RETURN(TempDir dir, TempDir::create("etcd"));
  SKIFF_ASSIGN_OR_RETURN(int clientPort, freeLoopbackPort());
  int peerPort = clientPort;
  for (int i = 0; i < 10 && peerPort == clientPort; ++i) {
    SKIFF_ASSIGN_OR_RETURN(peerPort, freeLoopbackPort());
  }
  if (peerPort == clientPort) return common::unavailable("no second free loopback port");
  std::unique_ptr<EtcdFixture> fx(new EtcdFixture(opts, std::move(dir), clientPort, peerPort));
  SKIFF_RETURN_IF_ERROR(fx->start());
  return fx;
}

EtcdFixture::~EtcdFixture() {
  if (::testing::Test::HasFailure()) {
    std::cerr << "[skiff-test] etcd on port " << clientPort_ << " log tail ("
              << dir_.file("etcd.log") << "):\n"
              << fileTail(dir_.file("etcd.log"), 4096) << "\n";
  }
  stop();
}

Status EtcdFixture::start() {
  if (proc_.has_value() && proc_->isRunning()) return Status::ok();
  proc_.reset();
  const std::string client = clientUrl();
  const std::string peer = "http://127.0.0.1:" + std::to_string(peerPort_);
  SubprocessOptions so;
  so.argv = {"etcd",
             "--name=skiff-test",
             "--data-dir=" + dir_.file("data"),
             "--listen-client-urls=" + client,
             "--advertise-client-urls=" + client,
             "--listen-peer-urls=" + peer,
             "--initial-advertise-peer-urls=" + peer,
             "--initial-cluster=skiff-test=" + peer,
             "--initial-cluster-state=new",
             "--initial-cluster-token=skiff-test-" + std::to_string(clientPort_),
             "--heartbeat-interval=10",
             "--election-timeout=100",
             "--logger=zap",
             "--log-outputs=stderr"};
  so.logFile = dir_.file("etcd.log");
  so.workDir = dir_.path();
  SKIFF_ASSIGN_OR_RETURN(Subprocess proc, Subprocess::start(std::move(so)));
  proc_.emplace(std::move(proc));
  const std::string health = client + "/health";
  Status ready = waitForReady(
      *proc_,
      [&health] {
        HttpRequest req;
        req.url = health;
        req.timeout = std::chrono::seconds(1);
        auto r = httpRequest(req);
        return r.isOk() && r->status == 200 &&
               r->body.find("\"health\":\"true\"") != std::string::npos;
      },
      opts_.startTimeout, "etcd");
  if (!ready.isOk()) proc_.reset();
  return ready;
}

void EtcdFixture::stop() { proc_.reset(); }

Status EtcdFixture::restart() {
  stop();
  return start();
}

bool EtcdFixture::isRunning() { return proc_.has_value() && proc_->isRunning(); }

std::string EtcdFixture::endpoint() const { return "127.0.0.1:" + std::to_string(clientPort_); }

std::string EtcdFixture::clientUrl() const { return "http://" + endpoint(); }

Result<CommandResult> EtcdFixture::etcdctl(const std::vector<std::string>& args,
                                           std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {"etcdctl", "--endpoints=" + endpoint(), "--dial-timeout=2s",
                                   "--command-timeout=5s"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, {{"ETCDCTL_API", "3"}}, timeout);
}

std::string EtcdFixture::logContents() const {
  return common::readFile(dir_.file("etcd.log")).valueOr("");
}

}  // namespace skiff::test
