// The generic virtual node (node controller, pod controller, kubelet endpoint) with the
// FakeProvider and gmock mocks, against an in-process skiff control plane over HTTPS: Node
// registration, labels/taints kept in sync, Lease renewal, node removal, pod create/update/status,
// graceful deletion completed only after the provider confirms, orphans removed, failed syncs
// retried with backoff, and the kubelet endpoint's logs with client-certificate authorization.
#include "virtual_node/virtual_node.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/fs.h"
#include "control_plane/control_plane.h"
#include "tests/mocks/provider_mocks.h"
#include "tests/support/process.h"
#include "tests/support/status_assert.h"
#include "tests/virtual_node/fake_provider.h"
#include "virtual_node/kube/kubeconfig.h"

namespace skiff::virtual_node {
namespace {

using common::Json;
using test::FakeProvider;
using namespace std::chrono_literals;
namespace res = kube::resources;

const test::Eventually eventually{20s};

class VirtualNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIFF_ASSERT_OK_AND_ASSIGN(auto d, test::TempDir::create("vn-unit"));
    dir.emplace(std::move(d));
    control_plane::Options o;
    o.dataDir = dir->file("cp");
    o.listen = "127.0.0.1:0";
    o.leaderElect = false;
    o.disableScheduler = true;  // pods are created bound
    o.nodeMonitorGracePeriod = std::chrono::hours(1);
    SKIFF_ASSERT_OK_AND_ASSIGN(cp, control_plane::ControlPlane::start(o));
    SKIFF_ASSERT_OK_AND_ASSIGN(auto kc, kube::loadKubeConfig(cp->files().adminKubeconfig));
    client.emplace(kc);
  }
  void TearDown() override {
    if (vn) vn->stop();
    if (client) client->shutdown();
    if (cp) cp->stop();
  }

  void startVirtualNode(ProviderSet ps, bool singleNode = true) {
    VirtualNodeConfig c;
    c.name = "vk";
    c.singleNode = singleNode;
    c.node.leaseDuration = 4s;
    c.node.leaseRenewInterval = 200ms;
    c.node.statusReportInterval = 2s;
    c.pod.workers = 2;
    c.pod.resyncPeriod = 2s;
    c.pod.deletionRecheck = 200ms;
    c.kubelet.listen = {"127.0.0.1", 0};
    SKIFF_ASSERT_OK_AND_ASSIGN(c.kubelet.tls,
                               ensureServingCert(dir->file("pki"), "", "", "127.0.0.1", "vk"));
    c.kubelet.tls.caFile = cp->files().caCert;
    c.kubeletAdvertiseAddress = "127.0.0.1";
    SKIFF_ASSERT_OK_AND_ASSIGN(vn, VirtualNode::start(*client, ps, c, clock));
  }

  ProviderSet fakeSet() { return {&fake, &fake, &fake, &fake}; }

  Json podJson(const std::string& name, const std::string& node = "vk",
               const std::string& image = "app:1") {
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "default"}}},
            {"spec", {{"nodeName", node}, {"containers", {{{"name", "app"}, {"image", image}}}}}}};
  }
  common::Result<Json> get(const std::string& path) { return client->get(path); }
  Json createPod(const std::string& name, const std::string& node = "vk") {
    auto r = client->create(res::kPods.path("default"), podJson(name, node));
    EXPECT_TRUE(r.isOk()) << r.status();
    return r.isOk() ? *r : Json();
  }

  std::optional<test::TempDir> dir;
  std::unique_ptr<control_plane::ControlPlane> cp;
  std::optional<kube::KubeClient> client;
  const common::Clock& clock = common::SystemClock::instance();
  FakeProvider fake;
  std::unique_ptr<VirtualNode> vn;
};

TEST_F(VirtualNodeTest, RegistersNodesKeepsThemInSyncAndRemovesThem) {
  fake.setNodes({test::testNodeSpec("vk", {{"device.skiff.io/site", "a"}})});
  startVirtualNode(fakeSet());
  ASSERT_TRUE(vn->waitReady(20s));
  SKIFF_ASSERT_OK_AND_ASSIGN(Json node, get(res::kNodes.path("", "vk")));
  EXPECT_EQ(node["metadata"]["labels"].value("skiff.io/virtual-node", ""), "vk");
  EXPECT_EQ(node["metadata"]["labels"].value("device.skiff.io/site", ""), "a");
  EXPECT_EQ(node["spec"]["taints"][0].value("key", ""), "virtual-kubelet.io/provider");
  EXPECT_EQ(node["status"]["addresses"][0].value("type", ""), "InternalIP");
  EXPECT_EQ(node["status"]["addresses"][1].value("address", ""), "vk.local");
  EXPECT_EQ(node["status"]["daemonEndpoints"]["kubeletEndpoint"].value("Port", 0),
            vn->kubeletPort());
  EXPECT_EQ(node["status"]["nodeInfo"].value("kubeletVersion", ""), "v1.32.0-skiff");
  EXPECT_EQ(node["status"]["conditions"][0].value("reason", ""), "FakeReady");

  // Lease: created with the node as owner, renewed.
  SKIFF_ASSERT_OK_AND_ASSIGN(Json lease, get(res::kLeases.path("kube-node-lease", "vk")));
  EXPECT_EQ(lease["spec"].value("leaseDurationSeconds", 0), 4);
  EXPECT_EQ(lease["metadata"]["ownerReferences"][0].value("uid", ""),
            node["metadata"].value("uid", ""));
  std::string renewed = lease["spec"].value("renewTime", "");
  EXPECT_TRUE(eventually([&] {
    auto l = get(res::kLeases.path("kube-node-lease", "vk"));
    return l.isOk() && (*l)["spec"].value("renewTime", "") != renewed;
  }));

  // Someone else's label and taint survive; ours follow the provider.
  SKIFF_ASSERT_OK(client->patch(
      res::kNodes.path("", "vk"),
      Json{{"metadata", {{"labels", {{"team", "ops"}}}}},
           {"spec",
            {{"taints", Json::array({node["spec"]["taints"][0],
                                     {{"key", "maintenance"}, {"effect", "NoSchedule"}}})}}}}));
  fake.setNodes({test::testNodeSpec("vk", {{"device.skiff.io/site", "b"}, {"zone", "z1"}})});
  EXPECT_TRUE(eventually([&] {
    auto n = get(res::kNodes.path("", "vk"));
    return n.isOk() && (*n)["metadata"]["labels"].value("device.skiff.io/site", "") == "b" &&
           (*n)["metadata"]["labels"].value("zone", "") == "z1";
  }));
  fake.setNodes({test::testNodeSpec("vk", {{"zone", "z1"}})});
  EXPECT_TRUE(eventually([&] {
    auto n = get(res::kNodes.path("", "vk"));
    return n.isOk() && !(*n)["metadata"]["labels"].contains("device.skiff.io/site");
  }));
  SKIFF_ASSERT_OK_AND_ASSIGN(Json after, get(res::kNodes.path("", "vk")));
  EXPECT_EQ(after["metadata"]["labels"].value("team", ""), "ops");
  EXPECT_EQ(after["spec"]["taints"].size(), 2u);

  // Condition changes are written promptly, with transition times.
  auto spec = test::testNodeSpec("vk", {{"zone", "z1"}});
  spec.conditions = {{"Ready", "False", "DeviceOffline", "gone"}};
  fake.setNodes({spec});
  EXPECT_TRUE(eventually([&] {
    auto n = get(res::kNodes.path("", "vk"));
    return n.isOk() && (*n)["status"]["conditions"][0].value("status", "") == "False";
  }));

  // The provider stops backing the node: its pods, Lease and Node go.
  createPod("on-vk");
  ASSERT_TRUE(eventually([&] { return fake.running("default", "on-vk"); }));
  fake.setNodes({});
  EXPECT_TRUE(eventually([&] {
    return get(res::kNodes.path("", "vk")).status().code() == common::StatusCode::kNotFound &&
           get(res::kLeases.path("kube-node-lease", "vk")).status().code() ==
               common::StatusCode::kNotFound &&
           get(res::kPods.path("default", "on-vk")).status().code() ==
               common::StatusCode::kNotFound;
  }));
  EXPECT_GE(fake.count("delete default/on-vk"), 1);
}

TEST_F(VirtualNodeTest, SyncsPodsStatusAndUpdates) {
  fake.setNodes({test::testNodeSpec("vk")});
  startVirtualNode(fakeSet());
  ASSERT_TRUE(vn->waitReady(20s));
  createPod("web");
  createPod("elsewhere", "other-node");
  // Status (pods/status) and the provider's annotations (the pod itself) are two writes.
  ASSERT_TRUE(eventually([&] {
    auto p = get(res::kPods.path("default", "web"));
    return p.isOk() && (*p)["status"].value("phase", "") == "Running" &&
           common::jsonString(common::jsonField((*p)["metadata"], "annotations"),
                              "fake.skiff.io/where") == "nowhere";
  }));
  SKIFF_ASSERT_OK_AND_ASSIGN(Json p, get(res::kPods.path("default", "web")));
  EXPECT_EQ(p["status"]["containerStatuses"][0].value("imageID", ""), "sha256:fake");
  EXPECT_EQ(fake.count("create default/web"), 1);
  EXPECT_EQ(fake.count("create default/elsewhere"), 0) << "pods of other nodes are not ours";
  // An image change reaches the provider as an update; resyncs do not repeat work.
  Json patch = {{"spec", {{"containers", {{{"name", "app"}, {"image", "app:2"}}}}}}};
  SKIFF_ASSERT_OK(
      client->patch(res::kPods.path("default", "web"), patch, kube::PatchType::kStrategicMerge));
  EXPECT_TRUE(eventually([&] { return fake.count("update default/web") == 1; }));
  std::this_thread::sleep_for(2500ms);  // one resync period
  EXPECT_EQ(fake.count("create default/web"), 1);
  EXPECT_EQ(fake.count("update default/web"), 1);
  // Annotations and labels set after creation reach the provider too (the edge provider reads
  // skiff.io/logs-device, target selector and priority from them); the provider's own
  // annotation (rewritten with its status) does not count as a change. Found by the e2e test:
  // `kubectl annotate pod … skiff.io/logs-device=…` was ignored.
  Json annotate = {{"metadata", {{"annotations", {{"example.com/choice", "b"}}}}}};
  SKIFF_ASSERT_OK(client->patch(res::kPods.path("default", "web"), annotate));
  EXPECT_TRUE(eventually([&] { return fake.count("update default/web") == 2; }));
  auto stored = fake.getPod("default", "web");
  ASSERT_TRUE(stored.isOk());
  EXPECT_EQ(common::jsonString(common::jsonField((*stored)["metadata"], "annotations"),
                               "example.com/choice"),
            "b");
  Json label = {{"metadata", {{"labels", {{"tier", "edge"}}}}}};
  SKIFF_ASSERT_OK(client->patch(res::kPods.path("default", "web"), label));
  EXPECT_TRUE(eventually([&] { return fake.count("update default/web") == 3; }));
  std::this_thread::sleep_for(2500ms);  // one resync period
  EXPECT_EQ(fake.count("update default/web"), 3);
}

TEST_F(VirtualNodeTest, DeletionCompletesOnlyAfterTheProviderConfirms) {
  fake.setNodes({test::testNodeSpec("vk")});
  startVirtualNode(fakeSet());
  ASSERT_TRUE(vn->waitReady(20s));
  createPod("web");
  ASSERT_TRUE(eventually([&] { return fake.running("default", "web"); }));
  SKIFF_ASSERT_OK(client->remove(res::kPods.path("default", "web")));
  ASSERT_TRUE(eventually([&] { return fake.count("delete default/web") >= 1; }));
  std::this_thread::sleep_for(1s);
  SKIFF_ASSERT_OK_AND_ASSIGN(Json terminating, get(res::kPods.path("default", "web")));
  EXPECT_TRUE(terminating["metadata"].contains("deletionTimestamp"));
  fake.completeRemoval("default", "web");
  EXPECT_TRUE(eventually([&] {
    return get(res::kPods.path("default", "web")).status().code() == common::StatusCode::kNotFound;
  }));
}

TEST_F(VirtualNodeTest, OrphansAreRemovedFromTheProvider) {
  fake.setNodes({test::testNodeSpec("vk")});
  Json orphan = podJson("gone");
  orphan["metadata"]["uid"] = "uid-of-a-deleted-pod";
  fake.adopt(orphan);
  startVirtualNode(fakeSet());
  EXPECT_TRUE(eventually([&] { return fake.count("delete default/gone") >= 1; }));
  EXPECT_FALSE(fake.running("default", "gone"));
}

TEST_F(VirtualNodeTest, FailedSyncsAreRetriedWithBackoff) {
  testing::NiceMock<test::MockPodLifecycleHandler> pods;
  ProviderSet ps{&pods, &fake, &fake, &fake};
  fake.setNodes({test::testNodeSpec("vk")});
  std::atomic<int> creates{0};
  std::atomic<bool> created{false};
  ON_CALL(pods, getPods()).WillByDefault(testing::Return(std::vector<Json>{}));
  ON_CALL(pods, getPod(testing::_, testing::_)).WillByDefault([&](const auto&, const auto&) {
    return created ? common::Result<Json>(podJson("web")) : common::notFound("no");
  });
  ON_CALL(pods, getPodStatus(testing::_, testing::_)).WillByDefault([](const auto&, const auto&) {
    return common::Result<PodStatusReport>(common::notFound("no"));
  });
  EXPECT_CALL(pods, createPod(testing::_)).WillRepeatedly([&](const Json&) {
    if (++creates < 3) return common::unavailable("hub unreachable");
    created = true;
    return common::Status::ok();
  });
  startVirtualNode(ps);
  ASSERT_TRUE(vn->waitReady(20s));
  createPod("web");
  EXPECT_TRUE(eventually([&] { return created.load(); }));
  EXPECT_EQ(creates.load(), 3);
  vn->stop();
}

TEST_F(VirtualNodeTest, KubeletEndpointServesLogsToTheApiServerOnly) {
  fake.setNodes({test::testNodeSpec("vk")});
  fake.setLog("app", "line one\nline two\n");
  startVirtualNode(fakeSet());
  ASSERT_TRUE(vn->waitReady(20s));
  createPod("web");
  ASSERT_TRUE(eventually([&] { return fake.running("default", "web"); }));
  ASSERT_TRUE(eventually([&] { return vn->pods().boundPod("default", "web") != nullptr; }));
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string caCert, common::readFile(cp->files().caCert));
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string caKey, common::readFile(cp->files().caKey));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto ca, common::tls::CertificateAuthority::fromPem(caCert, caKey));
  auto issue = [&](const std::string& cn, std::vector<std::string> orgs) {
    common::tls::IssueOptions io;
    io.commonName = cn;
    io.organizations = std::move(orgs);
    auto kc = ca.issueNew(io);
    EXPECT_TRUE(kc.isOk());
    return kube::CurlTls{"", true, *kc->cert.toPem(), *kc->key.toPem()};
  };
  auto fetch = [&](const std::string& path, const kube::CurlTls& tls) {
    auto h = kube::CurlEasy::create();
    EXPECT_TRUE(h.isOk());
    kube::CurlRequest req;
    req.url = "https://127.0.0.1:" + std::to_string(vn->kubeletPort()) + path;
    return h->perform(req, tls);
  };
  auto apiserver = issue("kube-apiserver-kubelet-client", {"system:masters"});
  auto ok = fetch("/containerLogs/default/web/app?tailLines=5&follow=true", apiserver);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "line one\nline two\n");
  ASSERT_TRUE(fake.lastLogOptions().has_value());
  EXPECT_EQ(fake.lastLogOptions()->tailLines.value_or(-1), 5);
  EXPECT_TRUE(fake.lastLogOptions()->follow);
  EXPECT_EQ(fetch("/containerLogs/default/web/app?limitBytes=4", apiserver).body, "line");
  EXPECT_EQ(fetch("/containerLogs/default/web/app", kube::CurlTls{"", true, "", ""}).status, 401);
  EXPECT_EQ(fetch("/containerLogs/default/web/app", issue("mallory", {})).status, 403);
  EXPECT_EQ(fetch("/containerLogs/default/nope/app", apiserver).status, 404);
  EXPECT_EQ(fetch("/containerLogs/default/web/nope", apiserver).status, 404);
  auto badTail = fetch("/containerLogs/default/web/app?tailLines=-3", apiserver);
  EXPECT_EQ(badTail.status, 400);
  EXPECT_NE(badTail.body.find("tailLines"), std::string::npos);
  auto previous = fetch("/containerLogs/default/web/app?previous=true", apiserver);
  EXPECT_EQ(previous.status, 400);
  EXPECT_NE(previous.body.find("previous logs are not kept"), std::string::npos);
  fake.setLog("app", "");
  EXPECT_EQ(fetch("/healthz", kube::CurlTls{"", true, "", ""}).status, 200);
  auto metrics = fetch("/metrics", kube::CurlTls{"", true, "", ""});
  EXPECT_NE(metrics.body.find("skiff_virtual_node_pod_syncs_total"), std::string::npos);
}

}  // namespace
}  // namespace skiff::virtual_node
