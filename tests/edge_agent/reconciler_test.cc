// Reconciler against the gmock ContainerEngine: an in-memory engine state behind the mock's
// actions, with expectations on what the reconciler may and may not do (nothing before desired
// state is known, only its own labelled containers, replace on spec change, backoffs).
#include "edge_agent/reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "common/protocol/protocol.h"
#include "edge_agent/container_spec.h"
#include "tests/mocks/container_engine_mock.h"
#include "tests/support/process.h"

namespace skiff::edge_agent {
namespace {

using namespace std::chrono_literals;
using engine::ContainerInfo;
using engine::ContainerStatus;
using ::testing::_;
using ::testing::AnyNumber;
using ::testing::NiceMock;
namespace protocol = common::protocol;

// What the mock engine holds.
struct FakeState {
  std::mutex mu;
  std::map<std::string, ContainerInfo> containers;
  int nextId = 0;
  int creates = 0;
  int starts = 0;
  int pulls = 0;
  int pullFailuresLeft = 0;
  std::vector<std::map<std::string, std::string>> listFilters;
  std::vector<std::string> pulledWithAuth;
};

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::create("reconciler");
    ASSERT_TRUE(dir.isOk());
    dir_.emplace(std::move(dir).value());
    ON_CALL(engine_, list(_)).WillByDefault([this](const std::map<std::string, std::string>& l) {
      std::lock_guard lock(state_.mu);
      state_.listFilters.push_back(l);
      std::vector<ContainerInfo> out;
      for (const auto& [id, c] : state_.containers) {
        bool all = true;
        for (const auto& [k, v] : l) {
          auto it = c.labels.find(k);
          all = all && it != c.labels.end() && it->second == v;
        }
        if (all) out.push_back(c);
      }
      return common::Result<std::vector<ContainerInfo>>(out);
    });
    ON_CALL(engine_, ensureImage(_, _, _))
        .WillByDefault([this](const std::string& image, protocol::PullPolicy,
                              const engine::RegistryAuth* auth) -> common::Result<std::string> {
          std::lock_guard lock(state_.mu);
          ++state_.pulls;
          if (auth != nullptr) state_.pulledWithAuth.push_back(auth->username);
          if (state_.pullFailuresLeft > 0) {
            --state_.pullFailuresLeft;
            return common::notFound("manifest unknown: " + image);
          }
          return std::string("sha256:") + std::string(64, 'a');
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
          ++state_.creates;
          return info.id;
        });
    ON_CALL(engine_, start(_)).WillByDefault([this](const std::string& id) {
      std::lock_guard lock(state_.mu);
      auto& c = state_.containers.at(id);
      c.status = ContainerStatus::kRunning;
      c.startedAt = std::chrono::system_clock::now();
      ++state_.starts;
      return common::Status::ok();
    });
    ON_CALL(engine_, stop(_, _)).WillByDefault([this](const std::string& id, std::chrono::seconds) {
      std::lock_guard lock(state_.mu);
      auto it = state_.containers.find(id);
      if (it == state_.containers.end()) return common::notFound(id);
      it->second.status = ContainerStatus::kExited;
      it->second.exitCode = 137;
      it->second.finishedAt = std::chrono::system_clock::now();
      return common::Status::ok();
    });
    ON_CALL(engine_, remove(_)).WillByDefault([this](const std::string& id) {
      std::lock_guard lock(state_.mu);
      state_.containers.erase(id);
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

  std::unique_ptr<Reconciler> make() {
    ReconcilerOptions o;
    o.agentId = "dev-1";
    o.stateDir = dir_->path();
    o.relistInterval = 50ms;
    o.crashLoopInitial = 200ms;
    o.crashLoopMax = 800ms;
    o.pullBackoffInitial = 100ms;
    o.pullBackoffMax = 400ms;
    o.errorBackoffBase = 20ms;
    return std::make_unique<Reconciler>(o, engine_, io_, [] {});
  }

  protocol::ModuleSpec module(const std::string& name,
                              const std::string& image = "reg:5000/app:1") {
    protocol::ModuleSpec m;
    m.name = name;
    m.image = image;
    return m;
  }

  protocol::DesiredState desired(std::int64_t v, std::vector<protocol::ModuleSpec> modules) {
    protocol::DesiredState d;
    d.deviceId = "dev-1";
    d.version = v;
    d.modules = std::move(modules);
    return d;
  }

  // Simulates the process in a container exiting.
  void exitContainer(const std::string& module, int code) {
    std::lock_guard lock(state_.mu);
    for (auto& [id, c] : state_.containers) {
      if (c.labels[std::string(kLabelModule)] == module && c.status == ContainerStatus::kRunning) {
        c.status = ContainerStatus::kExited;
        c.exitCode = code;
        c.finishedAt = std::chrono::system_clock::now();
      }
    }
  }

  std::optional<protocol::ModuleStatus> statusOf(Reconciler& r, const std::string& module) {
    for (const auto& s : r.statuses()) {
      if (s.name == module) return s;
    }
    return std::nullopt;
  }

  bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
    return test::waitUntil(pred, timeout, "condition", 5ms).isOk();
  }

  NiceMock<test::MockContainerEngine> engine_;
  NiceMock<test::MockContainerIo> io_;
  FakeState state_;
  std::optional<test::TempDir> dir_;
};

TEST_F(ReconcilerTest, TouchesNothingBeforeDesiredStateIsKnown) {
  {
    std::lock_guard lock(state_.mu);
    ContainerInfo c;
    c.id = "old";
    c.labels = {{std::string(kLabelAgent), "dev-1"}, {std::string(kLabelModule), "gone"}};
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

TEST_F(ReconcilerTest, CreatesLabelledContainersWithCredentialsAndOnlyListsItsOwn) {
  auto r = make();
  r->start();
  auto d = desired(1, {module("web/a"), module("web/b", "docker.io/library/busybox")});
  d.registryCredentials = {{"reg:5000", "alice", "pw"}};
  r->setDesired(d);
  ASSERT_TRUE(eventually([&] {
    auto a = statusOf(*r, "web/a");
    auto b = statusOf(*r, "web/b");
    return a && b && a->state == protocol::ModuleState::kRunning &&
           b->state == protocol::ModuleState::kRunning;
  }));
  auto a = *statusOf(*r, "web/a");
  EXPECT_TRUE(a.ready);
  EXPECT_EQ(a.specHash, protocol::specHash(d.modules[0]));
  EXPECT_TRUE(a.imageId.starts_with("sha256:"));
  r->stop();
  std::lock_guard lock(state_.mu);
  EXPECT_EQ(state_.creates, 2);
  // Only web/a's registry has a credential.
  EXPECT_EQ(state_.pulledWithAuth, std::vector<std::string>{"alice"});
  for (const auto& [id, c] : state_.containers) {
    EXPECT_EQ(c.labels.at(std::string(kLabelAgent)), "dev-1");
    EXPECT_EQ(c.labels.at(std::string(kLabelManagedBy)), "skiff-agent");
    EXPECT_FALSE(c.labels.at(std::string(kLabelSpecHash)).empty());
  }
  ASSERT_FALSE(state_.listFilters.empty());
  for (const auto& f : state_.listFilters) {
    EXPECT_EQ(f.count(std::string(kLabelAgent)), 1u);
    EXPECT_EQ(f.at(std::string(kLabelAgent)), "dev-1");
  }
}

TEST_F(ReconcilerTest, ChangedSpecReplacesAndRemovedModuleIsRemoved) {
  auto r = make();
  r->start();
  r->setDesired(desired(1, {module("m/a"), module("m/b")}));
  ASSERT_TRUE(eventually([&] {
    auto a = statusOf(*r, "m/a");
    return a && a->state == protocol::ModuleState::kRunning;
  }));
  std::string oldId = statusOf(*r, "m/a")->containerId;
  auto changed = module("m/a", "reg:5000/app:2");
  r->setDesired(desired(2, {changed, module("m/b")}));
  ASSERT_TRUE(eventually([&] {
    auto a = statusOf(*r, "m/a");
    return a && a->state == protocol::ModuleState::kRunning && a->containerId != oldId &&
           a->image == "reg:5000/app:2";
  }));
  {
    std::lock_guard lock(state_.mu);
    EXPECT_EQ(state_.containers.count(oldId), 0u);
  }
  r->setDesired(desired(3, {changed}));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(state_.mu);
    return state_.containers.size() == 1;
  }));
  EXPECT_FALSE(statusOf(*r, "m/b").has_value());
  r->stop();
}

TEST_F(ReconcilerTest, FailedPullIsRetriedWithBackoff) {
  state_.pullFailuresLeft = 3;
  auto r = make();
  r->start();
  r->setDesired(desired(1, {module("p/a")}));
  bool sawErr = false;
  bool sawBackOff = false;
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "p/a");
    if (s && s->reason == "ErrImagePull") sawErr = true;
    if (s && s->reason == "ImagePullBackOff") sawBackOff = true;
    return s && s->state == protocol::ModuleState::kRunning;
  }));
  EXPECT_TRUE(sawErr);
  r->stop();  // before taking the engine state lock: the relist thread needs it to finish
  std::lock_guard lock(state_.mu);
  EXPECT_EQ(state_.pulls, 4);
  (void)sawBackOff;  // may be missed between polls; the delay is asserted in the next test
}

TEST_F(ReconcilerTest, PullBackoffDelaysTheRetry) {
  state_.pullFailuresLeft = 1000;
  auto r = make();
  r->start();
  r->setDesired(desired(1, {module("p/a")}));
  std::this_thread::sleep_for(1000ms);
  r->stop();
  std::lock_guard lock(state_.mu);
  // 100 ms, 200 ms, 400 ms, 400 ms … : a handful of pulls in a second, not hundreds.
  EXPECT_GE(state_.pulls, 3);
  EXPECT_LE(state_.pulls, 6);
}

TEST_F(ReconcilerTest, CrashLoopBackOffRestartsWithGrowingDelays) {
  auto r = make();
  r->start();
  r->setDesired(desired(1, {module("c/a")}));
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "c/a");
    return s && s->state == protocol::ModuleState::kRunning;
  }));
  // First exit: restarted at once.
  exitContainer("c/a", 2);
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "c/a");
    return s && s->restartCount == 1 && s->state == protocol::ModuleState::kRunning;
  }));
  EXPECT_EQ(statusOf(*r, "c/a")->lastTermination->exitCode, 2);
  // Second exit: CrashLoopBackOff for 200 ms before the restart.
  auto t0 = std::chrono::steady_clock::now();
  exitContainer("c/a", 2);
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "c/a");
    return s && s->reason == "CrashLoopBackOff";
  }));
  auto waiting = *statusOf(*r, "c/a");
  EXPECT_EQ(waiting.state, protocol::ModuleState::kWaiting);
  EXPECT_NE(waiting.message.find("back-off"), std::string::npos);
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "c/a");
    return s && s->restartCount == 2 && s->state == protocol::ModuleState::kRunning;
  }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
  r->stop();
}

TEST_F(ReconcilerTest, RestartPoliciesNeverAndOnFailure) {
  auto never = module("j/never");
  never.restartPolicy = protocol::RestartPolicy::kNever;
  auto onFailure = module("j/onfailure");
  onFailure.restartPolicy = protocol::RestartPolicy::kOnFailure;
  auto r = make();
  r->start();
  r->setDesired(desired(1, {never, onFailure}));
  ASSERT_TRUE(eventually([&] {
    auto a = statusOf(*r, "j/never");
    auto b = statusOf(*r, "j/onfailure");
    return a && b && a->state == protocol::ModuleState::kRunning &&
           b->state == protocol::ModuleState::kRunning;
  }));
  exitContainer("j/never", 1);
  exitContainer("j/onfailure", 0);
  ASSERT_TRUE(eventually([&] {
    auto a = statusOf(*r, "j/never");
    auto b = statusOf(*r, "j/onfailure");
    return a && b && a->state == protocol::ModuleState::kTerminated &&
           b->state == protocol::ModuleState::kTerminated;
  }));
  EXPECT_EQ(statusOf(*r, "j/never")->reason, "Error");
  EXPECT_EQ(statusOf(*r, "j/never")->exitCode, 1);
  EXPECT_EQ(statusOf(*r, "j/onfailure")->reason, "Completed");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(statusOf(*r, "j/never")->restartCount, 0);
  EXPECT_EQ(statusOf(*r, "j/onfailure")->restartCount, 0);
  r->stop();
}

TEST_F(ReconcilerTest, EngineErrorsAreRetriedNotFatal) {
  std::atomic<int> failures{3};
  ON_CALL(engine_, create(_))
      .WillByDefault(
          [this, &failures](const engine::ContainerConfig& c) -> common::Result<std::string> {
            if (failures-- > 0) return common::unavailable("engine restarting");
            std::lock_guard lock(state_.mu);
            ContainerInfo info;
            info.id = "late";
            info.labels = c.labels;
            info.status = ContainerStatus::kCreated;
            state_.containers[info.id] = info;
            return info.id;
          });
  auto r = make();
  r->start();
  r->setDesired(desired(1, {module("e/a")}));
  bool sawError = false;
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "e/a");
    if (s && s->reason == "CreateContainerError") sawError = true;
    return s && s->state == protocol::ModuleState::kRunning;
  }));
  EXPECT_TRUE(sawError);
  r->stop();
}

TEST_F(ReconcilerTest, RestartModuleCountsARestart) {
  auto r = make();
  r->start();
  r->setDesired(desired(1, {module("r/a")}));
  ASSERT_TRUE(eventually([&] {
    auto s = statusOf(*r, "r/a");
    return s && s->state == protocol::ModuleState::kRunning;
  }));
  EXPECT_TRUE(r->restartModule("r/a").isOk());
  EXPECT_EQ(statusOf(*r, "r/a")->restartCount, 1);
  EXPECT_EQ(r->restartModule("r/none").code(), common::StatusCode::kNotFound);
  r->stop();
  // Persisted: a new reconciler over the same state dir resumes the count for the same spec.
  auto again = make();
  again->setDesired(desired(1, {module("r/a")}));
  EXPECT_EQ(statusOf(*again, "r/a")->restartCount, 1);
}

}  // namespace
}  // namespace skiff::edge_agent
