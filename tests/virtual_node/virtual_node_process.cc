// See virtual_node_process.h.
#include "tests/virtual_node/virtual_node_process.h"

#include <signal.h>

#include "common/fs.h"

#ifndef SKIFF_VIRTUAL_NODE_BIN
#error "SKIFF_VIRTUAL_NODE_BIN must name the skiff-virtual-node binary"
#endif

namespace skiff::test {

common::Result<std::unique_ptr<VirtualNodeProcess>> VirtualNodeProcess::start(
    VirtualNodeProcessOptions o) {
  if (o.dir.empty() || o.kubeconfig.empty()) {
    return common::invalidArgument("dir and kubeconfig are required");
  }
  if (o.kubeletPort == 0) {
    SKIFF_ASSIGN_OR_RETURN(o.kubeletPort, freeLoopbackPort());
  }
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(o.dir + "/hub-ca.pem", o.hubCaPem));
  SKIFF_RETURN_IF_ERROR(common::writeFileAtomic(o.dir + "/hub-token", o.hubToken + "\n", 0600));
  std::unique_ptr<VirtualNodeProcess> p(new VirtualNodeProcess(std::move(o)));
  SKIFF_RETURN_IF_ERROR(p->launch());
  return p;
}

VirtualNodeProcess::~VirtualNodeProcess() {
  if (proc_) proc_->stop();
}

std::vector<std::string> VirtualNodeProcess::argv() const {
  std::vector<std::string> a = {SKIFF_VIRTUAL_NODE_BIN,
                                "--kubeconfig",
                                opts_.kubeconfig,
                                "--hub",
                                opts_.hubAddress,
                                "--hub-ca",
                                opts_.dir + "/hub-ca.pem",
                                "--hub-token-file",
                                opts_.dir + "/hub-token",
                                "--node-name",
                                opts_.nodeName,
                                "--kubelet-listen",
                                "127.0.0.1:" + std::to_string(opts_.kubeletPort),
                                "--cert-dir",
                                opts_.dir + "/pki",
                                "--lease-duration",
                                "4s",
                                "--lease-renew-interval",
                                "1s",
                                "--node-status-report-interval",
                                "5s",
                                "--fleet-status-interval",
                                "500ms",
                                "--resync-period",
                                "10s",
                                "--log-level",
                                opts_.logLevel};
  if (opts_.nodePerDevice) a.push_back("--node-per-device");
  a.insert(a.end(), opts_.extraArgs.begin(), opts_.extraArgs.end());
  return a;
}

common::Status VirtualNodeProcess::launch() {
  ++launches_;
  SubprocessOptions so;
  so.argv = argv();
  so.logFile = opts_.dir + "/virtual-node.log." + std::to_string(launches_);
  SKIFF_ASSIGN_OR_RETURN(auto proc, Subprocess::start(so));
  proc_.emplace(std::move(proc));
  return waitForReady(
      *proc_, [this] { return tcpConnects(opts_.kubeletPort); }, std::chrono::seconds(30),
      "skiff-virtual-node");
}

int VirtualNodeProcess::stop() {
  if (!proc_) return -1;
  return proc_->stop(std::chrono::seconds(15));
}

void VirtualNodeProcess::kill9() {
  if (!proc_) return;
  (void)proc_->signal(SIGKILL);
  proc_->stop(std::chrono::seconds(1));
}

common::Status VirtualNodeProcess::restart() {
  if (proc_) proc_->stop(std::chrono::seconds(15));
  proc_.reset();
  return launch();
}

bool VirtualNodeProcess::isRunning() { return proc_ && proc_->isRunning(); }

std::string VirtualNodeProcess::logContents() const { return proc_ ? proc_->logContents() : ""; }

}  // namespace skiff::test
