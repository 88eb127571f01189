// skiffctl end to end against a real hub: device add/list/get/label/remove, token create, deploy
// apply (YAML and JSON, multi-document)/list/get/status/delete, logs (with -f interrupted), table
// and JSON output, config file and environment, and exit codes for bad input and errors.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "common/fs.h"
#include "tests/hub/test_util.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using namespace std::chrono_literals;

class SkiffctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto hub = HubFixture::create();
    ASSERT_TRUE(hub.isOk()) << hub.status();
    hub_ = std::move(*hub);
  }
  CommandResult ctl(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv = {SKIFFCTL_BIN, "--config", hub_->skiffctlConfig()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runCommand(argv, env, 60s);
    EXPECT_TRUE(r.isOk()) << r.status();
    return r.isOk() ? *r : CommandResult{};
  }
  std::string file(const std::string& name, const std::string& content) {
    std::string path = hub_->dataDir() + "/" + name;
    EXPECT_TRUE(common::writeFileAtomic(path, content).isOk());
    return path;
  }
  std::unique_ptr<HubFixture> hub_;
};

TEST_F(SkiffctlTest, DevicesTokensDeploymentsAndLogs) {
  auto add = ctl({"device", "add", "pi-1", "-l", "site=a", "-l", "arch=arm64", "--enroll"});
  ASSERT_EQ(add.exitCode, 0) << add.output;
  EXPECT_NE(add.output.find("device/pi-1 created"), std::string::npos) << add.output;
  auto tokenPos = add.output.find("skiff-enroll-");
  ASSERT_NE(tokenPos, std::string::npos) << add.output;
  std::string token = add.output.substr(tokenPos, add.output.find('\n', tokenPos) - tokenPos);
  SKIFF_ASSERT_OK_AND_ASSIGN(auto creds, hub_->enroll("pi-1", token));
  auto dev = SimDevice::start(hub_->simDeviceOptions(creds));
  SKIFF_ASSERT_OK(dev);
  SKIFF_ASSERT_OK((*dev)->waitConnected(20s));

  EXPECT_EQ(ctl({"device", "add", "pi-2", "-l", "site=b"}).exitCode, 0);
  auto dup = ctl({"device", "add", "pi-2"});
  EXPECT_EQ(dup.exitCode, 6) << dup.output;
  EXPECT_NE(dup.output.find("already exists"), std::string::npos);
  auto tok = ctl({"token", "create", "pi-2", "--ttl", "10m"});
  EXPECT_EQ(tok.exitCode, 0) << tok.output;
  EXPECT_NE(tok.output.find("skiff-enroll-"), std::string::npos);

  std::string yaml = file("web.yaml", R"yaml(id: web
targetSelector: "site=a,arch in (arm64)"
priority: 5
labels: {app: web}
pods:
  - name: web
    containers:
      - name: nginx
        image: "nginx:1.25"
        ports: [{containerPort: 80, hostPort: 8080}]
        env: [{name: MODE, value: "prod"}]
---
# A schema-1 manifest (modules) still applies: the module becomes a pod of one container.
apiVersion: skiff.io/v1
kind: Deployment
id: agent-sidecar
targetSelector: skiff.io/device-id
modules:
  - {name: sidecar, image: "busybox:1.36", args: ["sleep", "3600"]}
)yaml");
  auto applied = ctl({"deploy", "apply", "-f", yaml});
  ASSERT_EQ(applied.exitCode, 0) << applied.output;
  EXPECT_NE(applied.output.find("deployment/web applied (generation 1, targets 1 device)"),
            std::string::npos)
      << applied.output;
  EXPECT_NE(applied.output.find("deployment/agent-sidecar applied"), std::string::npos);
  ASSERT_TRUE((*dev)->waitFor([](SimAgent& a) { return a.moduleNames().size() == 2; }, 20s));
  ASSERT_TRUE(
      waitUntil([&] { return getDeployment(*hub_, "web").status().running() == 1; }, 20s).isOk());

  auto list = ctl({"device", "list", "-l", "site=a"});
  EXPECT_EQ(list.exitCode, 0);
  EXPECT_NE(list.output.find("ID"), std::string::npos);
  EXPECT_NE(list.output.find("pi-1"), std::string::npos);
  EXPECT_EQ(list.output.find("pi-2"), std::string::npos) << list.output;
  auto json = ctl({"-o", "json", "device", "get", "pi-1"});
  ASSERT_EQ(json.exitCode, 0);
  auto parsed = common::parseJson(json.output.substr(json.output.find('{')));
  ASSERT_TRUE(parsed.isOk()) << json.output;
  EXPECT_EQ((*parsed)["id"], "pi-1");
  EXPECT_TRUE((*parsed)["online"].get<bool>());
  auto get = ctl({"device", "get", "pi-1"});
  EXPECT_NE(get.output.find("web/nginx"), std::string::npos) << get.output;
  auto status = ctl({"deploy", "status", "web"});
  EXPECT_EQ(status.exitCode, 0);
  EXPECT_NE(status.output.find("1 targeted, 1 applied, 1 running, 0 failed, 0 offline"),
            std::string::npos)
      << status.output;
  EXPECT_NE(status.output.find("web/nginx=running"), std::string::npos) << status.output;
  auto dlist = ctl({"deploy", "list"});
  EXPECT_NE(dlist.output.find("agent-sidecar"), std::string::npos) << dlist.output;
  EXPECT_EQ(ctl({"deploy", "get", "web"}).exitCode, 0);

  // Relabel moves the deployment away.
  auto label = ctl({"device", "label", "pi-1", "site=b", "arch-"});
  EXPECT_EQ(label.exitCode, 0) << label.output;
  EXPECT_NE(label.output.find("site=b"), std::string::npos);
  EXPECT_EQ(label.output.find("arch="), std::string::npos) << label.output;
  ASSERT_TRUE((*dev)->waitFor([](SimAgent& a) { return a.moduleNames().size() == 1; }, 20s));

  // Logs.
  (*dev)->agent().setLogLines("sidecar/sidecar", {"hello\n"});
  auto logs = ctl({"logs", "pi-1", "sidecar/sidecar", "--tail", "5"});
  EXPECT_EQ(logs.exitCode, 0) << logs.output;
  EXPECT_EQ(logs.output, "hello\n");
  // -f runs until interrupted (SIGINT → exit 0).
  SubprocessOptions so;
  so.argv = {SKIFFCTL_BIN,      "--config", hub_->skiffctlConfig(), "logs", "pi-1",
             "sidecar/sidecar", "-f"};
  so.logFile = hub_->dataDir() + "/follow.log";
  SKIFF_ASSERT_OK_AND_ASSIGN(Subprocess follow, Subprocess::start(so));
  ASSERT_TRUE(waitUntil(
                  [&] {
                    return common::readFile(so.logFile).valueOr("").find("tick 2") !=
                           std::string::npos;
                  },
                  20s)
                  .isOk())
      << common::readFile(so.logFile).valueOr("");
  SKIFF_ASSERT_OK(follow.signal(SIGINT));
  ASSERT_TRUE(waitUntil([&] { return !follow.isRunning(); }, 10s).isOk());
  EXPECT_EQ(follow.exitCode(), 0);

  // Delete and remove.
  EXPECT_EQ(ctl({"deploy", "delete", "web"}).exitCode, 0);
  EXPECT_EQ(ctl({"deploy", "delete", "web"}).exitCode, 4);
  EXPECT_EQ(ctl({"device", "remove", "pi-2"}).exitCode, 0);
  auto gone = ctl({"device", "get", "pi-2"});
  EXPECT_EQ(gone.exitCode, 4);
  EXPECT_NE(gone.output.find("NotFound"), std::string::npos) << gone.output;
}

TEST_F(SkiffctlTest, BadInputAndErrorsHaveClearMessagesAndExitCodes) {
  std::string badYaml = file("bad.yaml",
                             "id: x\ntargetSelector: a\npods: [{name: x, containers: [{name: c, "
                             "image: y, ports: [{containerPort: 0}]}]}]\n");
  auto r = ctl({"deploy", "apply", "-f", badYaml});
  EXPECT_EQ(r.exitCode, 2) << r.output;
  EXPECT_NE(r.output.find("pods[0].containers[0].ports[0].containerPort"), std::string::npos)
      << r.output;
  auto broken = ctl({"deploy", "apply", "-f", file("broken.yaml", "id: [unclosed\n")});
  EXPECT_EQ(broken.exitCode, 2);
  EXPECT_NE(broken.output.find("line"), std::string::npos) << broken.output;
  auto unknown = ctl({"deploy", "apply", "-f", file("u.json", R"({"id":"x","modulez":[]})")});
  EXPECT_EQ(unknown.exitCode, 2);
  EXPECT_NE(unknown.output.find("modulez: unknown field"), std::string::npos) << unknown.output;
  EXPECT_EQ(ctl({"deploy", "apply", "-f", "/nonexistent.yaml"}).exitCode, 2);
  auto sel = ctl({"device", "list", "-l", "a in ("});
  EXPECT_EQ(sel.exitCode, 2);
  EXPECT_NE(sel.output.find("InvalidArgument"), std::string::npos) << sel.output;
  EXPECT_EQ(ctl({"device", "frobnicate"}).exitCode, 2);
  EXPECT_EQ(ctl({"device", "add", "Bad_Id"}).exitCode, 2);

  // Wrong or missing token; reader may read but not write; unreachable hub.
  auto noToken = runCommand(
      {SKIFFCTL_BIN, "--server", hub_->grpcAddress(), "--ca", hub_->caFile(), "device", "list"});
  EXPECT_EQ(noToken->exitCode, 2);
  EXPECT_NE(noToken->output.find("no token"), std::string::npos);
  auto wrong = runCommand({SKIFFCTL_BIN, "--server", hub_->grpcAddress(), "--ca", hub_->caFile(),
                           "--token", "nope", "device", "list"});
  EXPECT_EQ(wrong->exitCode, 3) << wrong->output;
  std::map<std::string, std::string> readerEnv = {{"SKIFF_HUB_SERVER", hub_->grpcAddress()},
                                                  {"SKIFF_HUB_CA", hub_->caFile()},
                                                  {"SKIFF_HUB_TOKEN", hub_->readerToken()}};
  auto readList = runCommand({SKIFFCTL_BIN, "device", "list"}, readerEnv);
  EXPECT_EQ(readList->exitCode, 0) << readList->output;
  auto readWrite = runCommand({SKIFFCTL_BIN, "device", "add", "pi-9"}, readerEnv);
  EXPECT_EQ(readWrite->exitCode, 3) << readWrite->output;
  EXPECT_NE(readWrite->output.find("PermissionDenied"), std::string::npos);
  auto down = runCommand({SKIFFCTL_BIN, "--server", "127.0.0.1:1", "--ca", hub_->caFile(),
                          "--token", hub_->adminToken(), "--timeout", "3s", "device", "list"});
  EXPECT_EQ(down->exitCode, 5) << down->output;
  EXPECT_NE(down->output.find("127.0.0.1:1"), std::string::npos) << down->output;
}

}  // namespace
}  // namespace skiff::test
