// The README's first command, end to end: deploy/quickstart.sh in a temp state dir on ephemeral
// loopback ports (with the binaries of this build) brings up the whole system and the sample
// pod runs on the local device; kubectl sees it Running and reads its logs; the dashboard and
// the hub API answer; a second run is fast and reuses everything; a killed daemon is healed by
// rerunning; --down stops every process it started and leaves none behind.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/fs.h"
#include "tests/control_plane/control_plane_process.h"
#include "tests/support/process.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using namespace std::chrono_literals;

// Processes whose command line or environment mentions `needle` (the state dir).
std::vector<int> processesMentioning(const std::string& needle) {
  std::vector<int> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    for (const char* file : {"/cmdline", "/environ"}) {
      auto content = common::readFile("/proc/" + std::to_string(pid) + file);
      if (content.isOk() && content->find(needle) != std::string::npos) {
        out.push_back(pid);
        break;
      }
    }
  }
  closedir(d);
  return out;
}

class QuickstartTest : public testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::create("quickstart");
    ASSERT_TRUE(dir.isOk()) << dir.status();
    dir_.emplace(std::move(*dir));
    state_ = dir_->file("state");
    env_ = {{"SKIFF_STATE_DIR", state_},
            {"SKIFF_BUILD_DIR", SKIFF_BUILD_DIR},
            {"SKIFF_QUICKSTART_NO_BUILD", "1"},
            {"SKIFF_QUICKSTART_NO_DEPS", "1"},
            {"HOME", dir_->file("home")}};
    for (const char* var : {"SKIFF_API_PORT", "SKIFF_HUB_GRPC_PORT", "SKIFF_HUB_HTTP_PORT",
                            "SKIFF_MQTT_PORT", "SKIFF_REGISTRY_PORT", "SKIFF_KUBELET_PORT"}) {
      auto port = freeLoopbackPort();
      ASSERT_TRUE(port.isOk());
      env_[var] = std::to_string(*port);
    }
  }

  void TearDown() override {
    if (state_.empty()) return;
    auto down = quickstart({"--down"}, 120s);
    if (HasFailure() && down.isOk()) std::cerr << down->output;
    // Whatever --down missed is a test failure above; never leave it running either.
    for (int pid : processesMentioning(state_)) kill(pid, SIGKILL);
  }

  Result<CommandResult> quickstart(const std::vector<std::string>& args,
                                   std::chrono::milliseconds timeout = 600s) {
    std::vector<std::string> argv = {SKIFF_SOURCE_DIR "/deploy/quickstart.sh"};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, env_, timeout);
  }

  Kubectl kubectl() {
    return Kubectl(dir_->file("kube-home"), state_ + "/control-plane/admin.kubeconfig");
  }

  std::string pidOf(const std::string& name) {
    auto p = common::readFile(state_ + "/pids/" + name + ".pid");
    return p.isOk() ? std::string(p->substr(0, p->find('\n'))) : "";
  }

  std::optional<TempDir> dir_;
  std::string state_;
  std::map<std::string, std::string> env_;
};

TEST_F(QuickstartTest, BringsUpTheSystemRunsTheSamplePodAndTearsDownCleanly) {
  auto t0 = std::chrono::steady_clock::now();
  SKIFF_ASSERT_OK_AND_ASSIGN(auto first, quickstart({}));
  ASSERT_EQ(first.exitCode, 0) << first.output;
  auto firstSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  RecordProperty("first_run_seconds", std::to_string(firstSeconds));
  EXPECT_NE(first.output.find("export KUBECONFIG=" + state_), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("admin token:"), std::string::npos);
  EXPECT_NE(first.output.find("--down"), std::string::npos);

  // The sample pod, seen by the real kubectl: Running on the fleet node, with its logs.
  Kubectl k = kubectl();
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string phase, k.ok({"get", "pods", "-l", "app=hello", "-o",
                                                      "jsonpath={.items[*].status.phase}"}));
  EXPECT_EQ(phase, "Running");
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string ready,
                             k.ok({"get", "pods", "-l", "app=hello", "-o",
                                   "jsonpath={.items[0].status.containerStatuses[0].ready}"}));
  EXPECT_EQ(ready, "true");
  std::string logs;
  SKIFF_EXPECT_OK(waitUntil(
      [&] {
        auto r = k.run({"logs", "deploy/hello", "--tail", "5"});
        logs = r.isOk() ? r->output : "";
        return logs.find("hello from Skiff #") != std::string::npos;
      },
      60s, "kubectl logs shows the sample's output"));
  EXPECT_NE(logs.find("device edge-1"), std::string::npos) << logs;

  // The dashboard and the hub API answer with the hub's CA.
  std::string ca = state_ + "/hub/pki/ca.pem";
  std::string hub = "https://127.0.0.1:" + env_["SKIFF_HUB_HTTP_PORT"];
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string page,
                             runCommandOk({"curl", "-fsS", "--cacert", ca, hub + "/"}));
  EXPECT_NE(page.find("<div id=\"app\""), std::string::npos) << page.substr(0, 300);
  SKIFF_ASSERT_OK_AND_ASSIGN(
      std::string overview,
      runCommandOk({"sh", "-c",
                    "curl -fsS --cacert " + ca +
                        " -H \"Authorization: Bearer $(awk -F, '$3==\"reader\"{print $1}' " +
                        state_ + "/hub/tokens.csv)\" " + hub + "/api/v1/devices/edge-1"}));
  EXPECT_NE(overview.find("\"online\":true"), std::string::npos) << overview;

  // Second run: everything is reused and it takes seconds.
  auto t1 = std::chrono::steady_clock::now();
  SKIFF_ASSERT_OK_AND_ASSIGN(auto second, quickstart({}));
  ASSERT_EQ(second.exitCode, 0) << second.output;
  auto secondSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  RecordProperty("second_run_seconds", std::to_string(secondSeconds));
  EXPECT_LT(secondSeconds, 30) << second.output;
  EXPECT_NE(second.output.find("ok"), std::string::npos);

  // Kill one daemon (the hub, hard): rerunning heals the setup and the pod stays Running.
  std::string hubPid = pidOf("hub");
  ASSERT_FALSE(hubPid.empty());
  ASSERT_EQ(kill(std::stoi(hubPid), SIGKILL), 0);
  SKIFF_ASSERT_OK_AND_ASSIGN(auto healed, quickstart({}));
  ASSERT_EQ(healed.exitCode, 0) << healed.output;
  EXPECT_NE(pidOf("hub"), hubPid);
  SKIFF_ASSERT_OK_AND_ASSIGN(
      phase, k.ok({"get", "pods", "-l", "app=hello", "-o", "jsonpath={.items[*].status.phase}"}));
  EXPECT_EQ(phase, "Running");

  // --down: every process is gone (daemons, Podman, conmon, the containers).
  SKIFF_ASSERT_OK_AND_ASSIGN(auto down, quickstart({"--down"}, 120s));
  ASSERT_EQ(down.exitCode, 0) << down.output;
  SKIFF_EXPECT_OK(waitUntil([&] { return processesMentioning(state_).empty(); }, 20s,
                            "no process mentions the state dir"));
  for (int pid : processesMentioning(state_)) {
    auto cmd = common::readFile("/proc/" + std::to_string(pid) + "/cmdline");
    ADD_FAILURE() << "left behind: pid " << pid << " " << (cmd.isOk() ? *cmd : "");
  }
  EXPECT_FALSE(tcpConnects(std::stoi(env_["SKIFF_API_PORT"])));

  // And up again from the kept state.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto again, quickstart({}));
  ASSERT_EQ(again.exitCode, 0) << again.output;
}

TEST_F(QuickstartTest, UnknownArgumentIsRejected) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto r, quickstart({"--frobnicate"}, 30s));
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("usage:"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(state_ + "/pids"));
}

}  // namespace
}  // namespace skiff::test
