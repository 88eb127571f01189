// Protocol payloads: round trips, strict validation with field paths, desired-state signing
// (forged, re-keyed, unsigned, tampered), topics.
#include "common/protocol/protocol.h"

#include <gtest/gtest.h>

#include "common/base64.h"
#include "tests/support/status_assert.h"

namespace skiff::common::protocol {
namespace {

ModuleSpec fullModule() {
  ModuleSpec m;
  m.name = "web-1/nginx";
  m.deploymentId = "default.web-1-abcdef0123";
  m.image = "127.0.0.1:5000/busybox:latest";
  m.pullPolicy = PullPolicy::kAlways;
  m.command = {"sh", "-c"};
  m.args = {"echo hi; sleep 100"};
  m.workingDir = "/srv";
  m.env = {{"MODE", "prod"}, {"EMPTY", ""}};
  m.ports = {{8080, 18080, "TCP", ""}, {53, 0, "UDP", "127.0.0.1"}};
  m.resources = {250, 64 * 1024 * 1024};
  Volume files{"cfg", Volume::Kind::kFiles, {{"app.conf", std::string("a=1\0b", 5), 0600}}, ""};
  Volume cache{"cache", Volume::Kind::kEmptyDir, {}, ""};
  Volume gpio{"gpio", Volume::Kind::kHostPath, {}, "/dev/gpiomem"};
  m.volumes = {files, cache, gpio};
  m.mounts = {{"cfg", "/etc/app", true, ""},
              {"cache", "/cache", false, ""},
              {"gpio", "/dev/gpiomem", false, ""}};
  m.privileged = true;
  m.restartPolicy = RestartPolicy::kOnFailure;
  Probe live;
  live.kind = Probe::Kind::kHttpGet;
  live.path = "/healthz";
  live.port = 8080;
  live.httpHeaders = {{"X-Probe", "1"}};
  m.livenessProbe = live;
  Probe ready;
  ready.kind = Probe::Kind::kExec;
  ready.command = {"cat", "/tmp/ready"};
  ready.periodSeconds = 2;
  m.readinessProbe = ready;
  m.stopTimeoutSeconds = 3;
  return m;
}

TEST(ProtocolTest, ModuleSpecRoundTripsThroughJson) {
  ModuleSpec m = fullModule();
  auto back = moduleSpecFromJson(parseJson(dumpJson(toJson(m))).value());
  SKIFF_ASSERT_OK(back);
  EXPECT_EQ(*back, m);
  EXPECT_EQ(specHash(*back), specHash(m));
  ModuleSpec changed = m;
  changed.env[0].value = "dev";
  EXPECT_NE(specHash(changed), specHash(m));
}

TEST(ProtocolTest, MinimalModuleGetsKubernetesDefaults) {
  auto m = moduleSpecFromJson(Json{{"name", "a"}, {"image", "busybox"}});
  SKIFF_ASSERT_OK(m);
  EXPECT_EQ(m->restartPolicy, RestartPolicy::kAlways);
  EXPECT_EQ(m->pullPolicy, PullPolicy::kIfNotPresent);
  EXPECT_EQ(m->stopTimeoutSeconds, 10);
  auto p = moduleSpecFromJson(Json{
      {"name", "a"}, {"image", "busybox"}, {"livenessProbe", {{"tcpSocket", {{"port", 80}}}}}});
  SKIFF_ASSERT_OK(p);
  EXPECT_EQ(p->livenessProbe->periodSeconds, 10);
  EXPECT_EQ(p->livenessProbe->failureThreshold, 3);
  EXPECT_EQ(p->livenessProbe->timeoutSeconds, 1);
}

struct BadModule {
  const char* json;
  const char* wantInMessage;
};

class BadModuleTest : public testing::TestWithParam<BadModule> {};

TEST_P(BadModuleTest, IsRejectedNamingTheField) {
  auto j = parseJson(GetParam().json);
  ASSERT_TRUE(j.isOk()) << GetParam().json;
  auto m = moduleSpecFromJson(*j, "modules[0]");
  ASSERT_FALSE(m.isOk()) << GetParam().json;
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find(GetParam().wantInMessage), std::string::npos)
      << m.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadModuleTest,
    testing::Values(
        BadModule{R"({"image":"x"})", "modules[0].name: required"},
        BadModule{R"({"name":"A","image":"x"})", "modules[0].name"},
        BadModule{R"({"name":"a/","image":"x"})", "must start and end"},
        BadModule{R"({"name":"a"})", "modules[0].image: required"},
        BadModule{R"({"name":"a","image":"x y"})", "whitespace"},
        BadModule{R"({"name":"a","image":"x","imagee":"y"})", "modules[0].imagee: unknown field"},
        BadModule{R"({"name":"a","image":7})", "modules[0].image: expected string, got"},
        BadModule{R"({"name":"a","image":"x","restartPolicy":"Sometimes"})", "Always, OnFailure"},
        BadModule{R"({"name":"a","image":"x","ports":[{"containerPort":0}]})",
                  "ports[0].containerPort: must be between 1 and 65535"},
        BadModule{R"({"name":"a","image":"x","ports":[{"containerPort":80,"protocol":"SCTP"}]})",
                  "TCP or UDP"},
        BadModule{R"({"name":"a","image":"x","ports":[{"containerPort":80.5}]})",
                  "expected integer"},
        BadModule{R"({"name":"a","image":"x","env":[{"name":"A=B","value":"1"}]})",
                  "env[0].name: invalid character"},
        BadModule{R"({"name":"a","image":"x","resources":{"cpuMillis":-1}})",
                  "resources.cpuMillis"},
        BadModule{R"({"name":"a","image":"x","mounts":[{"volume":"nope","mountPath":"/x"}]})",
                  "no volume named"},
        BadModule{
            R"({"name":"a","image":"x","volumes":[{"name":"v","type":"files","files":[{"path":"../etc/passwd","content":""}]}]})",
            "'..'"},
        BadModule{
            R"({"name":"a","image":"x","volumes":[{"name":"v","type":"files","files":[{"path":"f","content":"!!"}]}]})",
            "not valid base64"},
        BadModule{
            R"({"name":"a","image":"x","volumes":[{"name":"v","type":"hostPath","hostPath":"dev"}]})",
            "absolute path"},
        BadModule{R"({"name":"a","image":"x","volumes":[{"name":"v"}]})", "type: required"},
        BadModule{
            R"({"name":"a","image":"x","volumes":[{"name":"v","type":"emptyDir"},{"name":"v","type":"emptyDir"}]})",
            "duplicate volume"},
        BadModule{R"({"name":"a","image":"x","livenessProbe":{}})", "exactly one of"},
        BadModule{
            R"({"name":"a","image":"x","livenessProbe":{"exec":{"command":["a"]},"tcpSocket":{"port":1}}})",
            "exactly one of"},
        BadModule{R"({"name":"a","image":"x","readinessProbe":{"httpGet":{"port":70000}}})",
                  "readinessProbe.httpGet.port"},
        BadModule{R"({"name":"a","image":"x","livenessProbe":{"exec":{"command":[]}}})",
                  "command: must not be empty"},
        BadModule{R"({"name":"a","image":"x","stopTimeoutSeconds":99999})", "stopTimeoutSeconds"},
        BadModule{R"({"name":"a","image":"x","command":["ok",3]})", "command[1]: expected string"},
        BadModule{R"("just a string")", "modules[0]: expected object"}));

TEST(ProtocolTest, DuplicateModuleNamesAreRejected) {
  auto ms = moduleSpecsFromJson(
      parseJson(R"([{"name":"a","image":"x"},{"name":"a","image":"y"}])").value());
  ASSERT_FALSE(ms.isOk());
  EXPECT_NE(ms.status().message().find("modules[1].name: duplicate module"), std::string::npos);
  EXPECT_FALSE(moduleSpecsFromJson(Json::object()).isOk());
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
    doc_.modules = {fullModule()};
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
  tampered["modules"][0]["image"] = "evil/miner";
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
  EXPECT_EQ(verifyDesired(R"({"schema":2})", pub_).status().code(), StatusCode::kInvalidArgument);
  std::string huge(kMaxPayloadBytes + 1, ' ');
  EXPECT_EQ(verifyDesired(huge, pub_).status().code(), StatusCode::kResourceExhausted);
  // Properly signed but violating the schema: still refused, as InvalidArgument.
  Json bad = toJson(doc_);
  bad["modules"][0]["image"] = 5;
  auto sig = key_.sign(dumpJson(bad)).value();
  bad["signature"] = {{"alg", "Ed25519"}, {"keyId", "x"}, {"value", base64Encode(sig)}};
  auto r = verifyDesired(dumpJson(bad), pub_);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("desired.modules[0].image"), std::string::npos);
}

TEST(ProtocolTest, ReportedRoundTripsAndValidates) {
  Reported rep;
  rep.deviceId = "pi-01";
  rep.seq = 3;
  rep.reportedAt = "2026-12-01T10:00:00Z";
  rep.appliedVersion = 7;
  rep.desiredError = DesiredError{8, "SignatureInvalid", "forged"};
  ModuleStatus s;
  s.name = "web/nginx";
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

}  // namespace
}  // namespace skiff::common::protocol
