// Protocol payloads: round trips, strict validation with field paths, desired-state signing
// (forged, re-keyed, unsigned, tampered), topics.
#include "common/protocol/protocol.h"

#include <gtest/gtest.h>

#include "common/base64.h"
#include "tests/support/status_assert.h"

namespace skiff::common::protocol {
namespace {

PodSpec onePod() {
  PodSpec p;
  p.name = "web-1";
  p.deploymentId = "default.web-1-abcdef0123";
  ContainerSpec c;
  c.name = "nginx";
  c.image = "127.0.0.1:5000/busybox:latest";
  c.env = {{"MODE", "prod"}};
  p.containers = {c};
  return p;
}

class SigningTest : public testing::Test {
 protected:
  void SetUp() override {
    key_ = tls::PrivateKey::generate(tls::KeyType::kEd25519).value();
    pub_ = key_.publicKeyPem().value();
    other_ = tls::PrivateKey::generate(tls::KeyType::kEd25519).value();
    doc_.deviceId = "pi-01";
    doc_.version = 7;
    doc_.issuedAt = "2026-12-01T10:00:00Z";
    doc_.pods = {onePod()};
    doc_.registryCredentials = {{"127.0.0.1:5000", "u", "p"}};
  }
  tls::PrivateKey key_;
  tls::PrivateKey other_;
  std::string pub_;
  DesiredState doc_;
};

TEST_F(SigningTest, SignedDocumentVerifiesAndRoundTrips) {
  auto wire = signDesired(doc_, key_);
  SKIFF_ASSERT_OK(wire);
  auto back = verifyDesired(*wire, pub_);
  SKIFF_ASSERT_OK(back);
  EXPECT_EQ(*back, doc_);
  auto j = parseJson(*wire).value();
  EXPECT_EQ(j["signature"]["alg"], "Ed25519");
  EXPECT_EQ(j["signature"]["keyId"], keyIdOf(pub_));
}

TEST_F(SigningTest, ReserializationByAnotherParserStillVerifies) {
  // Whitespace and key order on the wire do not matter: the signature covers canonical JSON.
  auto wire = signDesired(doc_, key_).value();
  std::string pretty = parseJson(wire).value().dump(2);
  SKIFF_EXPECT_OK(verifyDesired(pretty, pub_));
}

TEST_F(SigningTest, ForgedTamperedUnsignedAndWrongKeyAreUnauthenticated) {
  auto wire = signDesired(doc_, key_).value();
  auto expectUnauth = [&](const std::string& payload, const char* what) {
    auto r = verifyDesired(payload, pub_);
    ASSERT_FALSE(r.isOk()) << what;
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << what << ": " << r.status();
  };
  Json j = parseJson(wire).value();
  Json tampered = j;
  tampered["pods"][0]["containers"][0]["image"] = "evil/miner";
  expectUnauth(dumpJson(tampered), "tampered image");
  Json bumped = j;
  bumped["version"] = 8;
  expectUnauth(dumpJson(bumped), "tampered version");
  Json unsigned_ = j;
  unsigned_.erase("signature");
  expectUnauth(dumpJson(unsigned_), "unsigned");
  expectUnauth(signDesired(doc_, other_).value(), "signed by another key");
  Json garbage = j;
  garbage["signature"]["value"] = "AAAA";
  expectUnauth(dumpJson(garbage), "garbage signature");
  Json wrongAlg = j;
  wrongAlg["signature"]["alg"] = "none";
  expectUnauth(dumpJson(wrongAlg), "alg none");
  Json numericAlg = j;
  numericAlg["signature"]["alg"] = 5;
  expectUnauth(dumpJson(numericAlg), "alg not a string (used to throw)");
  Json notObject = j;
  notObject["signature"] = "x";
  expectUnauth(dumpJson(notObject), "signature not an object");
}

TEST_F(SigningTest, MalformedAndOversizedPayloadsAreRejected) {
  EXPECT_EQ(verifyDesired("{not json", pub_).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(verifyDesired("[]", pub_).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(verifyDesired(R"({"schema":"2"})", pub_).status().code(), StatusCode::kInvalidArgument);
  std::string huge(kMaxPayloadBytes + 1, ' ');
  EXPECT_EQ(verifyDesired(huge, pub_).status().code(), StatusCode::kResourceExhausted);
  // Properly signed but violating the schema: still refused, as InvalidArgument.
  Json bad = toJson(doc_);
  bad["pods"][0]["containers"][0]["image"] = 5;
  auto sig = key_.sign(dumpJson(bad)).value();
  bad["signature"] = {{"alg", "Ed25519"}, {"keyId", "x"}, {"value", base64Encode(sig)}};
  auto r = verifyDesired(dumpJson(bad), pub_);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("desired.pods[0].containers[0].image"), std::string::npos);
}

TEST_F(SigningTest, SchemasOneAndTwoAreReadNewerOnesRefused) {
  // Schema 2 is what this build writes.
  EXPECT_EQ(toJson(doc_)["schema"], kDesiredSchema);
  // Schema 1 (an older hub): modules, each read as a pod of one container.
  Json legacy = {{"schema", 1},
                 {"deviceId", "pi-01"},
                 {"version", 3},
                 {"modules", Json::array({{{"name", "web/app"}, {"image", "busybox"}}})}};
  auto wire = signDesiredJson(legacy, key_, keyIdOf(pub_)).value();
  auto back = verifyDesired(wire, pub_);
  SKIFF_ASSERT_OK(back);
  ASSERT_EQ(back->pods.size(), 1u);
  EXPECT_EQ(back->pods[0].name, "web-app");
  // Schema 3: refused as a whole, saying so (the agent reports it as UnsupportedSchema).
  Json future = toJson(doc_);
  future["schema"] = 3;
  auto newer = verifyDesired(signDesiredJson(future, key_, keyIdOf(pub_)).value(), pub_);
  ASSERT_FALSE(newer.isOk());
  EXPECT_NE(newer.status().message().find("schema 3 is newer"), std::string::npos)
      << newer.status();
}

TEST(ProtocolTest, ReportedRoundTripsAndValidates) {
  Reported rep;
  rep.deviceId = "pi-01";
  rep.seq = 3;
  rep.reportedAt = "2026-12-01T10:00:00Z";
  rep.appliedVersion = 7;
  rep.desiredError = DesiredError{8, "SignatureInvalid", "forged"};
  PodStatus pod;
  pod.name = "web";
  pod.deploymentId = "dep";
  pod.specHash = "abc";
  pod.phase = "Running";
  pod.initialized = true;
  pod.ready = true;
  pod.terminating = true;
  pod.podIP = "10.88.0.4";
  pod.hostIP = "192.168.1.20";
  pod.reason = "SandboxChanged";
  pod.message = "Pod sandbox changed, it will be killed and re-created.";
  pod.startedAt = "2026-12-01T10:00:00Z";
  rep.pods = {pod};
  ModuleStatus s;
  s.name = "web/nginx";
  s.kind = ContainerKind::kSidecar;
  s.started = true;
  s.state = ModuleState::kWaiting;
  s.reason = "CrashLoopBackOff";
  s.restartCount = 4;
  s.lastTermination = Termination{1, "Error", "a", "b"};
  ModuleStatus t;
  t.name = "job/once";
  t.state = ModuleState::kTerminated;
  t.exitCode = 0;
  t.reason = "Completed";
  rep.modules = {s, t};
  rep.facts.arch = "arm64";
  rep.facts.cpus = 4;
  rep.facts.memoryBytes = 1 << 30;
  auto back = reportedFromJson(parseJson(dumpJson(toJson(rep))).value());
  SKIFF_ASSERT_OK(back);
  EXPECT_EQ(*back, rep);

  Json bad = toJson(rep);
  bad["modules"][0]["restartCount"] = -1;
  EXPECT_FALSE(reportedFromJson(bad).isOk());
  bad = toJson(rep);
  bad["deviceId"] = "../x";
  EXPECT_FALSE(reportedFromJson(bad).isOk());
  bad = toJson(rep);
  bad["modules"][0]["state"] = "dancing";
  EXPECT_FALSE(reportedFromJson(bad).isOk());
  bad = toJson(rep);
  bad["pods"][0]["phase"] = "Sleeping";
  EXPECT_FALSE(reportedFromJson(bad).isOk());
  bad = toJson(rep);
  bad["pods"].push_back(bad["pods"][0]);
  EXPECT_FALSE(reportedFromJson(bad).isOk());
  bad = toJson(rep);
  bad["schema"] = 3;
  EXPECT_FALSE(reportedFromJson(bad).isOk());
  // A schema-1 agent's report: its modules are read as the pods they now are.
  Json legacy = {
      {"schema", 1},
      {"deviceId", "pi-01"},
      {"modules",
       Json::array(
           {{{"name", "web/app"}, {"deploymentId", "d"}, {"state", "running"}, {"ready", true}}})}};
  auto old = reportedFromJson(legacy);
  SKIFF_ASSERT_OK(old);
  ASSERT_EQ(old->pods.size(), 1u);
  EXPECT_EQ(old->pods[0].name, "web-app");
  EXPECT_EQ(old->pods[0].phase, "Running");
  EXPECT_EQ(old->modules[0].name, "web-app/app");
}

TEST(ProtocolTest, PresenceMetricsAndRpcRoundTrip) {
  Presence p{true, "2026-12-01T10:00:00Z", "0.1.0"};
  EXPECT_EQ(presenceFromJson(toJson(p)).value(), p);
  EXPECT_FALSE(presenceFromJson(Json{{"schema", 1}, {"state", "maybe"}}).isOk());

  Metrics m;
  m.at = "2026-12-01T10:00:00Z";
  m.cpuPercent = 12.5;
  m.temperatureCelsius = 48.25;
  m.modules = {{"a", 1.5, 1024}};
  EXPECT_EQ(metricsFromJson(parseJson(dumpJson(toJson(m))).value()).value(), m);
  Json hot = toJson(m);
  hot["cpuPercent"] = 1000;
  EXPECT_FALSE(metricsFromJson(hot).isOk());

  RpcRequest q{"req-1", "logs", {{"module", "a"}, {"follow", true}}};
  auto q2 = rpcRequestFromJson(toJson(q));
  SKIFF_ASSERT_OK(q2);
  EXPECT_EQ(q2->params["module"], "a");
  EXPECT_FALSE(rpcRequestFromJson(Json{{"schema", 1}, {"id", "a/b"}, {"method", "x"}}).isOk());

  RpcResponse err = rpcError("req-1", 2, notFound("no module a"));
  auto back = rpcResponseFromJson(toJson(err));
  SKIFF_ASSERT_OK(back);
  EXPECT_EQ(rpcStatus(*back), notFound("no module a"));
  EXPECT_TRUE(back->final);
}

TEST(ProtocolTest, Topics) {
  EXPECT_EQ(topicFor("pi-01", Channel::kDesired), "skiff/v1/devices/pi-01/desired");
  EXPECT_EQ(topicFor("pi-01", Channel::kRpcRequest), "skiff/v1/devices/pi-01/rpc/request");
  EXPECT_EQ(rpcResponseTopic("pi-01", "r1"), "skiff/v1/devices/pi-01/rpc/response/r1");
  EXPECT_EQ(allDevicesFilter(Channel::kReported), "skiff/v1/devices/+/reported");
  auto p = parseDeviceTopic("skiff/v1/devices/pi-01/rpc/response/r1");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->deviceId, "pi-01");
  EXPECT_EQ(p->rest, "rpc/response/r1");
  EXPECT_FALSE(parseDeviceTopic("skiff/v1/devices/PI/reported").has_value());
  EXPECT_FALSE(parseDeviceTopic("skiff/v1/devices/pi-01").has_value());
  EXPECT_FALSE(parseDeviceTopic("other/pi-01/reported").has_value());
  SKIFF_EXPECT_OK(validateDeviceId("a"));
  EXPECT_FALSE(validateDeviceId("").isOk());
  EXPECT_FALSE(validateDeviceId("-a").isOk());
  EXPECT_FALSE(validateDeviceId(std::string(64, 'a')).isOk());
  EXPECT_FALSE(validateDeviceId("a+b").isOk());
}

TEST(ProtocolTest, BrokerAclGivesEachDeviceOnlyItsOwnTopics) {
  EXPECT_EQ(brokerAcl(),
            "pattern read skiff/v1/devices/%u/desired\n"
            "pattern read skiff/v1/devices/%u/rpc/request\n"
            "pattern write skiff/v1/devices/%u/reported\n"
            "pattern write skiff/v1/devices/%u/presence\n"
            "pattern write skiff/v1/devices/%u/metrics\n"
            "pattern write skiff/v1/devices/%u/rpc/response/#\n"
            "\n"
            "user hub\n"
            "topic readwrite skiff/#\n");
}

}  // namespace
}  // namespace skiff::common::protocol
