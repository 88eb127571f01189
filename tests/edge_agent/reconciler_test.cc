// Reconciler against gmock engine seams with an in-memory engine state behind them: what the
// reconciler may and may not do (nothing before desired state is known, only its own labelled
// containers), pod sandboxes (infra first, members join its namespaces, a dead sandbox is
// recreated and init containers rerun), init containers in order, sidecars, restart policies,
// back-offs, termination order, and the statuses the kubelet would report.
#include "edge_agent/reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "common/fs.h"
#include "common/protocol/protocol.h"
#include "edge_agent/pod/pod_config.h"
#include "tests/mocks/container_engine_mock.h"
#include "tests/support/process.h"

namespace skiff::edge_agent {
namespace {

using namespace std::chrono_literals;
using engine::ContainerInfo;
using engine::ContainerStatus;
using ::testing::_;
using ::testing::NiceMock;
namespace protocol = common::protocol;
using protocol::ModuleState;

// What the mocked engine holds.
struct FakeState {
  std::mutex mu;
  std::map<std::string, ContainerInfo> containers;
  std::map<std::string, engine::ContainerConfig> configs;  // by id
  std::vector<std::string> events;                         // "create <name>", "stop <module>", …
  std::set<std::string> images;                            // present locally
  std::string imageUser;
  int nextId = 0;
  int creates = 0;
  int pulls = 0;
  int pullFailuresLeft = 0;
  int imports = 0;
  std::vector<std::map<std::string, std::string>> listFilters;
  std::vector<std::string> pulledWithAuth;
};

std::string labelOf(const ContainerInfo& c, std::string_view key) {
  auto it = c.labels.find(std::string(key));
  return it == c.labels.end() ? "" : it->second;
}

std::string nameOf(const ContainerInfo& c) {
  std::string m = labelOf(c, pod::kLabelModule);
  return m.empty() ? labelOf(c, pod::kLabelPod) + "/infra" : m;
}

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::create("reconciler");
    ASSERT_TRUE(dir.isOk());
    dir_.emplace(std::move(dir).value());
    ASSERT_TRUE(common::writeFileAtomic(dir_->file("skiff-pause"), "pause-binary", 0755).isOk());
    ON_CALL(engine_, list(_)).WillByDefault([this](const std::map<std::string, std::string>& l) {
      std::lock_guard lock(state_.mu);
      state_.listFilters.push_back(l);
      std::vector<ContainerInfo> out;
      for (const auto& [id, c] : state_.containers) {
        bool all = true;
        for (const auto& [k, v] : l) all = all && labelOf(c, k) == v;
        if (all) out.push_back(c);
      }
      return common::Result<std::vector<ContainerInfo>>(out);
    });
    ON_CALL(engine_, ensureImage(_, _, _))
        .WillByDefault([this](
                           const std::string& image, protocol::PullPolicy policy,
                           const engine::RegistryAuth* auth) -> common::Result<engine::ImageInfo> {
          std::lock_guard lock(state_.mu);
          engine::ImageInfo info{std::string("sha256:") + std::string(64, 'a'), state_.imageUser};
          if (state_.images.contains(image)) return info;
          if (policy == protocol::PullPolicy::kNever) return common::notFound("no " + image);
          ++state_.pulls;
          if (auth != nullptr) state_.pulledWithAuth.push_back(auth->username);
          if (state_.pullFailuresLeft > 0) {
            --state_.pullFailuresLeft;
            return common::notFound("manifest unknown: " + image);
          }
          return info;
        });
    ON_CALL(resources_, importImage(_, _))
        .WillByDefault(
            [this](const std::string& ref, const std::string&) -> common::Result<std::string> {
              std::lock_guard lock(state_.mu);
              ++state_.imports;
              state_.images.insert(ref);
              return std::string("sha256:") + std::string(64, 'p');
            });
    ON_CALL(resources_, listVolumes(_))
        .WillByDefault([](const std::map<std::string, std::string>&) {
          return common::Result<std::vector<std::string>>(std::vector<std::string>{});
        });
    ON_CALL(engine_, create(_))
        .WillByDefault([this](const engine::ContainerConfig& c) -> common::Result<std::string> {
          std::lock_guard lock(state_.mu);
          ContainerInfo info;
          info.id = "c" + std::to_string(++state_.nextId);
          info.name = c.name;
          info.image = c.image;
          info.imageId = std::string("sha256:") + std::string(64, 'a');
          info.labels = c.labels;
          info.status = ContainerStatus::kCreated;
          state_.containers[info.id] = info;
          state_.configs[info.id] = c;
          state_.events.push_back("create " + nameOf(info));
          ++state_.creates;
          return info.id;
        });
    ON_CALL(engine_, start(_)).WillByDefault([this](const std::string& id) {
      std::lock_guard lock(state_.mu);
      auto& c = state_.containers.at(id);
      c.status = ContainerStatus::kRunning;
      c.startedAt = std::chrono::system_clock::now();
      if (labelOf(c, pod::kLabelKind) == "infra") c.ipAddress = "10.88.0." + id.substr(1);
      state_.events.push_back("start " + nameOf(c));
      return common::Status::ok();
    });
    ON_CALL(engine_, stop(_, _)).WillByDefault([this](const std::string& id, std::chrono::seconds) {
      std::lock_guard lock(state_.mu);
      auto it = state_.containers.find(id);
      if (it == state_.containers.end()) return common::notFound(id);
      if (it->second.status == ContainerStatus::kRunning) {
        it->second.status = ContainerStatus::kExited;
        it->second.exitCode = 137;
        it->second.finishedAt = std::chrono::system_clock::now();
        state_.events.push_back("stop " + nameOf(it->second));
      }
      return common::Status::ok();
    });
    ON_CALL(engine_, remove(_)).WillByDefault([this](const std::string& id) {
      std::lock_guard lock(state_.mu);
      auto it = state_.containers.find(id);
      if (it != state_.containers.end()) {
        state_.events.push_back("remove " + nameOf(it->second));
        state_.containers.erase(it);
      }
      return common::Status::ok();
    });
    ON_CALL(engine_, inspect(_))
        .WillByDefault([this](const std::string& id) -> common::Result<ContainerInfo> {
          std::lock_guard lock(state_.mu);
          auto it = state_.containers.find(id);
          if (it == state_.containers.end()) return common::notFound(id);
          return it->second;
        });
  }

  std::unique_ptr<Reconciler> make(std::function<void()> onChange = [] {}) {
    ReconcilerOptions o;
    o.agentId = "dev-1";
    o.stateDir = dir_->path();
    o.hostIP = "192.0.2.10";
    o.pauseBinary = dir_->file("skiff-pause");
    o.relistInterval = 50ms;
    o.crashLoopInitial = 200ms;
    o.crashLoopMax = 800ms;
    o.pullBackoffInitial = 100ms;
    o.pullBackoffMax = 400ms;
    o.errorBackoffBase = 20ms;
    return std::make_unique<Reconciler>(o, engine_, io_, resources_, std::move(onChange));
  }

  static protocol::ContainerSpec container(const std::string& name,
                                           const std::string& image = "reg:5000/app:1") {
    protocol::ContainerSpec c;
    c.name = name;
    c.image = image;
    return c;
  }

  // A pod of app containers named by `containers`.
  static protocol::PodSpec podOf(const std::string& name, std::vector<std::string> containers,
                                 const std::string& image = "reg:5000/app:1") {
    protocol::PodSpec p;
    p.name = name;
    p.deploymentId = "dep-" + name;
    p.terminationGracePeriodSeconds = 1;
    for (const auto& c : containers) p.containers.push_back(container(c, image));
    return p;
  }

  static protocol::DesiredState desired(std::int64_t v, std::vector<protocol::PodSpec> pods) {
    protocol::DesiredState d;
    d.deviceId = "dev-1";
    d.version = v;
    d.pods = std::move(pods);
    return d;
  }

  // Simulates the process in a module's running container exiting.
  void exitContainer(const std::string& module, int code) {
    std::lock_guard lock(state_.mu);
    for (auto& [id, c] : state_.containers) {
      if (labelOf(c, pod::kLabelModule) == module && c.status == ContainerStatus::kRunning) {
        c.status = ContainerStatus::kExited;
        c.exitCode = code;
        c.finishedAt = std::chrono::system_clock::now();
      }
    }
  }
  void killInfra(const std::string& podName) {
    std::lock_guard lock(state_.mu);
    for (auto& [id, c] : state_.containers) {
      if (labelOf(c, pod::kLabelPod) == podName && labelOf(c, pod::kLabelKind) == "infra") {
        c.status = ContainerStatus::kExited;
        c.exitCode = 137;
      }
    }
  }

  std::optional<protocol::ModuleStatus> statusOf(Reconciler& r, const std::string& module) {
    for (const auto& s : r.statuses().modules) {
      if (s.name == module) return s;
    }
    return std::nullopt;
  }
  std::optional<protocol::PodStatus> podStatus(Reconciler& r, const std::string& name) {
    for (const auto& s : r.statuses().pods) {
      if (s.name == name) return s;
    }
    return std::nullopt;
  }
  bool running(Reconciler& r, const std::string& module) {
    auto s = statusOf(r, module);
    return s && s->state == ModuleState::kRunning;
  }
  std::vector<std::string> events() {
    std::lock_guard lock(state_.mu);
    return state_.events;
  }
  // Index of the first event equal to e (or -1).
  int eventAt(const std::string& e) {
    auto ev = events();
    auto it = std::find(ev.begin(), ev.end(), e);
    return it == ev.end() ? -1 : static_cast<int>(it - ev.begin());
  }

  const test::Eventually eventually{10s, 5ms};

  NiceMock<test::MockContainerEngine> engine_;
  NiceMock<test::MockContainerIo> io_;
  NiceMock<test::MockEngineResources> resources_;
  FakeState state_;
  std::optional<test::TempDir> dir_;
};

TEST_F(ReconcilerTest, TouchesNothingBeforeDesiredStateIsKnown) {
  {
    std::lock_guard lock(state_.mu);
    ContainerInfo c;
    c.id = "old";
    c.labels = {{std::string(pod::kLabelAgent), "dev-1"}, {std::string(pod::kLabelPod), "gone"}};
    c.status = ContainerStatus::kRunning;
    state_.containers["old"] = c;
  }
  EXPECT_CALL(engine_, create(_)).Times(0);
  EXPECT_CALL(engine_, start(_)).Times(0);
  EXPECT_CALL(engine_, stop(_, _)).Times(0);
  EXPECT_CALL(engine_, remove(_)).Times(0);
  EXPECT_CALL(engine_, ensureImage(_, _, _)).Times(0);
  auto r = make();
  r->start();
  std::this_thread::sleep_for(400ms);
  EXPECT_FALSE(r->hasDesired());
  EXPECT_TRUE(r->engineReachable());
  r->stop();
}

TEST_F(ReconcilerTest, SandboxFirstThenMembersJoinItsNamespaces) {
  auto r = make();
  r->start();
  auto web = podOf("web", {"a", "b"});
  web.containers[1].image = "docker.io/library/busybox";
  web.containers[0].ports = {{8080, 18080, "TCP", ""}};
  auto d = desired(1, {web});
  d.registryCredentials = {{"reg:5000", "alice", "pw"}};
  r->setDesired(d);
  ASSERT_TRUE(eventually([&] { return running(*r, "web/a") && running(*r, "web/b"); }));
  auto a = *statusOf(*r, "web/a");
  EXPECT_TRUE(a.ready);
  EXPECT_TRUE(a.started);
  EXPECT_EQ(a.kind, protocol::ContainerKind::kContainer);
  EXPECT_EQ(a.specHash, pod::containerHash(web, web.containers[0]));
  auto p = *podStatus(*r, "web");
  EXPECT_EQ(p.phase, "Running");
  EXPECT_TRUE(p.ready);
  EXPECT_TRUE(p.initialized);
  EXPECT_EQ(p.hostIP, "192.0.2.10");
  EXPECT_TRUE(p.podIP.starts_with("10.88.0.")) << p.podIP;
  EXPECT_EQ(p.specHash, protocol::specHash(web));
  r->stop();
  std::lock_guard lock(state_.mu);
  EXPECT_EQ(state_.imports, 1);  // the pause image, imported once
  EXPECT_EQ(state_.creates, 3);
  EXPECT_EQ(state_.events.front(), "create web/infra");
  std::string infraId;
  for (const auto& [id, c] : state_.containers) {
    if (labelOf(c, pod::kLabelKind) == "infra") infraId = id;
  }
  ASSERT_FALSE(infraId.empty());
  const auto& infra = state_.configs.at(infraId);
  EXPECT_EQ(infra.networkMode, "bridge");
  EXPECT_EQ(infra.ipcMode, "shareable");
  EXPECT_EQ(infra.hostname, "web");
  ASSERT_EQ(infra.ports.size(), 1u);  // the pod's ports are published by the sandbox
  EXPECT_EQ(infra.ports[0].hostPort, 18080);
  EXPECT_EQ(infra.entrypoint, std::vector<std::string>{"/pause"});
  EXPECT_TRUE(infra.image.starts_with("localhost/skiff-pause:"));
  for (const auto& [id, c] : state_.configs) {
    if (id == infraId) continue;
    EXPECT_EQ(c.networkMode, "container:" + infraId);
    EXPECT_EQ(c.ipcMode, "container:" + infraId);
    EXPECT_TRUE(c.ports.empty());
    EXPECT_EQ(c.labels.at(std::string(pod::kLabelSandboxId)), infraId);
  }
  // Only web/a's registry has a credential.
  EXPECT_EQ(state_.pulledWithAuth, std::vector<std::string>{"alice"});
  for (const auto& [id, c] : state_.containers) {
    EXPECT_EQ(c.labels.at(std::string(pod::kLabelAgent)), "dev-1");
    EXPECT_EQ(c.labels.at(std::string(pod::kLabelManagedBy)), "skiff-agent");
    EXPECT_EQ(c.labels.at(std::string(pod::kLabelPod)), "web");
  }
  for (const auto& f : state_.listFilters) EXPECT_EQ(f.at(std::string(pod::kLabelAgent)), "dev-1");
}

// The agent reports what statuses() says when the reconciler signals a change: the last signal
// must come after a started container became started and ready (the prober's fresh state), or
// the report would keep "not ready" until something else changes.
TEST_F(ReconcilerTest, TheLastChangeSignalSeesTheContainerReady) {
  std::mutex mu;
  std::optional<protocol::ModuleStatus> reported;
  Reconciler* self = nullptr;
  auto r = make([&] {
    std::lock_guard lock(mu);
    if (self == nullptr) return;
    for (auto& m : self->statuses().modules) {
      if (m.name == "web/app") reported = m;
    }
  });
  {
    std::lock_guard lock(mu);
    self = r.get();
  }
  r->start();
  r->setDesired(desired(1, {podOf("web", {"app"})}));
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "web/app");
    return s && s->ready;
  }));
  std::this_thread::sleep_for(300ms);
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(reported.has_value());
    EXPECT_TRUE(reported->started);
    EXPECT_TRUE(reported->ready);
    self = nullptr;
  }
  r->stop();
}

TEST_F(ReconcilerTest, InitContainersRunInOrderBeforeAppContainers) {
  auto r = make();
  r->start();
  auto p = podOf("job", {"app"});
  p.initContainers = {container("one"), container("two")};
  r->setDesired(desired(1, {p}));
  ASSERT_TRUE(eventually([&] { return running(*r, "job/one"); }));
  // While the first init container runs: nothing else started; statuses as the kubelet's.
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(eventAt("create job/two"), -1);
  EXPECT_EQ(statusOf(*r, "job/two")->reason, "PodInitializing");
  EXPECT_EQ(statusOf(*r, "job/app")->reason, "PodInitializing");
  EXPECT_EQ(podStatus(*r, "job")->phase, "Pending");
  EXPECT_FALSE(podStatus(*r, "job")->initialized);
  exitContainer("job/one", 0);
  ASSERT_TRUE(eventually([&] { return running(*r, "job/two"); }));
  EXPECT_EQ(statusOf(*r, "job/one")->state, ModuleState::kTerminated);
  EXPECT_EQ(statusOf(*r, "job/one")->reason, "Completed");
  EXPECT_EQ(eventAt("create job/app"), -1);
  exitContainer("job/two", 0);
  ASSERT_TRUE(eventually([&] { return running(*r, "job/app"); }));
  EXPECT_TRUE(podStatus(*r, "job")->initialized);
  EXPECT_EQ(podStatus(*r, "job")->phase, "Running");
  EXPECT_LT(eventAt("start job/one"), eventAt("create job/two"));
  EXPECT_LT(eventAt("start job/two"), eventAt("create job/app"));
  r->stop();
}

TEST_F(ReconcilerTest, FailingInitContainerLoopsWithBackoffOrFailsANeverPod) {
  auto r = make();
  r->start();
  auto always = podOf("loop", {"app"});
  always.initContainers = {container("init")};
  auto never = podOf("once", {"app"});
  never.restartPolicy = protocol::RestartPolicy::kNever;
  never.initContainers = {container("init")};
  r->setDesired(desired(1, {always, never}));
  ASSERT_TRUE(eventually([&] { return running(*r, "loop/init") && running(*r, "once/init"); }));
  exitContainer("loop/init", 1);
  exitContainer("once/init", 1);
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "loop/init");
    return s && s->restartCount >= 1 && running(*r, "loop/init");
  }));
  exitContainer("loop/init", 1);
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "loop/init");
    return s && s->reason == "CrashLoopBackOff" && s->lastTermination &&
           s->lastTermination->exitCode == 1;
  }));
  EXPECT_EQ(podStatus(*r, "loop")->phase, "Pending");
  ASSERT_TRUE(eventually([&] { return podStatus(*r, "once")->phase == "Failed"; }));
  auto failed = *statusOf(*r, "once/init");
  EXPECT_EQ(failed.state, ModuleState::kTerminated);
  EXPECT_EQ(failed.reason, "Error");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(eventAt("create once/app"), -1);  // a Never pod whose init failed never runs apps
  EXPECT_EQ(eventAt("create loop/app"), -1);
  EXPECT_EQ(statusOf(*r, "once/init")->restartCount, 0);
  r->stop();
}

TEST_F(ReconcilerTest, SidecarStartsFirstAndOutlivesTheAppOfANeverPod) {
  auto r = make();
  r->start();
  auto p = podOf("batch", {"main"});
  p.restartPolicy = protocol::RestartPolicy::kNever;
  auto side = container("proxy");
  side.restartPolicy = protocol::RestartPolicy::kAlways;
  p.initContainers = {side};
  r->setDesired(desired(1, {p}));
  ASSERT_TRUE(eventually([&] { return running(*r, "batch/proxy") && running(*r, "batch/main"); }));
  EXPECT_LT(eventAt("start batch/proxy"), eventAt("create batch/main"));
  EXPECT_EQ(statusOf(*r, "batch/proxy")->kind, protocol::ContainerKind::kSidecar);
  // A sidecar that exits is restarted whatever the pod's restartPolicy.
  exitContainer("batch/proxy", 1);
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "batch/proxy");
    return s && s->restartCount == 1 && running(*r, "batch/proxy");
  }));
  // The app exits: the sidecar is stopped after it, the pod completes.
  exitContainer("batch/main", 0);
  ASSERT_TRUE(eventually([&] { return podStatus(*r, "batch")->phase == "Succeeded"; }));
  EXPECT_NE(eventAt("stop batch/proxy"), -1);
  EXPECT_EQ(statusOf(*r, "batch/proxy")->state, ModuleState::kTerminated);
  r->stop();
}

TEST_F(ReconcilerTest, DeadSandboxIsRecreatedAndInitContainersRunAgain) {
  auto r = make();
  r->start();
  auto p = podOf("web", {"app"});
  p.initContainers = {container("setup")};
  r->setDesired(desired(1, {p}));
  ASSERT_TRUE(eventually([&] { return running(*r, "web/setup"); }));
  exitContainer("web/setup", 0);
  ASSERT_TRUE(eventually([&] { return running(*r, "web/app"); }));
  std::string oldIp = podStatus(*r, "web")->podIP;
  std::string oldApp = statusOf(*r, "web/app")->containerId;
  killInfra("web");
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "web/setup");
    return s && s->state == ModuleState::kRunning;
  }));  // the init container runs again in the new sandbox
  exitContainer("web/setup", 0);
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "web/app");
    return s && s->state == ModuleState::kRunning && s->containerId != oldApp;
  }));
  EXPECT_EQ(statusOf(*r, "web/app")->restartCount, 1);
  EXPECT_NE(podStatus(*r, "web")->podIP, oldIp);
  std::lock_guard lock(state_.mu);
  int infras = 0;
  for (const auto& [id, c] : state_.containers) infras += labelOf(c, pod::kLabelKind) == "infra";
  EXPECT_EQ(infras, 1);  // the dead one was removed
  EXPECT_EQ(state_.containers.count(oldApp), 0u);
}

TEST_F(ReconcilerTest, AppContainerRestartKeepsTheSandbox) {
  auto r = make();
  r->start();
  r->setDesired(desired(1, {podOf("c", {"a"})}));
  ASSERT_TRUE(eventually([&] { return running(*r, "c/a"); }));
  std::string ip = podStatus(*r, "c")->podIP;
  // First exit: restarted at once.
  exitContainer("c/a", 2);
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "c/a");
    return s && s->restartCount == 1 && s->state == ModuleState::kRunning;
  }));
  EXPECT_EQ(statusOf(*r, "c/a")->lastTermination->exitCode, 2);
  // Second exit: CrashLoopBackOff for 200 ms before the restart.
  auto t0 = std::chrono::steady_clock::now();
  exitContainer("c/a", 2);
  ASSERT_TRUE(eventually([&] { return statusOf(*r, "c/a")->reason == "CrashLoopBackOff"; }));
  auto waiting = *statusOf(*r, "c/a");
  EXPECT_EQ(waiting.state, ModuleState::kWaiting);
  EXPECT_NE(waiting.message.find("back-off"), std::string::npos);
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "c/a");
    return s && s->restartCount == 2 && s->state == ModuleState::kRunning;
  }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
  EXPECT_EQ(podStatus(*r, "c")->podIP, ip);
  EXPECT_EQ(eventAt("stop c/infra"), -1);
  r->stop();
}

TEST_F(ReconcilerTest, ChangedContainerIsReplacedRemovedPodGoesAppsFirstInfraLast) {
  auto r = make();
  r->start();
  auto p = podOf("m", {"a", "b"});
  auto side = container("log");
  side.restartPolicy = protocol::RestartPolicy::kAlways;
  p.initContainers = {side};
  r->setDesired(desired(1, {p, podOf("other", {"x"})}));
  ASSERT_TRUE(eventually([&] { return running(*r, "m/a") && running(*r, "m/b"); }));
  std::string oldA = statusOf(*r, "m/a")->containerId;
  std::string oldB = statusOf(*r, "m/b")->containerId;
  auto changed = p;
  changed.containers[0].image = "reg:5000/app:2";
  r->setDesired(desired(2, {changed, podOf("other", {"x"})}));
  ASSERT_TRUE(eventually([&] {
    auto a = statusOf(*r, "m/a");
    return a && a->state == ModuleState::kRunning && a->containerId != oldA &&
           a->image == "reg:5000/app:2";
  }));
  EXPECT_EQ(statusOf(*r, "m/b")->containerId, oldB);  // only the changed container
  EXPECT_EQ(eventAt("stop m/infra"), -1);

  r->setDesired(desired(3, {podOf("other", {"x"})}));
  // While it goes, the pod is reported terminating; then it leaves the report.
  ASSERT_TRUE(eventually([&] { return !podStatus(*r, "m").has_value(); }));
  EXPECT_FALSE(statusOf(*r, "m/b").has_value());
  int apps = std::max(eventAt("stop m/a"), eventAt("stop m/b"));
  EXPECT_GE(apps, 0);
  EXPECT_GT(eventAt("stop m/log"), apps);  // the sidecar after the app containers
  EXPECT_GT(eventAt("remove m/infra"), eventAt("remove m/log"));  // the sandbox last
  EXPECT_TRUE(running(*r, "other/x"));
  r->stop();
}

TEST_F(ReconcilerTest, RemovedPodRunsPreStopBeforeStoppingTheContainer) {
  ON_CALL(io_, exec(_, _, _))
      .WillByDefault([this](const std::string& id, const std::vector<std::string>& command,
                            std::chrono::milliseconds) -> common::Result<engine::ExecResult> {
        std::lock_guard lock(state_.mu);
        auto it = state_.containers.find(id);
        std::string who = it == state_.containers.end() ? id : nameOf(it->second);
        state_.events.push_back("exec " + who + " " + command.back());
        return engine::ExecResult{0, ""};
      });
  auto r = make();
  r->start();
  auto p = podOf("web", {"srv"});
  protocol::Handler h;
  h.command = {"sh", "-c", "drain"};
  p.containers[0].lifecycle.preStop = h;
  r->setDesired(desired(1, {p}));
  ASSERT_TRUE(eventually([&] { return running(*r, "web/srv"); }));
  r->setDesired(desired(2, {}));
  ASSERT_TRUE(eventually([&] { return !podStatus(*r, "web").has_value(); }));
  // The pod is gone from the desired state, but its last spec's hook still runs, first.
  int hook = eventAt("exec web/srv drain");
  ASSERT_GE(hook, 0);
  EXPECT_LT(hook, eventAt("stop web/srv"));
  r->stop();
}

TEST_F(ReconcilerTest, FailedPullIsRetriedWithBackoff) {
  state_.pullFailuresLeft = 3;
  auto r = make();
  r->start();
  r->setDesired(desired(1, {podOf("p", {"a"})}));
  bool sawErr = false;
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "p/a");
    if (s && s->reason == "ErrImagePull") sawErr = true;
    return s && s->state == ModuleState::kRunning;
  }));
  EXPECT_TRUE(sawErr);
  r->stop();  // before taking the engine state lock: the relist thread needs it to finish
  std::lock_guard lock(state_.mu);
  EXPECT_EQ(state_.pulls, 4);
}

TEST_F(ReconcilerTest, PullBackoffDelaysTheRetry) {
  state_.pullFailuresLeft = 1000;
  auto r = make();
  r->start();
  r->setDesired(desired(1, {podOf("p", {"a"})}));
  std::this_thread::sleep_for(1000ms);
  r->stop();
  std::lock_guard lock(state_.mu);
  // 100 ms, 200 ms, 400 ms, 400 ms … : a handful of pulls in a second, not hundreds.
  EXPECT_GE(state_.pulls, 3);
  EXPECT_LE(state_.pulls, 6);
}

TEST_F(ReconcilerTest, RestartPoliciesNeverAndOnFailure) {
  auto never = podOf("never", {"j"});
  never.restartPolicy = protocol::RestartPolicy::kNever;
  auto onFailure = podOf("onfailure", {"j"});
  onFailure.restartPolicy = protocol::RestartPolicy::kOnFailure;
  auto r = make();
  r->start();
  r->setDesired(desired(1, {never, onFailure}));
  ASSERT_TRUE(eventually([&] { return running(*r, "never/j") && running(*r, "onfailure/j"); }));
  exitContainer("never/j", 1);
  exitContainer("onfailure/j", 0);
  ASSERT_TRUE(eventually([&] {
    auto a = statusOf(*r, "never/j");
    auto b = statusOf(*r, "onfailure/j");
    return a && b && a->state == ModuleState::kTerminated && b->state == ModuleState::kTerminated;
  }));
  EXPECT_EQ(statusOf(*r, "never/j")->reason, "Error");
  EXPECT_EQ(statusOf(*r, "never/j")->exitCode, 1);
  EXPECT_EQ(statusOf(*r, "onfailure/j")->reason, "Completed");
  ASSERT_TRUE(eventually([&] { return podStatus(*r, "never")->phase == "Failed"; }));
  EXPECT_EQ(podStatus(*r, "onfailure")->phase, "Succeeded");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(statusOf(*r, "never/j")->restartCount, 0);
  EXPECT_EQ(statusOf(*r, "onfailure/j")->restartCount, 0);
  r->stop();
}

TEST_F(ReconcilerTest, RunAsNonRootRefusesARootImageWithTheKubeletsMessage) {
  state_.imageUser = "";  // the image runs as root
  auto p = podOf("sec", {"app"});
  p.securityContext.runAsNonRoot = true;
  auto ok = podOf("sec2", {"app"});
  ok.securityContext.runAsNonRoot = true;
  ok.securityContext.runAsUser = 1000;
  ok.securityContext.fsGroup = 2000;
  ok.containers[0].securityContext.readOnlyRootFilesystem = true;
  ok.containers[0].securityContext.capabilitiesDrop = {"ALL"};
  ok.containers[0].securityContext.allowPrivilegeEscalation = false;
  auto r = make();
  r->start();
  r->setDesired(desired(1, {p, ok}));
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "sec/app");
    return s && s->reason == "CreateContainerConfigError";
  }));
  EXPECT_EQ(statusOf(*r, "sec/app")->message,
            "container has runAsNonRoot and image will run as root (pod: \"sec\", container: app)");
  ASSERT_TRUE(eventually([&] { return running(*r, "sec2/app"); }));
  r->stop();
  std::lock_guard lock(state_.mu);
  for (const auto& [id, c] : state_.configs) {
    if (labelOf(state_.containers.at(id), pod::kLabelModule) != "sec2/app") continue;
    EXPECT_EQ(c.user, "1000");
    EXPECT_EQ(c.groupAdd, std::vector<std::int64_t>{2000});
    EXPECT_TRUE(c.readonlyRootfs);
    EXPECT_EQ(c.capDrop, std::vector<std::string>{"ALL"});
    EXPECT_TRUE(c.noNewPrivileges);
  }
  for (const auto& ev : state_.events) EXPECT_NE(ev, "create sec/app");
}

TEST_F(ReconcilerTest, EngineErrorsAreRetriedNotFatal) {
  std::atomic<int> failures{3};
  ON_CALL(engine_, create(_))
      .WillByDefault(
          [this, &failures](const engine::ContainerConfig& c) -> common::Result<std::string> {
            bool member = c.labels.at(std::string(pod::kLabelKind)) != "infra";
            if (member && failures-- > 0) return common::unavailable("engine restarting");
            std::lock_guard lock(state_.mu);
            ContainerInfo info;
            info.id = "c" + std::to_string(++state_.nextId);
            info.labels = c.labels;
            info.status = ContainerStatus::kCreated;
            state_.containers[info.id] = info;
            return info.id;
          });
  auto r = make();
  r->start();
  r->setDesired(desired(1, {podOf("e", {"a"})}));
  bool sawError = false;
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "e/a");
    if (s && s->reason == "CreateContainerError") sawError = true;
    return s && s->state == ModuleState::kRunning;
  }));
  EXPECT_TRUE(sawError);
  r->stop();
}

TEST_F(ReconcilerTest, RestartModuleCountsARestart) {
  auto r = make();
  r->start();
  r->setDesired(desired(1, {podOf("r", {"a"})}));
  ASSERT_TRUE(eventually([&] { return running(*r, "r/a"); }));
  EXPECT_TRUE(r->restartModule("r/a").isOk());
  EXPECT_EQ(statusOf(*r, "r/a")->restartCount, 1);
  EXPECT_EQ(r->restartModule("r/none").code(), common::StatusCode::kNotFound);
  EXPECT_EQ(r->restartModule("nopod/a").code(), common::StatusCode::kNotFound);
  r->stop();
  // Persisted: a new reconciler over the same state dir resumes the count for the same spec.
  auto again = make();
  again->setDesired(desired(1, {podOf("r", {"a"})}));
  EXPECT_EQ(statusOf(*again, "r/a")->restartCount, 1);
}

}  // namespace
}  // namespace skiff::edge_agent
