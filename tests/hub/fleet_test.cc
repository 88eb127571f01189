// The hub's fleet behaviour against real Mosquitto with simulated devices: selector targeting,
// relabeling, deployment deletion, priority merge and status aggregation, restarts of the hub
// and of the broker (state kept, nothing unchanged re-published, reports not lost), and bad
// input from devices and operators (refused, counted, state unchanged).
#include <gtest/gtest.h>

#include <thread>

#include "common/protocol/protocol.h"
#include "tests/hub/test_util.h"
#include "tests/support/etcd.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using namespace std::chrono_literals;
namespace proto = common::protocol;

class HubFleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto hub = HubFixture::create();
    ASSERT_TRUE(hub.isOk()) << hub.status();
    hub_ = std::move(*hub);
  }
  SimDevice& device(const std::string& id, const std::map<std::string, std::string>& labels,
                    const std::string& arch = "arm64") {
    auto creds = hub_->enrollDevice(id, labels);
    EXPECT_TRUE(creds.isOk()) << creds.status();
    SimDeviceOptions o = hub_->simDeviceOptions(*creds);
    o.arch = arch;
    auto d = SimDevice::start(o);
    EXPECT_TRUE(d.isOk()) << d.status();
    EXPECT_TRUE((*d)->waitConnected(20s).isOk());
    devices_[id] = std::move(*d);
    return *devices_[id];
  }
  // A module "<pod>/<container>", or a pod by its name, runs on the device.
  static bool runs(SimDevice& d, const std::string& name) {
    for (const auto& m : d.agent().moduleNames()) {
      if (m == name || common::protocol::podOfModule(m) == name) return true;
    }
    return false;
  }
  bool waitRuns(SimDevice& d, const std::string& module, bool want = true) {
    return d.waitFor([&](SimAgent&) { return runs(d, module) == want; }, 20s);
  }
  // Waits until the hub shows the device online with a report.
  bool waitReported(const std::string& id) {
    return waitUntil(
               [&] {
                 auto d = getDevice(*hub_, id);
                 return d.online() && !d.reported_json().empty();
               },
               20s)
        .isOk();
  }
  std::unique_ptr<HubFixture> hub_;
  std::map<std::string, std::unique_ptr<SimDevice>> devices_;
};

TEST_F(HubFleetTest, SelectorTargetsExactlyTheMatchingDevicesAndFollowsLabels) {
  auto& d1 = device("d1", {{"site", "a"}, {"arch", "arm64"}});
  auto& d2 = device("d2", {{"site", "a"}, {"arch", "amd64"}});
  auto& d3 = device("d3", {{"site", "b"}, {"arch", "arm64"}});
  for (auto id : {"d1", "d2", "d3"}) ASSERT_TRUE(waitReported(id));
  v1::Deployment out;
  ASSERT_TRUE(
      apply(*hub_, deployment("sel", "site=a,arch in (arm64)", {{"sel/app", "busybox:1"}}), &out)
          .ok());
  EXPECT_EQ(out.status().targeted(), 1);
  ASSERT_TRUE(waitRuns(d1, "sel/app"));
  std::this_thread::sleep_for(1s);
  EXPECT_FALSE(runs(d2, "sel/app"));
  EXPECT_FALSE(runs(d3, "sel/app"));
  EXPECT_EQ(d2.agent().desiredReceived(), 0u) << "untargeted devices get no document at all";
  EXPECT_EQ(d3.agent().desiredReceived(), 0u);
  ASSERT_TRUE(waitUntil(
                  [&] {
                    auto st = getDeployment(*hub_, "sel").status();
                    return st.targeted() == 1 && st.applied() == 1 && st.running() == 1;
                  },
                  20s)
                  .isOk())
      << getDeployment(*hub_, "sel").DebugString();

  // Implicit labels work in selectors too (the arch comes from the device's facts).
  ASSERT_TRUE(
      apply(*hub_, deployment("amd", "skiff.io/arch=amd64", {{"amd/app", "busybox:1"}})).ok());
  device("d4", {{"site", "c"}}, "amd64");
  ASSERT_TRUE(waitRuns(*devices_["d4"], "amd/app"));

  // Relabel: d2 joins, d1 leaves.
  v1::UpdateDeviceLabelsRequest relabel;
  relabel.set_id("d2");
  (*relabel.mutable_labels())["site"] = "a";
  (*relabel.mutable_labels())["arch"] = "arm64";
  v1::Device dv;
  ASSERT_TRUE(hub_->stub()->UpdateDeviceLabels(hub_->context().get(), relabel, &dv).ok());
  relabel.set_id("d1");
  (*relabel.mutable_labels())["site"] = "b";
  ASSERT_TRUE(hub_->stub()->UpdateDeviceLabels(hub_->context().get(), relabel, &dv).ok());
  EXPECT_TRUE(waitRuns(d2, "sel/app"));
  EXPECT_TRUE(waitRuns(d1, "sel/app", false));
  EXPECT_FALSE(runs(d3, "sel/app"));
  EXPECT_EQ(getDeployment(*hub_, "sel").status().targeted(), 1);

  // Deleting the deployment removes its module from every device.
  v1::DeleteDeploymentRequest del;
  del.set_id("sel");
  v1::DeleteResponse dr;
  ASSERT_TRUE(hub_->stub()->DeleteDeployment(hub_->context().get(), del, &dr).ok());
  EXPECT_TRUE(waitRuns(d2, "sel/app", false));
  for (auto& [id, d] : devices_) EXPECT_FALSE(runs(*d, "sel/app")) << id;
  EXPECT_TRUE(runs(*devices_["d4"], "amd/app"));
  EXPECT_EQ(hub_->stub()->DeleteDeployment(hub_->context().get(), del, &dr).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(HubFleetTest, PriorityMergeShadowingAndStatusAggregation) {
  auto& d1 = device("p1", {{"role", "edge"}});
  auto& d2 = device("p2", {{"role", "edge"}});
  for (auto id : {"p1", "p2"}) ASSERT_TRUE(waitReported(id));
  ASSERT_TRUE(
      apply(*hub_, deployment("base", "role=edge", {{"web", "nginx:1"}, {"log", "fb:1"}}, 0)).ok());
  ASSERT_TRUE(
      apply(*hub_, deployment("hotfix", "skiff.io/device-id=p1", {{"web", "nginx:2"}}, 10)).ok());
  ASSERT_TRUE(d1.waitFor(
      [](SimAgent& a) {
        auto doc = a.applied();
        if (!doc) return false;
        for (const auto& p : doc->pods) {
          if (p.name == "web") {
            return p.containers[0].image == "nginx:2" && p.deploymentId == "hotfix";
          }
        }
        return false;
      },
      20s));
  ASSERT_TRUE(waitRuns(d2, "web"));
  EXPECT_EQ(d2.agent().applied()->pods[1].containers[0].image, "nginx:1");  // sorted: log, web
  ASSERT_TRUE(waitUntil(
                  [&] {
                    auto st = getDeployment(*hub_, "base").status();
                    return st.targeted() == 2 && st.running() == 2;
                  },
                  20s)
                  .isOk())
      << getDeployment(*hub_, "base").DebugString();
  auto base = getDeployment(*hub_, "base");
  for (const auto& dm : base.status().devices()) {
    if (dm.device_id() == "p1") {
      ASSERT_EQ(dm.shadowed_pods_size(), 1);
      EXPECT_EQ(dm.shadowed_pods(0), "web");
    } else {
      EXPECT_EQ(dm.shadowed_pods_size(), 0);
    }
  }

  // A failing module is counted failed (and becomes a Warning event); an offline device offline.
  d2.agent().setFailure("log/log", "ErrImagePull");
  SKIFF_ASSERT_OK(d2.sendReport());
  ASSERT_TRUE(
      waitUntil([&] { return getDeployment(*hub_, "base").status().failed() == 1; }, 20s).isOk());
  EXPECT_EQ(getDeployment(*hub_, "base").status().running(), 1);
  ASSERT_TRUE(
      apply(*hub_, deployment("base", "role=edge", {{"web", "nginx:1"}, {"log", "fb:1"}}, 0))
          .ok());  // identical apply: no new generation
  EXPECT_EQ(getDeployment(*hub_, "base").generation(), 1);
}

TEST_F(HubFleetTest, OfflineDevicesAreCountedFromTheirLastWill) {
  auto& d1 = device("o1", {{"role", "edge"}});
  ASSERT_TRUE(waitReported("o1"));
  ASSERT_TRUE(apply(*hub_, deployment("app", "role=edge", {{"app", "busybox"}})).ok());
  ASSERT_TRUE(waitRuns(d1, "app"));
  // The hub has the device's report of it before the device goes (a report still in flight
  // when the bus stops may be dropped with the connection).
  ASSERT_TRUE(
      waitUntil([&] { return getDeployment(*hub_, "app").status().applied() == 1; }, 10s).isOk());
  // The device vanishes: its connection goes and the broker publishes its Last Will. The
  // hub's identity publishes that same retained "offline" here (a clean stop sends none).
  d1.bus().stop();  // clean disconnect: no will
  ASSERT_TRUE(waitUntil([&] { return getDevice(*hub_, "o1").online(); }, 5s).isOk());
  std::string hubCert = hub_->dataDir() + "/pki/hub-mqtt-client.pem";
  std::string hubKey = hub_->dataDir() + "/pki/hub-mqtt-client.key";
  auto pub = mosquittoPub(*hub_, hubCert, hubKey, proto::topicFor("o1", proto::Channel::kPresence),
                          R"({"schema":1,"state":"offline"})");
  EXPECT_EQ(pub.exitCode, 0) << pub.output;
  ASSERT_TRUE(waitUntil([&] { return !getDevice(*hub_, "o1").online(); }, 10s).isOk());
  auto st = getDeployment(*hub_, "app").status();
  EXPECT_EQ(st.offline(), 1);
  EXPECT_EQ(st.running(), 0);
  EXPECT_EQ(st.applied(), 1);
}

TEST_F(HubFleetTest, RestartKeepsStateAndRepublishesNothingUnchanged) {
  auto& d1 = device("r1", {{"site", "a"}});
  auto& d2 = device("r2", {{"site", "a"}});
  for (auto id : {"r1", "r2"}) ASSERT_TRUE(waitReported(id));
  ASSERT_TRUE(apply(*hub_, deployment("web", "site=a", {{"web/nginx", "nginx:1"}})).ok());
  ASSERT_TRUE(waitRuns(d1, "web/nginx"));
  ASSERT_TRUE(waitRuns(d2, "web/nginx"));
  ASSERT_TRUE(
      waitUntil([&] { return getDeployment(*hub_, "web").status().running() == 2; }, 20s).isOk());
  auto before1 = getDevice(*hub_, "r1");
  auto before2 = getDevice(*hub_, "r2");
  std::size_t received1 = d1.agent().desiredReceived();
  std::size_t received2 = d2.agent().desiredReceived();

  SKIFF_ASSERT_OK(hub_->restartHub());
  EXPECT_NE(hub_->hubLog().find("hub stopped"), std::string::npos) << "no clean shutdown";
  std::this_thread::sleep_for(2s);  // the reconciler evaluates every device after a start
  auto after1 = getDevice(*hub_, "r1");
  EXPECT_EQ(after1.desired_version(), before1.desired_version());
  EXPECT_EQ(after1.labels().at("site"), "a");
  EXPECT_TRUE(after1.enrolled());
  EXPECT_EQ(after1.certificate_serial(), before1.certificate_serial());
  EXPECT_FALSE(after1.reported_json().empty()) << "twin lost";
  EXPECT_EQ(getDevice(*hub_, "r2").desired_version(), before2.desired_version());
  EXPECT_EQ(hub_->metric("skiff_hub_desired_versions_total"), 0);
  EXPECT_EQ(hub_->metric("skiff_hub_desired_publishes_total{result=\"acked\"}"), 0);
  EXPECT_EQ(d1.agent().desiredReceived(), received1) << "unchanged document re-published";
  EXPECT_EQ(d2.agent().desiredReceived(), received2);
  auto web = getDeployment(*hub_, "web");
  EXPECT_EQ(web.generation(), 1);
  EXPECT_EQ(web.status().applied(), 2) << web.DebugString();

  // A change after the restart gets a strictly higher version.
  ASSERT_TRUE(apply(*hub_, deployment("web", "site=a", {{"web/nginx", "nginx:2"}})).ok());
  ASSERT_TRUE(
      d1.waitFor([&](SimAgent& a) { return a.appliedVersion() > before1.desired_version(); }, 20s));
  EXPECT_EQ(d1.agent().desiredError(), std::nullopt);

  // Reports sent while the hub is down are delivered from its persistent session.
  hub_->stopHub();
  d1.agent().setFailure("web/nginx", "CrashLoopBackOff");
  SKIFF_ASSERT_OK(d1.sendReport());
  SKIFF_ASSERT_OK(hub_->startHub());
  EXPECT_TRUE(waitUntil(
                  [&] {
                    return getDevice(*hub_, "r1").reported_json().find("CrashLoopBackOff") !=
                           std::string::npos;
                  },
                  20s)
                  .isOk())
      << "a report sent while the hub was down was lost";
}

TEST_F(HubFleetTest, BrokerRestartLosesNothingAndRepublishesNothing) {
  auto& d1 = device("b1", {{"site", "a"}});
  ASSERT_TRUE(waitReported("b1"));
  ASSERT_TRUE(apply(*hub_, deployment("web", "site=a", {{"web", "nginx:1"}})).ok());
  ASSERT_TRUE(waitRuns(d1, "web"));
  std::size_t received = d1.agent().desiredReceived();
  double acked = hub_->metric("skiff_hub_desired_publishes_total{result=\"acked\"}");
  SKIFF_ASSERT_OK(hub_->restartBroker());
  ASSERT_TRUE(waitUntil(
                  [&] {
                    v1::FleetStatus fs;
                    v1::GetFleetStatusRequest req;
                    return hub_->stub()->GetFleetStatus(hub_->context().get(), req, &fs).ok() &&
                           fs.broker_connected();
                  },
                  30s)
                  .isOk());
  ASSERT_TRUE(d1.waitConnected(30s).isOk());
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(hub_->metric("skiff_hub_desired_publishes_total{result=\"acked\"}"), acked);
  // The retained document survived the broker restart (persistence), so the device sees it
  // again on resubscribe but with the same version: nothing new to apply.
  EXPECT_LE(d1.agent().desiredReceived(), received + 1);
  EXPECT_FALSE(d1.agent().desiredError().has_value());
  // New changes flow after the restart.
  ASSERT_TRUE(apply(*hub_, deployment("web", "site=a", {{"web", "nginx:2"}})).ok());
  EXPECT_TRUE(d1.waitFor(
      [](SimAgent& a) {
        return a.applied() && a.applied()->pods[0].containers[0].image == "nginx:2";
      },
      20s));
}

TEST_F(HubFleetTest, BadInputIsRefusedCountedAndChangesNothing) {
  auto& d1 = device("x1", {{"site", "a"}});
  ASSERT_TRUE(waitReported("x1"));
  std::string reported = getDevice(*hub_, "x1").reported_json();
  std::string topic = proto::topicFor("x1", proto::Channel::kReported);

  SKIFF_ASSERT_OK(d1.publishRaw(topic, "{not json"));
  SKIFF_ASSERT_OK(d1.publishRaw(topic, R"({"schema":3,"deviceId":"x1"})"));
  SKIFF_ASSERT_OK(d1.publishRaw(topic, R"({"schema":1,"deviceId":"x1","seq":"three"})"));
  SKIFF_ASSERT_OK(d1.publishRaw(topic, R"({"schema":1,"deviceId":"x1","bogus":true})"));
  SKIFF_ASSERT_OK(d1.publishRaw(
      topic, R"({"schema":1,"deviceId":"x1","pad":")" + std::string(1100000, 'a') + "\"}"));
  SKIFF_ASSERT_OK(d1.publishRaw(topic, R"({"schema":1,"deviceId":"someone-else"})"));
  SKIFF_ASSERT_OK(d1.publishRaw(proto::topicFor("x1", proto::Channel::kMetrics), "[]"));
  SKIFF_ASSERT_OK(d1.publishRaw(proto::topicFor("x1", proto::Channel::kPresence),
                                R"({"schema":1,"state":"sleeping"})"));
  auto metric = [&](const std::string& channel, const std::string& reason) {
    return hub_->metric("skiff_hub_mqtt_rejected_total{channel=\"" + channel + "\",reason=\"" +
                        reason + "\"}");
  };
  // Every refusal counted (the 1.1 MB one travels longer than the others), then exactly once.
  ASSERT_TRUE(waitUntil(
                  [&] {
                    return metric("reported", "malformed") >= 4 &&
                           metric("reported", "oversized") >= 1 &&
                           metric("reported", "device_mismatch") >= 1 &&
                           metric("metrics", "malformed") >= 1 &&
                           metric("presence", "malformed") >= 1;
                  },
                  10s)
                  .isOk())
      << hub_->metrics().valueOr("");
  EXPECT_EQ(metric("reported", "malformed"), 4);
  EXPECT_EQ(metric("reported", "oversized"), 1);
  EXPECT_EQ(metric("reported", "device_mismatch"), 1);
  EXPECT_EQ(metric("metrics", "malformed"), 1);
  EXPECT_EQ(metric("presence", "malformed"), 1);
  auto after = getDevice(*hub_, "x1");
  EXPECT_EQ(after.reported_json(), reported) << "a refused report changed the twin";
  EXPECT_TRUE(after.online());

  // A device the hub does not know (certificate from the hub CA, never registered).
  SKIFF_ASSERT_OK_AND_ASSIGN(auto ghost, hub_->issueCertificate("ghost"));
  auto g = SimDevice::start(hub_->simDeviceOptions(ghost));
  SKIFF_ASSERT_OK(g);
  SKIFF_ASSERT_OK((*g)->waitConnected(20s));
  SKIFF_ASSERT_OK((*g)->sendReport());
  ASSERT_TRUE(waitUntil([&] { return metric("reported", "unknown_device") >= 1; }, 10s).isOk());
  v1::GetDeviceRequest get;
  get.set_id("ghost");
  v1::Device gd;
  EXPECT_EQ(hub_->stub()->GetDevice(hub_->context().get(), get, &gd).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // Operators: invalid selectors and module specs are INVALID_ARGUMENT naming the field, and
  // nothing is stored.
  v1::ListDevicesRequest list;
  list.set_label_selector("site in (a");
  v1::ListDevicesResponse lr;
  auto bad = hub_->stub()->ListDevices(hub_->context().get(), list, &lr);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("labelSelector"), std::string::npos) << bad.error_message();
  v1::Deployment dep = deployment("bad", "site=a", {{"web", "nginx"}});
  dep.set_pods_json(
      R"([{"name":"web","containers":[{"name":"c","image":"nginx","ports":[{"containerPort":70000}]}]}])");
  auto s = apply(*hub_, dep);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("pods[0].containers[0].ports[0].containerPort"),
            std::string::npos)
      << s.error_message();
  dep.set_pods_json(R"([{"name":"web","containers":[{"name":"c","image":"nginx"}]}])");
  dep.set_target_selector("site=");
  EXPECT_EQ(apply(*hub_, dep).error_code(), grpc::StatusCode::OK);  // "site=" is a valid selector
  dep.set_id("bad2");
  dep.set_target_selector("===");
  s = apply(*hub_, dep);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("targetSelector"), std::string::npos) << s.error_message();
  dep.set_target_selector("site=a");
  dep.set_pods_json("[]");
  EXPECT_EQ(apply(*hub_, dep).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  dep.set_id("Not_An_Id");
  dep.set_pods_json(R"([{"name":"web","containers":[{"name":"c","image":"nginx"}]}])");
  EXPECT_EQ(apply(*hub_, dep).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::ListDeploymentsRequest ldr;
  v1::ListDeploymentsResponse ldp;
  ASSERT_TRUE(hub_->stub()->ListDeployments(hub_->context().get(), ldr, &ldp).ok());
  EXPECT_EQ(ldp.deployments_size(), 1);  // only "bad" with the valid "site=" selector
  EXPECT_GE(hub_->metric("skiff_hub_grpc_requests_total{code=\"InvalidArgument\",method="
                         "\"ApplyDeployment\"}"),
            3);
}

}  // namespace
}  // namespace skiff::test

namespace skiff::test {
namespace {

// The same hub on etcd (--store etcd://…, as the control plane): state survives a restart.
TEST(HubEtcdStoreTest, StateLivesInEtcd) {
  auto etcd = EtcdFixture::create();
  ASSERT_TRUE(etcd.isOk()) << etcd.status();
  HubFixtureOptions o;
  o.extraFlags = {"--store", "etcd://" + (*etcd)->endpoint()};
  auto hub = HubFixture::create(o);
  ASSERT_TRUE(hub.isOk()) << hub.status();
  SKIFF_ASSERT_OK_AND_ASSIGN(auto creds, (*hub)->enrollDevice("e1", {{"site", "a"}}));
  auto dev = SimDevice::start((*hub)->simDeviceOptions(creds));
  SKIFF_ASSERT_OK(dev);
  SKIFF_ASSERT_OK((*dev)->waitConnected(20s));
  ASSERT_TRUE(apply(**hub, deployment("web", "site=a", {{"web", "nginx:1"}})).ok());
  ASSERT_TRUE((*dev)->waitFor([](SimAgent& a) { return a.appliedVersion() > 0; }, 20s));
  auto before = getDevice(**hub, "e1");
  SKIFF_ASSERT_OK((*hub)->restartHub());
  auto after = getDevice(**hub, "e1");
  EXPECT_EQ(after.desired_version(), before.desired_version());
  EXPECT_EQ(after.labels().at("site"), "a");
  EXPECT_EQ(getDeployment(**hub, "web").generation(), 1);
  auto keys = (*etcd)->etcdctl({"get", "/", "--prefix", "--keys-only"});
  ASSERT_TRUE(keys.isOk()) << keys.status();
  EXPECT_NE(keys->output.find("/skiff/hub/devices/e1"), std::string::npos) << keys->output;
}

}  // namespace
}  // namespace skiff::test
