// The edge provider against the in-process FakeHub (a test double of hub.proto over gRPC+TLS):
// pods become deployments, status comes back from the watch, a restarted provider adopts what the
// hub runs without re-applying, deletion completes once the devices report the modules gone,
// fleet and device nodes, logs with device choice; and, with a gmock HubClient, the errors the
// hub can answer.
#include "edge_provider/edge_provider.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "edge_provider/deployment_id.h"
#include "edge_provider/grpc_hub_client.h"
#include "tests/edge_provider/fake_hub.h"
#include "tests/mocks/hub_client_mock.h"
#include "tests/mocks/provider_mocks.h"
#include "tests/support/process.h"
#include "tests/support/status_assert.h"

namespace skiff::edge_provider {
namespace {

using namespace std::chrono_literals;
using test::FakeHub;
using testing::NiceMock;

const test::Eventually eventually{15s};

Json pod(const std::string& name, const std::string& node = "fleet",
         const std::string& image = "app:1") {
  return {{"metadata",
           {{"name", name},
            {"namespace", "default"},
            {"uid", "uid-" + name},
            {"annotations", Json::object()}}},
          {"spec",
           {{"nodeName", node},
            {"restartPolicy", "Always"},
            {"nodeSelector", {{"device.skiff.io/site", "a"}}},
            {"containers", {{{"name", "app"}, {"image", image}}}}}},
          {"status", {{"phase", "Pending"}}}};
}

// Records events; counts by reason.
class Events final : public virtual_node::EventRecorder {
 public:
  void event(const Json& obj, std::string_view type, std::string_view reason,
             std::string_view message) override {
    std::lock_guard lock(mu);
    all.push_back(obj["metadata"].value("name", "") + " " + std::string(type) + " " +
                  std::string(reason) + " " + std::string(message));
  }
  int count(const std::string& text) {
    std::lock_guard lock(mu);
    int n = 0;
    for (const auto& e : all) n += e.find(text) != std::string::npos;
    return n;
  }
  std::mutex mu;
  std::vector<std::string> all;
};

class EdgeProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIFF_ASSERT_OK_AND_ASSIGN(hub, FakeHub::start());
    hub->addDevice("pi-a", {{"site", "a"}}, test::testFacts("arm64", 4, 4LL << 30));
    hub->addDevice("pi-b", {{"site", "b"}}, test::testFacts("arm", 2, 1LL << 30));
    GrpcHubClientOptions o;
    o.address = hub->address();
    o.caPem = hub->caPem();
    o.token = hub->adminToken();
    SKIFF_ASSERT_OK_AND_ASSIGN(client, GrpcHubClient::create(o));
    ON_CALL(reader, getConfigMap(testing::_, testing::_))
        .WillByDefault(testing::Return(common::notFound("none")));
  }

  std::unique_ptr<EdgeProvider> makeProvider(bool deviceMode = false) {
    EdgeProviderOptions o;
    o.owner = "fleet";
    o.deviceMode = deviceMode;
    o.fleetStatusInterval = 100ms;
    o.watchMinBackoff = 20ms;
    o.watchMaxBackoff = 200ms;
    auto p = std::make_unique<EdgeProvider>(*client, reader, events, clock, o);
    p->notifyPods([this](const std::string& ns, const std::string& name) {
      std::lock_guard lock(mu);
      notified.insert(ns + "/" + name);
    });
    p->notifyNodes([this] { ++nodeNotifications; });
    p->start();
    EXPECT_TRUE(p->waitForSync(10s));
    return p;
  }

  std::string phaseOf(EdgeProvider& p, const std::string& name) {
    auto s = p.getPodStatus("default", name);
    return s.isOk() ? s->status.value("phase", "") : s.status().toString();
  }

  std::unique_ptr<FakeHub> hub;
  std::unique_ptr<GrpcHubClient> client;
  NiceMock<test::MockObjectReader> reader;
  Events events;
  const common::Clock& clock = common::SystemClock::instance();
  std::mutex mu;
  std::set<std::string> notified;
  std::atomic<int> nodeNotifications{0};
};

TEST_F(EdgeProviderTest, PodBecomesDeploymentAndReportsRealStatus) {
  auto p = makeProvider();
  SKIFF_ASSERT_OK(p->createPod(pod("web")));
  std::string id = deploymentIdFor("default", "web", "uid-web");
  auto d = hub->deployment(id);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->target_selector(), "site=a");
  EXPECT_EQ(hub->desiredPods("pi-a").size(), 1u);
  EXPECT_TRUE(hub->desiredPods("pi-b").empty());
  SKIFF_ASSERT_OK_AND_ASSIGN(Json running, p->getPod("default", "web"));
  EXPECT_EQ(running["metadata"]["uid"], "uid-web");
  ASSERT_TRUE(eventually([&] { return phaseOf(*p, "web") == "Running"; })) << phaseOf(*p, "web");
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(notified.contains("default/web"));
  }
  auto status = p->getPodStatus("default", "web");
  SKIFF_ASSERT_OK(status);
  EXPECT_EQ(status->status["containerStatuses"][0]["imageID"],
            "sha256:" + common::tls::sha256Hex("app:1"));
  Json summary = Json::parse(status->annotations.at("skiff.io/devices"));
  EXPECT_EQ(summary["running"], 1);
  EXPECT_TRUE(
      eventually([&] { return events.count("Started device pi-a: started container app") == 1; }));
  // Idempotent: applying the same pod again keeps the generation; an image change bumps it.
  SKIFF_ASSERT_OK(p->updatePod(pod("web")));
  EXPECT_EQ(hub->deployment(id)->generation(), 1);
  SKIFF_ASSERT_OK(p->updatePod(pod("web", "fleet", "app:2")));
  EXPECT_EQ(hub->deployment(id)->generation(), 2);
  EXPECT_EQ(hub->desiredPods("pi-a")[0].containers[0].image, "app:2");
}

TEST_F(EdgeProviderTest, RestartedProviderAdoptsWithoutReapplying) {
  {
    auto p = makeProvider();
    SKIFF_ASSERT_OK(p->createPod(pod("web")));
    ASSERT_TRUE(eventually([&] { return phaseOf(*p, "web") == "Running"; }));
  }
  int applies = hub->applyCalls();
  auto p = makeProvider();
  SKIFF_ASSERT_OK_AND_ASSIGN(auto pods, p->getPods());
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0]["metadata"]["uid"], "uid-web");
  SKIFF_ASSERT_OK(p->createPod(pod("web")));
  EXPECT_EQ(hub->applyCalls(), applies) << "an unchanged pod must be adopted, not re-applied";
  EXPECT_EQ(phaseOf(*p, "web"), "Running");
  // A changed pod is applied.
  SKIFF_ASSERT_OK(p->updatePod(pod("web", "fleet", "app:3")));
  EXPECT_EQ(hub->applyCalls(), applies + 1);
}

TEST_F(EdgeProviderTest, DeletionCompletesWhenDevicesDropThePod) {
  auto p = makeProvider();
  SKIFF_ASSERT_OK(p->createPod(pod("web")));
  ASSERT_TRUE(eventually([&] { return phaseOf(*p, "web") == "Running"; }));
  hub->setAutoReport("pi-a", false);
  SKIFF_ASSERT_OK(p->deletePod(pod("web")));
  EXPECT_TRUE(hub->deployments().empty());
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(p->getPod("default", "web").isOk()) << "pi-a still reports the pod";
  EXPECT_EQ(p->getPodStatus("default", "web").status().code(), common::StatusCode::kNotFound);
  // Containers gone but the pod still terminating (its sandbox and volumes are being removed):
  // not done yet.
  auto rep = hub->reported("pi-a");
  ASSERT_TRUE(rep.has_value());
  rep->modules.clear();
  ASSERT_EQ(rep->pods.size(), 1u);
  rep->pods[0].terminating = true;
  rep->seq++;
  hub->report("pi-a", *rep);
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(p->getPod("default", "web").isOk()) << "pi-a still reports the pod, terminating";
  // The device's report without the pod completes it.
  rep->pods.clear();
  rep->seq++;
  rep->appliedVersion = hub->desiredVersion("pi-a");
  hub->report("pi-a", *rep);
  EXPECT_TRUE(eventually([&] {
    return p->getPod("default", "web").status().code() == common::StatusCode::kNotFound;
  }));
  // Idempotent.
  SKIFF_EXPECT_OK(p->deletePod(pod("web")));
  // An offline device does not hold a deletion up (its retained desired state drops the module).
  hub->setAutoReport("pi-a", true);
  SKIFF_ASSERT_OK(p->createPod(pod("db")));
  ASSERT_TRUE(eventually([&] { return phaseOf(*p, "db") == "Running"; }));
  hub->setOnline("pi-a", false);
  ASSERT_TRUE(eventually([&] {
    auto st = p->getPodStatus("default", "db");
    return st.isOk() && st->status.value("reason", "") == "DeviceOffline";
  }));
  SKIFF_ASSERT_OK(p->deletePod(pod("db")));
  EXPECT_TRUE(eventually(
      [&] { return p->getPod("default", "db").status().code() == common::StatusCode::kNotFound; }));
  // ... which the pod's Events say.
  EXPECT_EQ(events.count("db Warning DeviceOffline deleted while device pi-a is offline"), 1);
}

TEST_F(EdgeProviderTest, FleetNode) {
  auto p = makeProvider();
  ASSERT_TRUE(eventually([&] {
    auto n = p->nodes();
    return n.isOk() && n->size() == 1 && (*n)[0].conditions[0].status == "True";
  }));
  auto n = (*p->nodes())[0];
  EXPECT_EQ(n.name, "fleet");
  EXPECT_EQ(n.labels.at("skiff.io/fleet"), "true");
  EXPECT_EQ(n.capacity.at("cpu"), "6000m");
  EXPECT_EQ(n.capacity.at("memory"), std::to_string((4LL << 30) + (1LL << 30)));
  EXPECT_EQ(n.taints[0]["key"], "virtual-kubelet.io/provider");
  hub->setBrokerConnected(false);
  EXPECT_TRUE(
      eventually([&] { return (*p->nodes())[0].conditions[0].reason == "BrokerDisconnected"; }));
  hub->stopServer();
  EXPECT_TRUE(
      eventually([&] { return (*p->nodes())[0].conditions[0].reason == "HubUnreachable"; }));
  SKIFF_ASSERT_OK(hub->startServer());
  hub->setBrokerConnected(true);
  EXPECT_TRUE(eventually([&] { return (*p->nodes())[0].conditions[0].status == "True"; }));
}

TEST_F(EdgeProviderTest, DeviceNodesFollowTheHub) {
  auto p = makeProvider(true);
  auto nodes = p->nodes();
  SKIFF_ASSERT_OK(nodes);
  ASSERT_EQ(nodes->size(), 2u);
  const auto& a = (*nodes)[0];
  EXPECT_EQ(a.name, "pi-a");
  EXPECT_EQ(a.labels.at("device.skiff.io/site"), "a");
  EXPECT_EQ(a.labels.at("kubernetes.io/arch"), "arm64");
  EXPECT_EQ(a.capacity.at("cpu"), "4");
  EXPECT_EQ(a.addresses[0].second, "host-arm64");
  int before = nodeNotifications;
  hub->setOnline("pi-b", false);
  EXPECT_TRUE(eventually([&] {
    auto n = p->nodes();
    return n.isOk() && (*n)[1].conditions[0].reason == "DeviceOffline";
  }));
  EXPECT_GT(nodeNotifications.load(), before);
  hub->addDevice("pi-c", {}, test::testFacts());
  EXPECT_TRUE(eventually([&] { return p->nodes()->size() == 3; }));
  hub->removeDevice("pi-a");
  EXPECT_TRUE(eventually([&] { return p->nodes()->size() == 2; }));
  // A pod bound to a device node targets that device only.
  SKIFF_ASSERT_OK(p->createPod(pod("sensor", "pi-c")));
  auto d = hub->deployment(deploymentIdFor("default", "sensor", "uid-sensor"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->target_selector(), "skiff.io/device-id=pi-c");
  // A node that is no device of the hub is refused clearly.
  auto bad = p->createPod(pod("stray", "pi-z"));
  EXPECT_EQ(bad.code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("node pi-z is not a device of this hub"), std::string::npos);
}

TEST_F(EdgeProviderTest, LogsComeFromOneDevice) {
  hub->addDevice("pi-a2", {{"site", "a"}}, test::testFacts());
  auto p = makeProvider();
  Json web = pod("web");
  SKIFF_ASSERT_OK(p->createPod(web));
  ASSERT_TRUE(eventually([&] { return phaseOf(*p, "web") == "Running"; }));
  hub->appendLog("pi-a", "web/app", "from a\n");
  hub->appendLog("pi-a2", "web/app", "from a2\nsecond\n");
  auto read = [&](const virtual_node::LogOptions& o) {
    std::string out;
    common::Status s = p->getContainerLogs("default", "web", "app", o, [&](std::string_view d) {
      out.append(d);
      return true;
    });
    return s.isOk() ? out : s.toString();
  };
  std::string first = read({});
  EXPECT_TRUE(first.starts_with("==> device pi-a (2 targeted;")) << first;
  EXPECT_NE(first.find("from a\n"), std::string::npos);
  // The annotation picks the device; tailLines reaches the hub.
  web["metadata"]["annotations"]["skiff.io/logs-device"] = "pi-a2";
  SKIFF_ASSERT_OK(p->updatePod(web));
  virtual_node::LogOptions tail;
  tail.tailLines = 1;
  std::string chosen = read(tail);
  EXPECT_NE(chosen.find("==> device pi-a2"), std::string::npos) << chosen;
  EXPECT_EQ(chosen.find("from a2"), std::string::npos) << chosen;
  EXPECT_NE(chosen.find("second"), std::string::npos) << chosen;
  web["metadata"]["annotations"]["skiff.io/logs-device"] = "pi-b";
  SKIFF_ASSERT_OK(p->updatePod(web));
  EXPECT_NE(read({}).find("device pi-b (annotation skiff.io/logs-device) is not targeted"),
            std::string::npos);
  virtual_node::LogOptions prev;
  prev.previous = true;
  EXPECT_NE(read(prev).find("InvalidArgument"), std::string::npos);
  EXPECT_NE(p->getContainerLogs("default", "nope", "app", {}, [](std::string_view) { return true; })
                .message()
                .find("not running on the hub"),
            std::string::npos);
}

TEST_F(EdgeProviderTest, WrongTokenIsUnauthenticated) {
  GrpcHubClientOptions o;
  o.address = hub->address();
  o.caPem = hub->caPem();
  o.token = "wrong";
  SKIFF_ASSERT_OK_AND_ASSIGN(auto bad, GrpcHubClient::create(o));
  EXPECT_EQ(bad->getFleetStatus().status().code(), common::StatusCode::kUnauthenticated);
  o.token = hub->readerToken();
  SKIFF_ASSERT_OK_AND_ASSIGN(auto reader, GrpcHubClient::create(o));
  SKIFF_EXPECT_OK(reader->getFleetStatus());
  EXPECT_EQ(reader->deleteDeployment("x").code(), common::StatusCode::kPermissionDenied);
}

// With a gmock HubClient: what the provider does with the hub's errors.
class EdgeProviderMockHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ON_CALL(hub, getFleetStatus()).WillByDefault([] {
      hubpb::FleetStatus f;
      f.set_broker_connected(true);
      return common::Result<hubpb::FleetStatus>(f);
    });
    // Each watch: an empty snapshot (SYNCED), then nothing until cancelled.
    ON_CALL(hub, watchDevices(testing::_, testing::_, testing::_))
        .WillByDefault([](const hubpb::WatchRequest&, std::stop_token st,
                          const std::function<bool(const hubpb::DeviceEvent&)>& onEvent) {
          hubpb::DeviceEvent ev;
          ev.set_type(hubpb::SYNCED);
          onEvent(ev);
          while (!st.stop_requested()) std::this_thread::sleep_for(5ms);
          return common::Status::ok();
        });
    ON_CALL(hub, watchDeployments(testing::_, testing::_, testing::_))
        .WillByDefault([this](const hubpb::WatchRequest&, std::stop_token st,
                              const std::function<bool(const hubpb::DeploymentEvent&)>& onEvent) {
          hubpb::DeploymentEvent ev;
          ev.set_type(hubpb::SYNCED);
          onEvent(ev);
          {
            std::lock_guard lock(watchMu);
            deploymentEvents = onEvent;
          }
          while (!st.stop_requested()) std::this_thread::sleep_for(5ms);
          std::lock_guard lock(watchMu);
          deploymentEvents = nullptr;
          return common::Status::ok();
        });
    EdgeProviderOptions o;
    o.owner = "fleet";
    provider = std::make_unique<EdgeProvider>(hub, reader, recorder, clock, o);
    provider->start();
    ASSERT_TRUE(provider->waitForSync(5s));
  }
  void TearDown() override { provider->stop(); }

  // Delivers a deployment event as the hub's watch would.
  void deliver(hubpb::EventType type, const hubpb::Deployment& d) {
    std::function<bool(const hubpb::DeploymentEvent&)> f;
    {
      std::lock_guard lock(watchMu);
      f = deploymentEvents;
    }
    ASSERT_TRUE(f) << "no deployment watch open";
    hubpb::DeploymentEvent ev;
    ev.set_type(type);
    *ev.mutable_deployment() = d;
    f(ev);
  }

  NiceMock<test::MockHubClient> hub;
  NiceMock<test::MockObjectReader> reader;
  NiceMock<test::MockEventRecorder> recorder;
  std::mutex watchMu;
  std::function<bool(const hubpb::DeploymentEvent&)> deploymentEvents;
  const common::Clock& clock = common::SystemClock::instance();
  std::unique_ptr<EdgeProvider> provider;
};

TEST_F(EdgeProviderMockHubTest, HubErrorsSurfaceInStatusAndEvents) {
  EXPECT_CALL(hub, applyDeployment(testing::_))
      .WillOnce(testing::Return(common::unavailable("hub ApplyDeployment: connection refused")))
      .WillOnce(testing::Return(common::invalidArgument("hub ApplyDeployment: modules[0].image")));
  common::Status s = provider->createPod(pod("web"));
  EXPECT_EQ(s.code(), common::StatusCode::kUnavailable);
  auto st = provider->getPodStatus("default", "web");
  SKIFF_ASSERT_OK(st);
  EXPECT_EQ(st->status["phase"], "Pending");
  EXPECT_NE(st->status["containerStatuses"][0]["state"]["waiting"]
                .value("message", "")
                .find("connection refused"),
            std::string::npos);
  EXPECT_EQ(provider->getPod("default", "web").status().code(), common::StatusCode::kNotFound)
      << "a pod the hub does not hold must be created again";
  EXPECT_CALL(recorder, event(testing::_, std::string_view("Warning"), std::string_view("Failed"),
                              testing::HasSubstr("modules[0].image")));
  EXPECT_EQ(provider->createPod(pod("web")).code(), common::StatusCode::kInvalidArgument);
  // Deleting while the hub is down fails (and is retried by the caller); NotFound is success.
  EXPECT_CALL(hub, deleteDeployment(testing::_))
      .WillOnce(testing::Return(common::unavailable("down")))
      .WillOnce(testing::Return(common::notFound("gone")));
  EXPECT_EQ(provider->deletePod(pod("web")).code(), common::StatusCode::kUnavailable);
  SKIFF_EXPECT_OK(provider->deletePod(pod("web")));
  EXPECT_EQ(provider->getPod("default", "web").status().code(), common::StatusCode::kNotFound);
}

TEST_F(EdgeProviderMockHubTest, APersistentErrorNotifiesOnceSoRetriesKeepTheirBackoff) {
  // A notification re-queues the pod at once; notifying every failed attempt bypassed the pod
  // controller's backoff and spun (hundreds of ApplyDeployment calls per second).
  std::atomic<int> notifications{0};
  provider->notifyPods([&](const std::string&, const std::string&) { ++notifications; });
  EXPECT_CALL(hub, applyDeployment(testing::_))
      .Times(3)
      .WillRepeatedly(testing::Return(common::invalidArgument("hub ApplyDeployment: labels")));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(provider->createPod(pod("web")).code(), common::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(notifications.load(), 1) << "the same error must be announced once";
  EXPECT_CALL(hub, applyDeployment(testing::_))
      .WillOnce(testing::Return(common::unavailable("hub ApplyDeployment: down")))
      .RetiresOnSaturation();
  EXPECT_EQ(provider->createPod(pod("web")).code(), common::StatusCode::kUnavailable);
  EXPECT_EQ(notifications.load(), 2) << "a different error is news";
}

TEST_F(EdgeProviderMockHubTest, AWatchEventFasterThanTheApplyAnswerWins) {
  // The device reports between the hub's apply and its answer reaching the provider: the watch
  // event (applied, running) arrives first; the older answer must not replace it.
  EXPECT_CALL(hub, applyDeployment(testing::_)).WillOnce([this](const hubpb::Deployment& d) {
    hubpb::Deployment answer = d;
    answer.set_generation(1);
    hubpb::Deployment fresh = answer;
    auto* dm = fresh.mutable_status()->add_devices();
    dm->set_device_id("pi-1");
    dm->set_online(true);
    dm->set_applied(true);
    common::protocol::ModuleStatus m;
    m.name = "web/app";
    m.deploymentId = d.id();
    m.state = common::protocol::ModuleState::kRunning;
    m.ready = true;
    dm->set_modules_json(Json::array({common::protocol::toJson(m)}).dump());
    common::protocol::PodStatus ps;
    ps.name = "web";
    ps.deploymentId = d.id();
    ps.phase = "Running";
    ps.ready = true;
    dm->set_pods_json(Json::array({common::protocol::toJson(ps)}).dump());
    deliver(hubpb::ADDED, fresh);
    auto* stale = answer.mutable_status()->add_devices();
    stale->set_device_id("pi-1");
    stale->set_online(true);
    stale->set_applied(false);
    return common::Result<hubpb::Deployment>(answer);
  });
  SKIFF_ASSERT_OK(provider->createPod(pod("web")));
  auto st = provider->getPodStatus("default", "web");
  SKIFF_ASSERT_OK(st);
  EXPECT_EQ(st->status["phase"], "Running") << st->status.dump();
}

TEST_F(EdgeProviderMockHubTest, UnsupportedFieldsAreOneWarningEvent) {
  Json p = pod("web");
  p["spec"]["hostAliases"] = Json::array({{{"ip", "1.2.3.4"}}});
  EXPECT_CALL(hub, applyDeployment(testing::_)).WillRepeatedly([](const hubpb::Deployment& d) {
    return common::Result<hubpb::Deployment>(d);
  });
  EXPECT_CALL(recorder,
              event(testing::_, std::string_view("Warning"), std::string_view("UnsupportedFields"),
                    testing::HasSubstr("spec.hostAliases")))
      .Times(1);
  SKIFF_ASSERT_OK(provider->createPod(p));
  SKIFF_ASSERT_OK(provider->updatePod(p));  // same spec: not repeated
}

}  // namespace
}  // namespace skiff::edge_provider
