// skiff-agent as a process against real peers: Mosquitto with TLS + the device ACL, Podman's
// Docker API, a registry with busybox, and the hub double (enrollment over HTTPS, signed desired
// documents over MQTT). Each test enrolls a device through the binary first.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "common/clock.h"
#include "common/fs.h"
#include "common/json.h"
#include "tests/edge_agent/agent_harness.h"
#include "tests/support/http.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using namespace std::chrono_literals;
using protocol::ModuleState;

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto peers = AgentPeers::create();
    ASSERT_TRUE(peers.isOk()) << peers.status();
    peers_ = std::move(peers).value();
    auto dir = TempDir::create("agent");
    ASSERT_TRUE(dir.isOk()) << dir.status();
    dir_.emplace(std::move(dir).value());
  }

  // Enrolls `device` and returns its agent (not started).
  std::unique_ptr<AgentProcess> newAgent(const std::string& device,
                                         std::vector<std::string> extraArgs = {}) {
    auto agent =
        std::make_unique<AgentProcess>(dir_->file("state-" + device), peers_.podman->socketPath(),
                                       dir_->path(), AgentRunOptions{std::move(extraArgs)});
    Status s = enrollDevice(*agent, *peers_.hub, device);
    EXPECT_TRUE(s.isOk()) << s;
    return agent;
  }

  HubDouble& hub() { return *peers_.hub; }
  PodmanFixture& podman() { return *peers_.podman; }
  RegistryFixture& registry() { return *peers_.registry; }

  // Waits until every listed module runs; returns that report.
  protocol::Reported waitRunning(const std::string& device, std::int64_t version,
                                 const std::vector<std::string>& modules,
                                 std::chrono::milliseconds timeout = 120s) {
    auto r = hub().waitReported(
        device,
        [&](const protocol::Reported& rep) {
          if (rep.appliedVersion != version) return false;
          for (const auto& name : modules) {
            const auto* m = moduleIn(rep, name);
            if (m == nullptr || m->state != ModuleState::kRunning || !m->ready) return false;
          }
          return true;
        },
        timeout, "all modules running");
    EXPECT_TRUE(r.isOk()) << r.status();
    return r.isOk() ? *r : protocol::Reported{};
  }

  std::string exec(const std::string& id, const std::string& script) {
    auto r = podman().podman({"exec", id, "sh", "-c", script}, 60s);
    EXPECT_TRUE(r.isOk()) << r.status();
    return r.isOk() ? r->output : "";
  }

  AgentPeers peers_;
  std::optional<TempDir> dir_;
};

protocol::Volume filesVolume(const std::string& name, const std::string& path,
                             const std::string& content, int mode) {
  protocol::Volume v;
  v.name = name;
  v.kind = protocol::Volume::Kind::kFiles;
  v.files.push_back({path, content, mode});
  return v;
}

TEST_F(AgentTest, SignedDesiredStateRunsModulesReplacesAndRemovesThem) {
  const std::string device = "pi-full";
  // A container this agent did not create, even though it carries a module label: never touched.
  SKIFF_ASSERT_OK_AND_ASSIGN(
      auto foreign,
      podman().podman({"run", "-d", "--name", "foreign-" + device, "--label",
                       "io.skiff.module=web/app", registry().imageRef(), "sleep", "3600"}));
  ASSERT_EQ(foreign.exitCode, 0) << foreign.output;
  SKIFF_ASSERT_OK_AND_ASSIGN(int hostPort, freeLoopbackPort());

  auto agent = newAgent(device);
  SKIFF_ASSERT_OK(agent->start());
  SKIFF_ASSERT_OK(hub().waitPresence(device, true, 60s));

  auto web = busyboxModule(
      registry(), "web/app",
      {"echo \"$GREETING $0 $1\" > /tmp/started; exec httpd -f -p 8080 -h /www", "alpha", "beta"});
  auto& app = web.containers[0];
  app.env = {{"GREETING", "hello-skiff"}, {"MODE", "test"}};
  app.ports = {{8080, hostPort, "TCP", "127.0.0.1"}};
  app.workingDir = "/scratch";
  app.resources.memoryBytes = 64 << 20;
  app.resources.cpuMillis = 500;
  web.volumes = {filesVolume("site", "index.html", "skiff-index\n", 0644),
                 filesVolume("creds", "token", "s3cret", 0600)};
  protocol::Volume scratch;
  scratch.name = "scratch";
  scratch.kind = protocol::Volume::Kind::kEmptyDir;
  web.volumes.push_back(scratch);
  app.mounts = {{"site", "/www", true, ""},
                {"creds", "/etc/creds", true, ""},
                {"scratch", "/scratch", false, ""}};
  auto side = busyboxModule(registry(), "side/car", {"while true; do sleep 1; done"});
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 1, {web, side})));

  protocol::Reported rep = waitRunning(device, 1, {"web/app", "side/car"});
  ASSERT_FALSE(HasFailure());
  const auto* w = moduleIn(rep, "web/app");
  EXPECT_EQ(podIn(rep, "web")->specHash, protocol::specHash(web));
  EXPECT_EQ(podIn(rep, "web")->phase, "Running");
  EXPECT_FALSE(podIn(rep, "web")->podIP.empty());
  EXPECT_EQ(w->deploymentId, "dep-web");
  EXPECT_TRUE(w->imageId.starts_with("sha256:")) << w->imageId;
  EXPECT_EQ(w->restartCount, 0);
  EXPECT_FALSE(w->startedAt.empty());
  EXPECT_EQ(w->health, protocol::Health::kHealthy);
  EXPECT_EQ(rep.facts.arch, "amd64");
  EXPECT_EQ(rep.facts.engine, "podman 4.3.1");
  EXPECT_EQ(rep.facts.agentVersion, SKIFF_TEST_VERSION);
  EXPECT_GT(rep.facts.cpus, 0);
  EXPECT_GT(rep.facts.memoryBytes, 0);
  EXPECT_FALSE(rep.desiredError.has_value());
  const std::string webId = w->containerId;
  const std::string sideId = moduleIn(rep, "side/car")->containerId;

  // From inside the container: env, command/args, files with their modes, read-only mounts,
  // working directory.
  std::string out =
      exec(webId,
           "cat /tmp/started; cat /etc/creds/token; echo; stat -c %a /etc/creds/token; "
           "pwd; echo $MODE; touch /www/x 2>/dev/null || echo read-only");
  EXPECT_EQ(out, "hello-skiff alpha beta\ns3cret\n600\n/scratch\ntest\nread-only\n");
  // The published port serves the ConfigMap-style file.
  SKIFF_ASSERT_OK(waitUntil(
      [&] {
        auto r = httpGet("http://127.0.0.1:" + std::to_string(hostPort) + "/index.html");
        return r.isOk() && r->status == 200 && r->body == "skiff-index\n";
      },
      30s, "published port serving the mounted file"));
  // Limits and the engine restart policy (the agent restarts containers itself).
  auto inspect = httpGet("http://d/v1.40/containers/" + webId + "/json", {}, podman().socketPath());
  ASSERT_TRUE(inspect.isOk());
  auto ij = common::parseJson(inspect->body);
  ASSERT_TRUE(ij.isOk());
  EXPECT_EQ((*ij)["HostConfig"]["Memory"].get<std::int64_t>(), 64 << 20);
  EXPECT_EQ((*ij)["HostConfig"]["NanoCpus"].get<std::int64_t>(), 500000000);
  EXPECT_EQ((*ij)["Config"]["Labels"]["io.skiff.agent"], device);

  // Metrics arrive with per-module usage.
  SKIFF_EXPECT_OK(hub().waitMetrics(
      device,
      [](const protocol::Metrics& m) {
        return m.memoryTotalBytes > 0 && m.diskTotalBytes > 0 && m.modules.size() == 2;
      },
      30s));

  // An image change replaces the container.
  SKIFF_ASSERT_OK(registry().pushBusybox("v2"));
  app.image = registry().imageRef("v2");
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 2, {web, side})));
  rep = waitRunning(device, 2, {"web/app", "side/car"});
  ASSERT_FALSE(HasFailure());
  EXPECT_NE(moduleIn(rep, "web/app")->containerId, webId);
  EXPECT_EQ(moduleIn(rep, "web/app")->image, registry().imageRef("v2"));
  EXPECT_EQ(moduleIn(rep, "side/car")->containerId, sideId);
  EXPECT_EQ(containerState(podman(), webId).status().code(), common::StatusCode::kNotFound);

  // Removing a module removes its container and its files.
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 3, {side})));
  auto removed = hub().waitReported(
      device,
      [](const protocol::Reported& r) {
        return r.appliedVersion == 3 && moduleIn(r, "web/app") == nullptr;
      },
      60s);
  SKIFF_ASSERT_OK(removed);
  SKIFF_ASSERT_OK(waitUntil(
      [&] {
        auto ids = containersWithLabel(podman(), "io.skiff.agent", device);
        auto apps = containersWithLabel(podman(), "io.skiff.kind", "container");
        return ids.isOk() && ids->size() == 2 && apps.isOk() && apps->size() == 1 &&
               apps->front() == sideId && !std::filesystem::exists(agent->stateDir() + "/pods/web");
      },
      60s, "only side/car (and its sandbox) left, web's files gone"));
  // The foreign container was never touched.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto foreignIds,
                             containersWithLabel(podman(), "io.skiff.module", "web/app"));
  ASSERT_EQ(foreignIds.size(), 1u);
  EXPECT_EQ(containerState(podman(), foreignIds[0]).valueOr(""), "running");

  // SIGTERM: the agent announces offline and stops, the workloads keep running.
  EXPECT_EQ(agent->stop(), 0);
  SKIFF_EXPECT_OK(hub().waitPresence(device, false, 20s));
  EXPECT_EQ(containerState(podman(), sideId).valueOr(""), "running");
}

TEST_F(AgentTest, ExitingContainersAreRestartedWithBackoffPerRestartPolicy) {
  const std::string device = "pi-crash";
  auto agent = newAgent(device, {"--crash-loop-backoff", "2s"});
  SKIFF_ASSERT_OK(agent->start());
  auto crash = busyboxModule(registry(), "crash/loop", {"sleep 0.2; exit 3"});
  auto done = busyboxModule(registry(), "job/ok", {"exit 0"});
  done.restartPolicy = protocol::RestartPolicy::kOnFailure;
  auto never = busyboxModule(registry(), "jobnever/never", {"exit 1"});
  never.restartPolicy = protocol::RestartPolicy::kNever;
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 1, {crash, done, never})));

  // Restarted at once the first time, then with CrashLoopBackOff between attempts.
  auto backoff = hub().waitReported(
      device,
      [](const protocol::Reported& r) {
        const auto* m = moduleIn(r, "crash/loop");
        return m != nullptr && m->reason == "CrashLoopBackOff" && m->restartCount >= 1 &&
               m->lastTermination && m->lastTermination->exitCode == 3;
      },
      120s, "CrashLoopBackOff");
  SKIFF_ASSERT_OK(backoff);
  EXPECT_EQ(moduleIn(*backoff, "crash/loop")->state, ModuleState::kWaiting);
  EXPECT_EQ(moduleIn(*backoff, "crash/loop")->lastTermination->reason, "Error");
  auto later = hub().waitReported(
      device,
      [](const protocol::Reported& r) {
        const auto* m = moduleIn(r, "crash/loop");
        return m != nullptr && m->restartCount >= 3;
      },
      120s, "three restarts");
  SKIFF_ASSERT_OK(later);
  // Backoff doubles: the reported delays grow 2s → 4s.
  bool saw4s = false;
  for (const auto& r : hub().reportedHistory(device)) {
    const auto* m = moduleIn(r, "crash/loop");
    if (m != nullptr && m->message.find("back-off 4s") != std::string::npos) saw4s = true;
  }
  EXPECT_TRUE(saw4s);

  auto jobs = hub().waitReported(
      device,
      [](const protocol::Reported& r) {
        const auto* ok = moduleIn(r, "job/ok");
        const auto* nv = moduleIn(r, "jobnever/never");
        return ok != nullptr && ok->state == ModuleState::kTerminated && nv != nullptr &&
               nv->state == ModuleState::kTerminated;
      },
      60s, "jobs terminated");
  SKIFF_ASSERT_OK(jobs);
  EXPECT_EQ(moduleIn(*jobs, "job/ok")->reason, "Completed");
  EXPECT_EQ(moduleIn(*jobs, "job/ok")->exitCode, 0);
  EXPECT_EQ(moduleIn(*jobs, "job/ok")->restartCount, 0);
  EXPECT_EQ(moduleIn(*jobs, "jobnever/never")->reason, "Error");
  EXPECT_EQ(moduleIn(*jobs, "jobnever/never")->exitCode, 1);
  EXPECT_EQ(moduleIn(*jobs, "jobnever/never")->restartCount, 0);

  // Restart counts survive an agent restart.
  int before = moduleIn(*later, "crash/loop")->restartCount;
  EXPECT_EQ(agent->stop(), 0);
  SKIFF_ASSERT_OK(agent->start());
  SKIFF_ASSERT_OK(hub().waitReported(
      device,
      [&](const protocol::Reported& r) {
        const auto* m = moduleIn(r, "crash/loop");
        return r.seq == 1 && m != nullptr && m->restartCount >= before;
      },
      60s, "first report of the restarted agent"));
}

TEST_F(AgentTest, BrokerOutageKeepsContainersRunningAndAgentReconverges) {
  const std::string device = "pi-outage";
  auto agent = newAgent(device);
  SKIFF_ASSERT_OK(agent->start());
  auto a = busyboxModule(registry(), "a/app", {"while true; do sleep 1; done"});
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 1, {a})));
  auto rep = waitRunning(device, 1, {"a/app"});
  ASSERT_FALSE(HasFailure());
  const std::string id = moduleIn(rep, "a/app")->containerId;

  peers_.broker->stop();
  auto until = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_EQ(containerState(podman(), id).valueOr(""), "running");
    ASSERT_TRUE(agent->running());
    std::this_thread::sleep_for(2s);
  }
  SKIFF_ASSERT_OK(peers_.broker->start());
  SKIFF_ASSERT_OK(hub().waitBusConnected(30s));
  // The agent reconnects (backoff ≤ 30 s) and announces itself; a new document converges.
  SKIFF_ASSERT_OK(hub().waitPresence(device, true, 60s));
  auto b = busyboxModule(registry(), "b/app", {"while true; do sleep 1; done"});
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 2, {a, b})));
  rep = waitRunning(device, 2, {"a/app", "b/app"});
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(moduleIn(rep, "a/app")->containerId, id);
}

TEST_F(AgentTest, KillNineWhileBrokerDownReconcilesFromDisk) {
  const std::string device = "pi-kill";
  auto agent = newAgent(device);
  SKIFF_ASSERT_OK(agent->start());
  auto a = busyboxModule(registry(), "a/app", {"while true; do sleep 1; done"});
  auto b = busyboxModule(registry(), "b/app", {"while true; do sleep 1; done"});
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 1, {a, b})));
  auto rep = waitRunning(device, 1, {"a/app", "b/app"});
  ASSERT_FALSE(HasFailure());
  const std::string idA = moduleIn(rep, "a/app")->containerId;
  const std::string idB = moduleIn(rep, "b/app")->containerId;

  peers_.broker->stop();
  SKIFF_ASSERT_OK(agent->kill9());
  // While nobody watches, one workload disappears and another dies.
  SKIFF_ASSERT_OK(podman().podman({"rm", "-f", "-t", "0", idA}).status());
  SKIFF_ASSERT_OK(podman().podman({"stop", "-t", "0", idB}).status());

  // The restarted agent has no broker: it works from the persisted desired state.
  SKIFF_ASSERT_OK(agent->start());
  SKIFF_ASSERT_OK(waitUntil(
      [&] {
        auto ids = containersWithLabel(podman(), "io.skiff.module", "a/app");
        return ids.isOk() && ids->size() == 1 &&
               containerState(podman(), ids->front()).valueOr("") == "running";
      },
      120s, "app/a recreated from disk without a broker"));
  SKIFF_ASSERT_OK(waitUntil([&] { return containerState(podman(), idB).valueOr("") == "running"; },
                            60s, "app/b restarted without a broker"));
  EXPECT_NE(agent->log().find("reconciling from the persisted desired state"), std::string::npos);

  SKIFF_ASSERT_OK(peers_.broker->start());
  // The new agent process reports (seq restarts at 1) the recreated and the restarted module.
  SKIFF_ASSERT_OK_AND_ASSIGN(rep, hub().waitReported(
                                      device,
                                      [&](const protocol::Reported& r) {
                                        const auto* ma = moduleIn(r, "a/app");
                                        const auto* mb = moduleIn(r, "b/app");
                                        return r.appliedVersion == 1 && ma != nullptr &&
                                               mb != nullptr &&
                                               ma->state == ModuleState::kRunning &&
                                               ma->containerId != idA &&
                                               mb->state == ModuleState::kRunning;
                                      },
                                      120s, "report after reconnect"));
  EXPECT_EQ(moduleIn(rep, "b/app")->restartCount, 1);
  EXPECT_EQ(moduleIn(rep, "b/app")->containerId, idB);
}

TEST_F(AgentTest, TornStateFileIsNeverUsed) {
  const std::string device = "pi-torn";
  auto agent = newAgent(device);
  SKIFF_ASSERT_OK(agent->start());
  auto a = busyboxModule(registry(), "a/app", {"while true; do sleep 1; done"});
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 1, {a})));
  auto rep = waitRunning(device, 1, {"a/app"});
  ASSERT_FALSE(HasFailure());
  const std::string id = moduleIn(rep, "a/app")->containerId;
  EXPECT_EQ(agent->stop(), 0);
  EXPECT_EQ(containerState(podman(), id).valueOr(""), "running");

  // Power loss mid-write (simulated): the document is cut in half.
  const std::string path = agent->stateDir() + "/desired.json";
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string doc, common::readFile(path));
  std::filesystem::resize_file(path, doc.size() / 2);

  peers_.broker->stop();
  SKIFF_ASSERT_OK(agent->start());
  SKIFF_ASSERT_OK(
      waitUntil([&] { return agent->log().find("state file is corrupt") != std::string::npos; },
                30s, "corruption detected"));
  EXPECT_TRUE(std::filesystem::exists(path + ".corrupt"));
  // Nothing was acted on: the running container is left exactly as it was.
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(containerState(podman(), id).valueOr(""), "running");
  SKIFF_ASSERT_OK_AND_ASSIGN(auto ids, containersWithLabel(podman(), "io.skiff.kind", "container"));
  EXPECT_EQ(ids, std::vector<std::string>{id});

  // With the broker back, the hub's retained document is accepted again and written anew.
  SKIFF_ASSERT_OK(peers_.broker->start());
  SKIFF_ASSERT_OK(hub().waitBusConnected(30s));
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 2, {a})));
  rep = waitRunning(device, 2, {"a/app"});
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(moduleIn(rep, "a/app")->containerId, id);
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string rewritten, common::readFile(path));
  SKIFF_EXPECT_OK(protocol::verifyDesired(rewritten, *hub().signingKey().publicKeyPem()));
}

TEST_F(AgentTest, RefusesUnsignedForgedReplayedMalformedAndForeignDocuments) {
  const std::string device = "pi-gate";
  auto agent = newAgent(device);
  SKIFF_ASSERT_OK(agent->start());
  auto a = busyboxModule(registry(), "a/app", {"while true; do sleep 1; done"});
  auto v1 = desiredDoc(device, 1, {a});
  SKIFF_ASSERT_OK(hub().publishDesired(v1));
  waitRunning(device, 1, {"a/app"});
  auto b = busyboxModule(registry(), "b/app", {"while true; do sleep 1; done"});
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 2, {a, b})));
  auto rep = waitRunning(device, 2, {"a/app", "b/app"});
  ASSERT_FALSE(HasFailure());
  SKIFF_ASSERT_OK_AND_ASSIGN(auto before, containersWithLabel(podman(), "io.skiff.agent", device));
  ASSERT_EQ(before.size(), 4u);  // two pods: two sandboxes, two containers

  auto c = busyboxModule(registry(), "c/app", {"sleep 3600"});
  auto expectRefused = [&](const std::string& payload, std::int64_t version,
                           const std::string& reason) {
    SKIFF_ASSERT_OK(hub().publishRaw(device, payload));
    auto r = hub().waitReported(
        device,
        [&](const protocol::Reported& rep) {
          return rep.desiredError && rep.desiredError->reason == reason &&
                 rep.desiredError->version == version;
        },
        30s, reason);
    ASSERT_TRUE(r.isOk()) << r.status();
    EXPECT_EQ(r->appliedVersion, 2);
    EXPECT_EQ(r->modules.size(), 2u);
  };
  // Unsigned.
  std::string unsignedDoc = common::dumpJson(protocol::toJson(desiredDoc(device, 3, {a, b, c})));
  expectRefused(unsignedDoc, 3, "SignatureInvalid");
  // Forged: signed by another key.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto other,
                             common::tls::PrivateKey::generate(common::tls::KeyType::kEd25519));
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string forged,
                             protocol::signDesired(desiredDoc(device, 4, {a, b, c}), other));
  expectRefused(forged, 4, "SignatureInvalid");
  // Tampered after signing.
  std::string tampered = hub().sign(desiredDoc(device, 5, {a, b}));
  auto pos = tampered.find("while true");
  ASSERT_NE(pos, std::string::npos);
  tampered.replace(pos, 5, "until");
  expectRefused(tampered, 5, "SignatureInvalid");
  // Replayed: the old, validly signed version 1.
  expectRefused(hub().sign(v1), 1, "StaleVersion");
  // Same version as the applied one with different content.
  expectRefused(hub().sign(desiredDoc(device, 2, {a, b, c})), 2, "StaleVersion");
  // Another device's document.
  expectRefused(hub().sign(desiredDoc("pi-other", 6, {a, b, c})), 6, "WrongDevice");
  // Malformed.
  expectRefused("{\"schema\":2,\"version\":7,\"pods\":", 0, "Malformed");
  expectRefused("{\"schema\":2,\"version\":8}", 8, "SignatureInvalid");
  // Newer than this agent understands, but really from the hub: refused whole, said so.
  common::Json future = protocol::toJson(desiredDoc(device, 10, {a, b, c}));
  future["schema"] = 3;
  future["pods"][0]["newPodFeature"] = true;
  SKIFF_ASSERT_OK_AND_ASSIGN(
      std::string futureDoc,
      protocol::signDesiredJson(future, hub().signingKey(),
                                protocol::keyIdOf(*hub().signingKey().publicKeyPem())));
  expectRefused(futureDoc, 10, "UnsupportedSchema");

  // The engine was never touched.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto after, containersWithLabel(podman(), "io.skiff.agent", device));
  EXPECT_EQ(std::set<std::string>(before.begin(), before.end()),
            std::set<std::string>(after.begin(), after.end()));
  for (const auto& id : after) EXPECT_EQ(containerState(podman(), id).valueOr(""), "running");

  // A good document afterwards is accepted and clears the error.
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 11, {a, b, c})));
  rep = waitRunning(device, 11, {"a/app", "b/app", "c/app"});
  EXPECT_FALSE(rep.desiredError.has_value());
}

TEST_F(AgentTest, RpcPingLogsFollowCancelAndRestart) {
  const std::string device = "pi-rpc";
  auto agent = newAgent(device);
  SKIFF_ASSERT_OK(agent->start());
  auto talk = busyboxModule(registry(), "app/talk",
                            {"i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.2; done"});
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 1, {talk})));
  waitRunning(device, 1, {"app/talk"});
  ASSERT_FALSE(HasFailure());

  protocol::RpcRequest ping{"p1", "ping", common::Json::object()};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto pong, hub().rpc(device, ping, 30s));
  ASSERT_EQ(pong.size(), 1u);
  EXPECT_TRUE(pong[0].ok);
  EXPECT_EQ(pong[0].result["pong"], true);

  SKIFF_ASSERT_OK(waitUntil(
      [&] {
        protocol::RpcRequest req{"", "logs", {{"module", "app/talk"}, {"tailLines", 3}}};
        static int n = 0;
        req.id = "tail" + std::to_string(n++);
        auto r = hub().rpc(device, req, 30s);
        if (!r.isOk() || !r->back().ok) return false;
        std::string text;
        for (const auto& m : *r) text += m.result["data"].get<std::string>();
        return std::count(text.begin(), text.end(), '\n') == 3 && text.starts_with("line-");
      },
      30s, "tail of 3 lines"));

  // Follow, then cancel: the stream ends with a final message.
  protocol::RpcRequest follow{
      "f1", "logs", {{"module", "app/talk"}, {"follow", true}, {"tailLines", 0}}};
  SKIFF_ASSERT_OK(hub().sendRpc(device, follow));
  SKIFF_ASSERT_OK(
      waitUntil([&] { return hub().rpcResponses("f1").size() >= 3; }, 30s, "followed chunks"));
  protocol::RpcRequest cancel{"c1", "cancel", {{"id", "f1"}}};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto cancelled, hub().rpc(device, cancel, 30s));
  EXPECT_TRUE(cancelled.back().ok);
  SKIFF_ASSERT_OK(waitUntil(
      [&] {
        auto r = hub().rpcResponses("f1");
        return !r.empty() && r.back().final;
      },
      30s, "followed stream ended"));
  auto streamed = hub().rpcResponses("f1");
  for (std::size_t i = 0; i < streamed.size(); ++i) EXPECT_EQ(streamed[i].seq, std::int64_t(i));

  // Bad requests get clear errors.
  protocol::RpcRequest unknown{"u1", "logs", {{"module", "nope/x"}}};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto nf, hub().rpc(device, unknown, 30s));
  EXPECT_FALSE(nf.back().ok);
  EXPECT_EQ(nf.back().errorCode, "NotFound");
  protocol::RpcRequest badParam{"b1", "logs", {{"module", "app/talk"}, {"tailLines", -4}}};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto bad, hub().rpc(device, badParam, 30s));
  EXPECT_EQ(bad.back().errorCode, "InvalidArgument");
  EXPECT_NE(bad.back().errorMessage.find("params.tailLines"), std::string::npos);
  protocol::RpcRequest badMethod{"m1", "reboot", common::Json::object()};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto bm, hub().rpc(device, badMethod, 30s));
  EXPECT_EQ(bm.back().errorCode, "InvalidArgument");

  // Restart.
  protocol::RpcRequest restart{"r1", "restart", {{"module", "app/talk"}}};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto restarted, hub().rpc(device, restart, 60s));
  EXPECT_TRUE(restarted.back().ok) << restarted.back().errorMessage;
  SKIFF_ASSERT_OK(hub().waitReported(
      device,
      [](const protocol::Reported& r) {
        const auto* m = moduleIn(r, "app/talk");
        return m != nullptr && m->restartCount == 1 && m->state == ModuleState::kRunning;
      },
      30s, "restart counted"));
}

TEST_F(AgentTest, ProbesAndImagePullBackoff) {
  const std::string device = "pi-probe";
  auto agent = newAgent(device, {"--image-pull-backoff", "1s", "--image-pull-max-backoff", "2s"});
  SKIFF_ASSERT_OK(agent->start());
  SKIFF_ASSERT_OK_AND_ASSIGN(int hostPort, freeLoopbackPort());
  // Healthy for ~4 s, then the liveness file disappears: the agent restarts the container.
  auto flaky =
      busyboxModule(registry(), "app/flaky",
                    {"touch /tmp/alive; (sleep 4; rm /tmp/alive) & "
                     "mkdir -p /www; echo ok > /www/ready; exec httpd -f -p 8081 -h /www"});
  protocol::Probe live;
  live.kind = protocol::Probe::Kind::kExec;
  live.command = {"test", "-f", "/tmp/alive"};
  live.periodSeconds = 1;
  live.failureThreshold = 2;
  flaky.containers[0].livenessProbe = live;
  protocol::Probe ready;
  ready.kind = protocol::Probe::Kind::kHttpGet;
  ready.path = "/ready";
  ready.port = 8081;
  ready.periodSeconds = 1;
  flaky.containers[0].readinessProbe = ready;
  flaky.containers[0].ports = {{8081, hostPort, "TCP", "127.0.0.1"}};
  auto missing = busyboxModule(registry(), "later/app", {"sleep 3600"});
  missing.containers[0].image = registry().imageRef("later");
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 1, {flaky, missing})));

  SKIFF_ASSERT_OK(hub().waitReported(
      device,
      [](const protocol::Reported& r) {
        const auto* m = moduleIn(r, "app/flaky");
        return m != nullptr && m->state == ModuleState::kRunning && m->ready &&
               m->health == protocol::Health::kHealthy;
      },
      120s, "ready and healthy"));
  SKIFF_ASSERT_OK(hub().waitReported(
      device,
      [](const protocol::Reported& r) {
        const auto* m = moduleIn(r, "app/flaky");
        return m != nullptr && m->restartCount >= 1;
      },
      60s, "liveness restart"));

  SKIFF_ASSERT_OK(hub().waitReported(
      device,
      [](const protocol::Reported& r) {
        const auto* m = moduleIn(r, "later/app");
        return m != nullptr && m->reason == "ImagePullBackOff";
      },
      60s, "ImagePullBackOff"));
  bool sawErr = false;
  for (const auto& r : hub().reportedHistory(device)) {
    const auto* m = moduleIn(r, "later/app");
    if (m != nullptr && m->reason == "ErrImagePull" && !m->message.empty()) sawErr = true;
  }
  EXPECT_TRUE(sawErr);
  // Once the image exists the retry succeeds.
  SKIFF_ASSERT_OK(registry().pushBusybox("later"));
  SKIFF_ASSERT_OK(hub().waitReported(
      device,
      [](const protocol::Reported& r) {
        const auto* m = moduleIn(r, "later/app");
        return m != nullptr && m->state == ModuleState::kRunning;
      },
      60s, "pulled after backoff"));
}

TEST_F(AgentTest, HostPathDevicesBindMountsAndPrivileged) {
  const std::string device = "pi-dev";
  auto agent = newAgent(device);
  SKIFF_ASSERT_OK(agent->start());
  SKIFF_ASSERT_OK(common::makeDirs(dir_->file("host-data")));
  SKIFF_ASSERT_OK(common::writeFileAtomic(dir_->file("host-data/value"), "from-host\n"));
  auto m = busyboxModule(registry(), "hw/gpio", {"sleep 3600"});
  protocol::Volume dev;
  dev.name = "gpio";
  dev.kind = protocol::Volume::Kind::kHostPath;
  dev.hostPath = "/dev/zero";  // a character device, like /dev/gpiomem on a Pi
  protocol::Volume data;
  data.name = "data";
  data.kind = protocol::Volume::Kind::kHostPath;
  data.hostPath = dir_->file("host-data");
  m.volumes = {dev, data};
  m.containers[0].mounts = {{"gpio", "/dev/skiff-gpio", false, ""}, {"data", "/data", true, ""}};
  auto priv = busyboxModule(registry(), "hwpriv/priv", {"sleep 3600"});
  priv.containers[0].securityContext.privileged = true;
  SKIFF_ASSERT_OK(hub().publishDesired(desiredDoc(device, 1, {m, priv})));
  auto rep = waitRunning(device, 1, {"hw/gpio", "hwpriv/priv"});
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(exec(moduleIn(rep, "hw/gpio")->containerId,
                 "test -c /dev/skiff-gpio && echo chardev; cat /data/value; "
                 "touch /data/x 2>/dev/null || echo read-only"),
            "chardev\nfrom-host\nread-only\n");
  auto inspect =
      httpGet("http://d/v1.40/containers/" + moduleIn(rep, "hwpriv/priv")->containerId + "/json",
              {}, podman().socketPath());
  ASSERT_TRUE(inspect.isOk());
  auto j = common::parseJson(inspect->body);
  ASSERT_TRUE(j.isOk());
  EXPECT_EQ((*j)["HostConfig"]["Privileged"], true);
}

TEST_F(AgentTest, LastWillAnnouncesOfflineAfterKillNine) {
  const std::string device = "pi-will";
  auto agent = newAgent(device, {"--log-format", "json"});
  SKIFF_ASSERT_OK(agent->start());
  SKIFF_ASSERT_OK(hub().waitPresence(device, true, 60s));
  SKIFF_ASSERT_OK(agent->kill9());
  // keepAlive 30 s × 1.5 at most before the broker gives up on the connection; a killed process
  // closes its socket, so the broker publishes the will at once.
  SKIFF_EXPECT_OK(hub().waitPresence(device, false, 60s));
}

}  // namespace
}  // namespace skiff::test
