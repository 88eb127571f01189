// Deployment status counts, in-process: ListDeployments answers from counts kept per device
// (recounted only for devices whose state changed), GetDeployment counts every target afresh.
// Through every kind of change — reports, failures, presence, relabeling, new generations,
// shadowing, device and deployment deletion — both must agree, and match what the devices do.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "common/protocol/protocol.h"
#include "hub/fleet/fleet.h"
#include "tests/support/in_process_fleet.h"
#include "tests/support/sim_agent.h"
#include "tests/support/status_assert.h"

namespace skiff::hub::fleet {
namespace {

using namespace std::chrono_literals;
namespace proto = common::protocol;

struct Counts {
  int targeted, applied, running, failed, offline;
  bool operator==(const Counts&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Counts& c) {
  return os << "{targeted " << c.targeted << ", applied " << c.applied << ", running " << c.running
            << ", failed " << c.failed << ", offline " << c.offline << "}";
}

Counts countsOf(const v1::DeploymentStatus& s) {
  return {s.targeted(), s.applied(), s.running(), s.failed(), s.offline()};
}

class FleetStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIFF_ASSERT_OK_AND_ASSIGN(f_, test::startInProcessFleet("fleet-status", sink_));
  }
  void TearDown() override {
    if (f_) f_->fleet->stop();
  }

  void device(const std::string& id, const Labels& labels) {
    SKIFF_ASSERT_OK(f_->fleet->createDevice(id, labels));
    agents_[id] = std::make_unique<test::SimAgent>(id, f_->signingPublicKeyPem);
    ingest(agents_[id]->hello());
  }
  void ingest(const std::vector<test::OutMessage>& out) {
    for (const auto& m : out) {
      auto t = proto::parseDeviceTopic(m.topic);
      ASSERT_TRUE(t.has_value()) << m.topic;
      std::optional<IngestError> err;
      if (t->rest == "reported") err = f_->fleet->ingestReported(t->deviceId, m.payload);
      if (t->rest == "presence") err = f_->fleet->ingestPresence(t->deviceId, m.payload);
      ASSERT_FALSE(err.has_value()) << err->status;
    }
  }
  // Lets the reconciler finish and every online agent apply its newest document and report.
  void deliver() {
    ASSERT_TRUE(f_->fleet->waitIdle(20s));
    for (auto& [id, agent] : agents_) {
      std::string doc = sink_.take(id);
      if (doc.empty() || offline_.contains(id)) continue;
      ingest(agent->onMessage(proto::topicFor(id, proto::Channel::kDesired), doc, ""));
    }
  }
  // Counts of `id` from the kept counts, after checking them against a full count.
  Counts counts(const std::string& id) {
    auto listed = f_->fleet->listDeployments("");
    EXPECT_TRUE(listed.isOk()) << listed.status();
    if (!listed.isOk()) return {};
    const auto& list = *listed;
    for (const auto& d : list) {
      auto full = f_->fleet->getDeployment(d.id());
      EXPECT_TRUE(full.isOk()) << full.status();
      EXPECT_EQ(countsOf(d.status()), countsOf(full->status())) << "deployment " << d.id();
    }
    for (const auto& d : list) {
      if (d.id() == id) return countsOf(d.status());
    }
    ADD_FAILURE() << "no deployment " << id;
    return {};
  }
  void apply(const std::string& id, const std::string& selector, const std::string& modules,
             int priority = 0) {
    DeploymentInput in;
    in.id = id;
    in.targetSelector = selector;
    in.modulesJson = modules;
    in.priority = priority;
    SKIFF_ASSERT_OK(f_->fleet->applyDeployment(in));
  }

  test::KeepingSink sink_;
  std::optional<test::InProcessFleet> f_;  // after sink_: the fleet goes before the sink
  std::map<std::string, std::unique_ptr<test::SimAgent>> agents_;
  std::set<std::string> offline_;
};

TEST_F(FleetStatusTest, KeptCountsFollowEveryChangeLikeAFullCount) {
  for (int i = 0; i < 6; ++i) {
    device("d" + std::to_string(i), {{"role", "edge"}, {"site", i < 3 ? "a" : "b"}});
  }
  apply("base", "role=edge", R"([{"name":"web","image":"nginx:1"},{"name":"log","image":"fb:1"}])");
  // Counted before the reconciler ran: nothing applied yet (this builds the kept counts).
  EXPECT_EQ(counts("base"), (Counts{6, 0, 0, 0, 0}));
  deliver();
  EXPECT_EQ(counts("base"), (Counts{6, 6, 6, 0, 0}));

  // A higher-priority deployment shadows web on site a; base still runs there (its log).
  apply("hot", "site=a", R"([{"name":"web","image":"nginx:2"}])", 10);
  EXPECT_EQ(counts("hot"), (Counts{3, 0, 0, 0, 0}));
  deliver();
  EXPECT_EQ(counts("hot"), (Counts{3, 3, 3, 0, 0}));
  EXPECT_EQ(counts("base"), (Counts{6, 6, 6, 0, 0}));

  // A failing module, then its recovery.
  agents_["d4"]->setFailure("log/log", "ErrImagePull");
  ingest({agents_["d4"]->report()});
  EXPECT_EQ(counts("base"), (Counts{6, 6, 5, 1, 0}));
  agents_["d4"]->setFailure("log/log", "");
  ingest({agents_["d4"]->report()});
  EXPECT_EQ(counts("base"), (Counts{6, 6, 6, 0, 0}));

  // Offline through the Last Will; back online.
  ingest({agents_["d1"]->will()});
  offline_.insert("d1");
  EXPECT_EQ(counts("base"), (Counts{6, 6, 5, 0, 1}));
  EXPECT_EQ(counts("hot"), (Counts{3, 3, 2, 0, 1}));

  // Relabeling moves d2 out of hot (and its web back to base's image).
  SKIFF_ASSERT_OK(f_->fleet->updateDeviceLabels("d2", {{"role", "edge"}, {"site", "b"}}));
  EXPECT_EQ(counts("hot").targeted, 2);
  deliver();
  EXPECT_EQ(counts("hot"), (Counts{2, 2, 1, 0, 1}));
  EXPECT_EQ(counts("base"), (Counts{6, 6, 5, 0, 1}));

  // A new generation of base: applied again only once the devices run it (d1 is offline).
  apply("base", "role=edge", R"([{"name":"web","image":"nginx:1"},{"name":"log","image":"fb:2"}])");
  EXPECT_EQ(counts("base").applied, 0);
  deliver();
  EXPECT_EQ(counts("base"), (Counts{6, 5, 5, 0, 1}));

  offline_.erase("d1");
  ingest(agents_["d1"]->hello());
  EXPECT_EQ(counts("base").offline, 0);

  // Device and deployment deletion.
  SKIFF_ASSERT_OK(f_->fleet->deleteDevice("d5"));
  agents_.erase("d5");
  EXPECT_EQ(counts("base").targeted, 5);
  SKIFF_ASSERT_OK(f_->fleet->deleteDeployment("hot"));
  deliver();
  EXPECT_EQ(counts("base").targeted, 5);
  EXPECT_EQ(counts("base").running, counts("base").applied);
}

// Watchers of deployments (the virtual node) hear of a report only for the deployments whose
// status on the device it changes: one pod's change on a device running many is one event.
TEST_F(FleetStatusTest, AReportNotifiesOnlyTheDeploymentsItChanges) {
  device("d0", {{"role", "edge"}});
  apply("one", "role=edge", R"([{"name":"a","image":"busybox:1"}])");
  apply("two", "role=edge", R"([{"name":"b","image":"busybox:1"}])");
  deliver();
  auto sub = f_->fleet->feed().subscribe();
  auto deploymentsNotified = [&] {
    std::set<std::string> out;
    for (const auto& c : sub->wait(0ms)) {
      if (c.kind == ChangeKind::kDeployment) out.insert(c.id);
    }
    return out;
  };
  agents_["d0"]->setFailure("a/a", "ErrImagePull");
  ingest({agents_["d0"]->report()});
  EXPECT_EQ(deploymentsNotified(), (std::set<std::string>{"one"}));
  EXPECT_EQ(counts("one").failed, 1);

  // An unchanged report (a heartbeat) tells no deployment anything.
  ingest({agents_["d0"]->report()});
  EXPECT_EQ(deploymentsNotified(), (std::set<std::string>{}));

  // Device-wide: offline, then a new generation of one deployment (applied by the device's
  // next desired version: only that deployment's applied state moves).
  ingest({agents_["d0"]->will()});
  EXPECT_EQ(deploymentsNotified(), (std::set<std::string>{"one", "two"}));
  ingest(agents_["d0"]->hello());
  (void)deploymentsNotified();
  agents_["d0"]->setFailure("a/a", "");
  apply("two", "role=edge", R"([{"name":"b","image":"busybox:2"}])");
  deliver();
  EXPECT_TRUE(deploymentsNotified().contains("two"));
  EXPECT_EQ(counts("two"), (Counts{1, 1, 1, 0, 0}));
  EXPECT_EQ(counts("one"), (Counts{1, 1, 1, 0, 0}));
  f_->fleet->feed().unsubscribe(sub);
}

}  // namespace
}  // namespace skiff::hub::fleet
