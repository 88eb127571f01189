// Operator input validation, record round trips, tokens.csv, manifests, CRLs, the Mosquitto
// config and the metrics ring.
#include "hub/model.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/fs.h"
#include "hub/auth.h"
#include "hub/broker/crl.h"
#include "hub/broker/mosquitto_config.h"
#include "hub/ctl/manifest.h"
#include "hub/fleet/metrics_history.h"

namespace skiff::hub {
namespace {

DeploymentInput input() {
  DeploymentInput in;
  in.id = "web";
  in.targetSelector = "site = a";
  in.podsJson = R"([{"name":"web","containers":[{"name":"nginx","image":"nginx"}]}])";
  return in;
}

TEST(ModelTest, ValidDeploymentIsNormalized) {
  auto d = validateDeployment(input());
  ASSERT_TRUE(d.isOk()) << d.status();
  EXPECT_EQ(d->targetSelector, "site=a");
  EXPECT_EQ(d->pods[0].deploymentId, "web");
  DeploymentRecord r{*d, 3, 10, 20};
  auto back = deploymentRecordFromJson(toJson(r));
  ASSERT_TRUE(back.isOk()) << back.status();
  EXPECT_EQ(back->spec, r.spec);
  EXPECT_EQ(back->generation, 3);
}

// The edge provider marks its deployments with skiff.io/managed-by and skiff.io/virtual-node
// (docs/pod-mapping.md); only device labels reserve skiff.io/ for the hub's implicit labels. Found
// by the e2e test: the real hub refused every pod the virtual node applied.
TEST(ModelTest, DeploymentLabelsMayUseTheSkiffPrefixDeviceLabelsMayNot) {
  auto in = input();
  in.labels = {{"skiff.io/managed-by", "skiff-virtual-node"}, {"skiff.io/virtual-node", "vk"}};
  auto d = validateDeployment(in);
  ASSERT_TRUE(d.isOk()) << d.status();
  EXPECT_EQ(d->labels.at("skiff.io/virtual-node"), "vk");
  auto device = validateOperatorLabels({{"skiff.io/arch", "x"}});
  EXPECT_EQ(device.code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(device.message().find("set by the hub"), std::string::npos) << device;
}

TEST(ModelTest, BadDeploymentsNameTheField) {
  auto expect = [](DeploymentInput in, const std::string& field) {
    auto d = validateDeployment(in);
    ASSERT_FALSE(d.isOk()) << field;
    EXPECT_EQ(d.status().code(), common::StatusCode::kInvalidArgument);
    EXPECT_NE(d.status().message().find(field), std::string::npos) << d.status();
  };
  auto in = input();
  in.id = "Web_1";
  expect(in, "id");
  in = input();
  in.targetSelector = "";
  expect(in, "targetSelector");
  in.targetSelector = "a in (";
  expect(in, "targetSelector");
  in = input();
  in.podsJson = R"([{"name":"x","containers":[{"name":"c","image":"y","bogus":1}]}])";
  expect(in, "pods[0].containers[0].bogus");
  in.podsJson = "[]";
  expect(in, "pods");
  in.podsJson = "";
  expect(in, "pods: at least one pod");
  in.podsJson = R"([{"name":"x","deploymentId":"other","containers":[{"name":"c","image":"y"}]}])";
  expect(in, "pods[0].deploymentId");
  in.podsJson =
      R"([{"name":"x","containers":[{"name":"c","image":"y","ports":[{"containerPort":80}]},{"name":"d","image":"y","ports":[{"containerPort":80}]}]}])";
  expect(in, "pods[0].containers[1].ports[0].containerPort: duplicate port");
  in.modulesJson = R"([{"name":"x","image":"y"}])";
  expect(in, "not both");
  // Schema-1 input (modules) is still taken, as pods of one container.
  in = input();
  in.podsJson.clear();
  in.modulesJson = R"([{"name":"web/nginx","image":"nginx","bogus":1}])";
  expect(in, "modules[0].containers[0].bogus");
  in.modulesJson = R"([{"name":"web/nginx","image":"nginx"}])";
  auto legacy = validateDeployment(in);
  ASSERT_TRUE(legacy.isOk()) << legacy.status();
  EXPECT_EQ(legacy->pods[0].name, "web-nginx");
  EXPECT_EQ(legacy->pods[0].containers[0].name, "nginx");
  // A record stored by a hub of schema 1 loads as pods.
  Json stored = {{"id", "old"},
                 {"targetSelector", "a=b"},
                 {"modules", Json::array({{{"name", "m/x"}, {"image", "i"}}})}};
  auto rec = deploymentRecordFromJson(stored);
  ASSERT_TRUE(rec.isOk()) << rec.status();
  EXPECT_EQ(rec->spec.pods[0].name, "m-x");
  in = input();
  in.labels = {{"bad key!", "y"}};
  expect(in, "labels[\"bad key!\"]");
  in = input();
  in.registryCredentialsJson = R"([{"server":"r"},{"server":"r"}])";
  expect(in, "registryCredentials[1].server");
  in.registryCredentialsJson = R"([{"server":"r","token":"t"}])";
  expect(in, "registryCredentials[0].token");
  EXPECT_TRUE(isReservedDeviceId("hub"));
  EXPECT_FALSE(isReservedDeviceId("pi-1"));
}

TEST(AuthTest, TokensFileAndRoles) {
  auto a = TokenAuthenticator::parse(
      "# comment\nadmintoken-0123456789,alice,admin\nreadertoken-012345678,bob,reader\n");
  ASSERT_TRUE(a.isOk()) << a.status();
  auto alice = a->authenticate("Bearer admintoken-0123456789");
  ASSERT_TRUE(alice.isOk());
  EXPECT_EQ(alice->role, Role::kAdmin);
  auto bob = a->authenticate("Bearer readertoken-012345678");
  ASSERT_TRUE(bob.isOk());
  EXPECT_EQ(TokenAuthenticator::requireAdmin(*bob, "x").code(),
            common::StatusCode::kPermissionDenied);
  EXPECT_EQ(a->authenticate("").status().code(), common::StatusCode::kUnauthenticated);
  EXPECT_EQ(a->authenticate("Basic abc").status().code(), common::StatusCode::kUnauthenticated);
  EXPECT_EQ(a->authenticate("Bearer nope").status().code(), common::StatusCode::kUnauthenticated);
  EXPECT_FALSE(TokenAuthenticator::parse("t-0123456789abcdef,x,root\n").isOk());
  EXPECT_FALSE(TokenAuthenticator::parse("short,x,admin\n").isOk());
  EXPECT_FALSE(TokenAuthenticator::parse("# nothing\n").isOk());
}

TEST(ManifestTest, YamlAndJsonManifests) {
  auto docs = ctl::parseManifests(R"y(id: a
targetSelector: "x=y"
priority: 3
labels: {team: "1"}
pods:
  - name: m
    containers:
      - name: c
        image: i
        ports: [{containerPort: 80}]
        env: [{name: N, value: "007"}]
---
id: b
targetSelector: x
modules: [{name: n, image: j}]
)y",
                                  "f.yaml");
  ASSERT_TRUE(docs.isOk()) << docs.status();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].priority(), 3);
  EXPECT_NE((*docs)[0].pods_json().find("\"containerPort\":80"), std::string::npos);
  EXPECT_NE((*docs)[0].pods_json().find("\"value\":\"007\""), std::string::npos);
  EXPECT_NE((*docs)[1].modules_json().find("\"image\":\"j\""), std::string::npos);  // schema 1
  auto json = ctl::parseManifests(R"([{"id":"c","targetSelector":"x","pods":[]}])", "f.json");
  ASSERT_TRUE(json.isOk());
  EXPECT_EQ((*json)[0].id(), "c");
  auto bad = ctl::parseManifests("id: a\nlabels: {n: 1}\npods: []\n", "f.yaml");
  EXPECT_NE(bad.status().message().find("labels.n"), std::string::npos) << bad.status();
  EXPECT_NE(ctl::parseManifests("{", "f.json").status().message().find("f.json"),
            std::string::npos);
  EXPECT_FALSE(ctl::parseManifests("", "e.yaml").isOk());
}

// The example the docs point to is a valid deployment, as the hub would validate it.
TEST(ManifestTest, ShippedExampleIsAValidDeployment) {
  auto text = common::readFile(std::string(SKIFF_SOURCE_DIR) + "/deploy/examples/hello.yaml");
  ASSERT_TRUE(text.isOk()) << text.status();
  auto docs = ctl::parseManifests(*text, "hello.yaml");
  ASSERT_TRUE(docs.isOk()) << docs.status();
  ASSERT_EQ(docs->size(), 1u);
  const auto& d = (*docs)[0];
  DeploymentInput in{d.id(),           {}, {}, d.target_selector(), d.priority(), d.pods_json(),
                     d.modules_json(), ""};
  auto spec = validateDeployment(in);
  ASSERT_TRUE(spec.isOk()) << spec.status();
  ASSERT_EQ(spec->pods.size(), 1u);
  EXPECT_EQ(spec->pods[0].containers.size(), 1u);
}

TEST(BrokerFilesTest, CrlRoundTripAndAcl) {
  auto ca = common::tls::CertificateAuthority::create("t");
  ASSERT_TRUE(ca.isOk());
  auto now = std::chrono::system_clock::now();
  auto crl = broker::buildCrl(*ca, {{"0A1B", now}, {"ff00", now}}, now);
  ASSERT_TRUE(crl.isOk()) << crl.status();
  auto info = broker::readCrl(*crl);
  ASSERT_TRUE(info.isOk()) << info.status();
  EXPECT_EQ(info->serials, (std::set<std::string>{"0a1b", "ff00"}));
  EXPECT_EQ(std::chrono::time_point_cast<std::chrono::seconds>(info->thisUpdate),
            std::chrono::time_point_cast<std::chrono::seconds>(now));
  EXPECT_FALSE(broker::buildCrl(*ca, {{"xyz", now}}, now).isOk());
  EXPECT_FALSE(broker::readCrl("junk").isOk());
  std::string acl = broker::aclFile({"gone"});
  EXPECT_NE(acl.find("pattern read skiff/v1/devices/%u/desired"), std::string::npos);
  EXPECT_NE(acl.find("user gone\ntopic deny #"), std::string::npos);
  broker::MosquittoConfig mc;
  mc.crlFile = "/c.pem";
  std::string conf = broker::mosquittoConf(mc);
  EXPECT_NE(conf.find("crlfile /c.pem"), std::string::npos);
  EXPECT_NE(conf.find("require_certificate true"), std::string::npos);
  EXPECT_NE(conf.find("use_identity_as_username true"), std::string::npos);
  EXPECT_NE(conf.find("\nset_tcp_nodelay true\n"), std::string::npos);  // reports go out at once
}

TEST(MetricsHistoryTest, KeepsOneSamplePerSlotForTheWindow) {
  fleet::MetricsHistory h(std::chrono::seconds(30), std::chrono::seconds(3600));
  common::protocol::Metrics m;
  m.cpuPercent = 5;
  m.memoryUsedBytes = 1 << 20;
  std::int64_t t0 = 1'700'000'000'000;
  for (int i = 0; i < 400; ++i) {  // every 15 s for 100 minutes
    m.cpuPercent = i;
    h.add(t0 + i * 15'000, m);
  }
  EXPECT_LE(h.size(), 121u);
  auto j = h.toJson(t0 + 399 * 15'000);
  EXPECT_LE(j.size(), 121u);
  EXPECT_GE(j.size(), 119u);
  EXPECT_EQ(j.back()["cpuPercent"], 399);
  EXPECT_FALSE(j.back().contains("temperatureCelsius"));
  EXPECT_LE(h.memoryBytes(), 121u * 32u * 2u);
}

}  // namespace
}  // namespace skiff::hub
