// Issue #8's end to end: the operator's skiffctl against the real skiff-hub and Mosquitto (TLS,
// CRL, ACL), real skiff-agent processes on Podman. Devices are added with labels, get one-time
// tokens, and the agents enroll with the bootstraps docs/agent.md documents (--ca-file and
// --ca-sha256). A YAML deployment targeting one label runs its busybox modules on the matching
// agent only (checked in Podman), `deploy status` aggregates the agent's reports,
// `skiffctl logs -f` streams what the container prints while it prints it, and deleting the device
// makes the broker drop and refuse the real agent.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "common/fs.h"
#include "tests/e2e/system.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

// Broker log lines "New client connected from ... as <clientId> (... u'<user>')".
int connectionsAs(const std::string& brokerLog, const std::string& clientId,
                  const std::string& user) {
  int n = 0;
  std::size_t pos = 0;
  std::string as = " as " + clientId + " (";
  std::string u = "u'" + user + "'";
  while ((pos = brokerLog.find("New client connected", pos)) != std::string::npos) {
    std::size_t end = brokerLog.find('\n', pos);
    std::string line = brokerLog.substr(pos, end - pos);
    if (line.find(as) != std::string::npos && line.find(u) != std::string::npos) ++n;
    pos = end;
  }
  return n;
}

int occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

TEST(E2eHubAgent, EnrollDeployStatusLogsAndRevoke) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto sys, System::create({.name = "e2e-hub-agent"}));
  // Two real agents: one bootstraps with the hub CA file, the other pins its fingerprint.
  SKIFF_ASSERT_OK(sys->addAgent("pi-a", {{"site", "a"}, {"tier", "edge"}}, Bootstrap::kCaFile));
  SKIFF_ASSERT_OK(sys->addAgent("pi-b", {{"site", "b"}, {"tier", "edge"}}, Bootstrap::kCaSha256));

  // Agents connect with their device id as MQTT client id (protocol.md), as their CN's user.
  std::string brokerLog = sys->hub().brokerLog();
  EXPECT_GE(connectionsAs(brokerLog, "pi-a", "pi-a"), 1) << brokerLog;
  EXPECT_GE(connectionsAs(brokerLog, "pi-b", "pi-b"), 1) << brokerLog;

  std::string image = sys->registry().imageRef("latest");
  std::string manifest = sys->file("hello.yaml", R"y(id: hello
targetSelector: "site=a,tier in (edge)"
labels: {app: hello}
pods:
  - name: hello
    containers:
      - name: ticker
        image: ")y" + image + R"y("
        command: ["sh", "-c"]
        args: ["i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done"]
      - name: web
        image: ")y" + image + R"y("
        command: ["httpd", "-f", "-p", "18080"]
        env: [{name: GREETING, value: hello}]
)y");
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string applied,
                             sys->skiffctlOk({"deploy", "apply", "-f", manifest}));
  EXPECT_NE(applied.find("deployment/hello applied (generation 1, targets 1 device)"),
            std::string::npos)
      << applied;

  // Both containers of the pod run in Podman, created by pi-a; pi-b (site=b) runs nothing.
  ASSERT_TRUE(eventually([&] {
    return sys->runningModules("pi-a") == std::vector<std::string>{"hello/ticker", "hello/web"};
  })) << sys->diagnostics();
  SKIFF_ASSERT_OK_AND_ASSIGN(auto web, sys->moduleContainers("pi-a", "hello/web"));
  ASSERT_EQ(web.size(), 1u);
  EXPECT_EQ(web[0].value("Image", ""), image);
  EXPECT_EQ(web[0]["Labels"].value("io.skiff.deployment", ""), "hello");
  SKIFF_ASSERT_OK_AND_ASSIGN(auto onB, sys->containers("pi-b"));
  EXPECT_TRUE(onB.empty()) << "pi-b is site=b";

  // The hub aggregates the agent's reports.
  std::string status;
  ASSERT_TRUE(eventually([&] {
    auto r = sys->skiffctl({"deploy", "status", "hello"});
    status = r.isOk() ? r->output : r.status().toString();
    return status.find("1 targeted, 1 applied, 1 running, 0 failed, 0 offline") !=
           std::string::npos;
  })) << status;
  EXPECT_NE(status.find("hello/ticker=running"), std::string::npos) << status;
  EXPECT_NE(status.find("hello/web=running"), std::string::npos) << status;
  EXPECT_NE(status.find("hello=Running("), std::string::npos) << status;  // with its pod IP
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string json,
                             sys->skiffctlOk({"-o", "json", "deploy", "status", "hello"}));
  auto st = common::parseJson(json.substr(json.find('{')));
  ASSERT_TRUE(st.isOk()) << json;

  // Logs: a plain read, then -f streams lines the container prints while we follow.
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string once,
                             sys->skiffctlOk({"logs", "pi-a", "hello/ticker", "--tail", "3"}));
  EXPECT_GE(lastTick(once), 0) << once;
  SubprocessOptions so;
  so.argv = sys->skiffctlArgv();
  so.argv.insert(so.argv.end(), {"logs", "pi-a", "hello/ticker", "-f", "--tail", "1"});
  so.logFile = sys->dir() + "/follow.log";
  SKIFF_ASSERT_OK_AND_ASSIGN(Subprocess follow, Subprocess::start(so));
  int first = -1;
  ASSERT_TRUE(eventually(
      [&] {
        first = lastTick(common::readFile(so.logFile).valueOr(""));
        return first >= 0;
      },
      30s))
      << common::readFile(so.logFile).valueOr("");
  ASSERT_TRUE(eventually(
      [&] { return lastTick(common::readFile(so.logFile).valueOr("")) >= first + 5; }, 30s))
      << "no new lines while following: " << common::readFile(so.logFile).valueOr("");
  EXPECT_TRUE(follow.isRunning());
  SKIFF_ASSERT_OK(follow.signal(SIGINT));
  ASSERT_TRUE(eventually([&] { return !follow.isRunning(); }, 10s));
  EXPECT_EQ(follow.exitCode(), 0) << common::readFile(so.logFile).valueOr("");

  // Delete the device: the broker drops the real agent's connection and refuses it afterwards.
  int before = connectionsAs(sys->hub().brokerLog(), "pi-a", "pi-a");
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string removed, sys->skiffctlOk({"device", "remove", "pi-a"}));
  EXPECT_NE(removed.find("device/pi-a deleted"), std::string::npos) << removed;
  ASSERT_TRUE(
      eventually([&] { return sys->hub().metric("skiff_hub_session_takeovers_total") >= 1; }, 30s))
      << sys->hub().metrics().valueOr("");
  EXPECT_EQ(sys->hub().metric("skiff_hub_revocation_checks_total{result=\"refused\"}"), 1);
  // The agent keeps trying (0.5 s doubling backoff): give it several attempts.
  std::this_thread::sleep_for(8s);
  brokerLog = sys->hub().brokerLog();
  EXPECT_EQ(connectionsAs(brokerLog, "pi-a", "pi-a"), before)
      << "the deleted device connected again:\n"
      << brokerLog;
  // The revocation probe and the agent's reconnects fail the TLS handshake (CRL).
  EXPECT_GE(occurrences(brokerLog, "certificate verify failed"), 2) << brokerLog;
  EXPECT_GE(occurrences(sys->agent("pi-a").log(), "mqtt: connect failed"), 2)
      << sys->agent("pi-a").log();
  EXPECT_TRUE(sys->agent("pi-a").running()) << "the agent should keep running offline";
  // Its containers keep running (offline autonomy); pi-b is untouched and still online.
  EXPECT_EQ(sys->runningModules("pi-a").size(), 2u);
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string devices, sys->skiffctlOk({"device", "list"}));
  EXPECT_EQ(devices.find("pi-a"), std::string::npos) << devices;
  EXPECT_NE(devices.find("pi-b"), std::string::npos) << devices;
}

// A followed log stream ends (instead of hanging) when its device goes away: the agent killed
// (its Last Will makes it offline) or the broker restarted under both ends. And a stream the
// agent cannot deliver any more is not kept open on the device.
TEST(E2eHubAgent, FollowedLogsEndWhenTheDeviceOrBrokerGoesAway) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto sys, System::create({.name = "e2e-logs-end"}));
  SKIFF_ASSERT_OK(sys->addAgent("pi-a", {{"site", "a"}}));
  // (A schema-1 manifest: the hub converts module t/ticker to pod t-ticker, container ticker.)
  std::string manifest = sys->file("t.yaml", R"y(id: t
targetSelector: site=a
modules:
  - name: t/ticker
    image: ")y" + sys->registry().imageRef("latest") +
                                                 R"y("
    command: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]
)y");
  SKIFF_ASSERT_OK(sys->skiffctlOk({"deploy", "apply", "-f", manifest}));
  ASSERT_TRUE(eventually([&] { return sys->runningModules("pi-a").size() == 1; }))
      << sys->diagnostics();
  auto follow = [&](const std::string& name) -> Result<Subprocess> {
    SubprocessOptions so;
    so.argv = sys->skiffctlArgv();
    so.argv.insert(so.argv.end(), {"logs", "pi-a", "t-ticker/ticker", "-f", "--tail", "1"});
    so.logFile = sys->dir() + "/" + name + ".log";
    SKIFF_ASSIGN_OR_RETURN(Subprocess p, Subprocess::start(so));
    std::string file = so.logFile;
    SKIFF_RETURN_IF_ERROR(waitUntil(
        [&] { return lastTick(common::readFile(file).valueOr("")) >= 0; }, 30s, "first line"));
    return p;
  };

  // The broker restarts: both ends lose the stream; skiffctl ends with "unavailable" (exit 5).
  SKIFF_ASSERT_OK_AND_ASSIGN(Subprocess f1, follow("follow-broker"));
  SKIFF_ASSERT_OK(sys->hub().restartBroker());
  ASSERT_TRUE(eventually([&] { return !f1.isRunning(); }, 30s))
      << "skiffctl logs -f still running after a broker restart: "
      << common::readFile(sys->dir() + "/follow-broker.log").valueOr("");
  EXPECT_EQ(f1.exitCode(), 5) << common::readFile(sys->dir() + "/follow-broker.log").valueOr("");
  // The agent stopped streaming: no endless "response not delivered" retries.
  ASSERT_TRUE(eventually([&] { return sys->deviceOnline("pi-a"); })) << sys->diagnostics();
  std::this_thread::sleep_for(2s);
  EXPECT_LE(occurrences(sys->agent("pi-a").log(), "response not delivered"), 1)
      << sys->agent("pi-a").log();

  // The agent is killed: its Last Will marks it offline and the stream ends.
  SKIFF_ASSERT_OK_AND_ASSIGN(Subprocess f2, follow("follow-kill"));
  SKIFF_ASSERT_OK(sys->agent("pi-a").kill9());
  ASSERT_TRUE(eventually([&] { return !f2.isRunning(); }, 30s))
      << "skiffctl logs -f still running after its device died: "
      << common::readFile(sys->dir() + "/follow-kill.log").valueOr("");
  std::string out = common::readFile(sys->dir() + "/follow-kill.log").valueOr("");
  EXPECT_EQ(f2.exitCode(), 5) << out;
  EXPECT_NE(out.find("offline"), std::string::npos) << out;
}

}  // namespace
}  // namespace skiff::test
