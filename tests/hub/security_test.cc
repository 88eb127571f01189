// Security of the hub against the real broker: per-device ACL (Paho and mosquitto_sub/_pub),
// revocation of deleted devices (CRL + ACL + broker reload + session takeover), one-time and
// expiring enrollment tokens, renewal with the current certificate only, and bearer tokens with
// roles on gRPC and REST.
#include <gtest/gtest.h>

#include <thread>

#include "common/fs.h"
#include "common/protocol/protocol.h"
#include "common/tls.h"
#include "tests/hub/test_util.h"
#include "tests/support/http.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using namespace std::chrono_literals;
namespace proto = common::protocol;

class HubSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto hub = HubFixture::create();
    ASSERT_TRUE(hub.isOk()) << hub.status();
    hub_ = std::move(*hub);
  }
  std::unique_ptr<SimDevice> startDevice(const DeviceCredentials& c) {
    auto d = SimDevice::start(hub_->simDeviceOptions(c));
    EXPECT_TRUE(d.isOk()) << d.status();
    if (!d.isOk()) return nullptr;
    EXPECT_TRUE((*d)->waitConnected(20s).isOk());
    return std::move(*d);
  }
  std::unique_ptr<HubFixture> hub_;
};

TEST_F(HubSecurityTest, DevicesCannotReadOrWriteEachOthersTopics) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto a, hub_->enrollDevice("dev-a", {{"site", "a"}}));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto b, hub_->enrollDevice("dev-b", {{"site", "a"}}));
  auto devA = startDevice(a);
  auto devB = startDevice(b);
  ASSERT_TRUE(devA && devB);
  ASSERT_TRUE(apply(*hub_, deployment("web", "site=a", {{"web/nginx", "nginx:1"}})).ok());
  ASSERT_TRUE(devA->waitFor([](SimAgent& ag) { return ag.appliedVersion() > 0; }, 20s));
  ASSERT_TRUE(devB->waitFor([](SimAgent& ag) { return ag.appliedVersion() > 0; }, 20s));

  // Paho: a second client with A's certificate subscribes to B's and its own desired state;
  // only its own (retained) arrives.
  common::bus::BusOptions bo;
  bo.url = hub_->mqttUrl();
  bo.clientId = "dev-a-spy";
  bo.tls = common::tls::TlsFiles{a.certFile, a.keyFile, a.caFile};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto spy, common::bus::makePahoBus(bo));
  std::mutex mu;
  std::vector<std::string> got;
  spy->setHandlers(
      [&](const common::bus::Message& m) {
        std::lock_guard lock(mu);
        got.push_back(m.topic);
      },
      [](bool, const std::string&) {});
  SKIFF_ASSERT_OK(spy->subscribe(proto::topicFor("dev-b", proto::Channel::kDesired), 1));
  SKIFF_ASSERT_OK(spy->subscribe(proto::topicFor("dev-b", proto::Channel::kRpcRequest), 1));
  SKIFF_ASSERT_OK(spy->subscribe(proto::topicFor("dev-a", proto::Channel::kDesired), 1));
  spy->start();
  SKIFF_ASSERT_OK(spy->waitConnected(20s));
  ASSERT_TRUE(waitUntil(
                  [&] {
                    std::lock_guard lock(mu);
                    return !got.empty();
                  },
                  10s)
                  .isOk());
  std::this_thread::sleep_for(1s);
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], proto::topicFor("dev-a", proto::Channel::kDesired));
  }
  // Publishing as B is refused by the broker (v5 PUBACK "not authorized") and the hub never
  // sees it: B's twin keeps B's own report.
  std::string bReported = getDevice(*hub_, "dev-b").reported_json();
  ASSERT_FALSE(bReported.empty());
  auto forged = devA->agent().report();
  std::string forgedPayload = forged.payload;
  auto pos = forgedPayload.find("\"dev-a\"");
  ASSERT_NE(pos, std::string::npos);
  forgedPayload.replace(pos, 7, "\"dev-b\"");
  common::Status s = common::bus::publishAndWait(
      *spy, {proto::topicFor("dev-b", proto::Channel::kReported), forgedPayload, 1, false}, 10s);
  EXPECT_FALSE(s.isOk()) << "broker accepted a publish to another device's topic";
  spy->stop();

  // mosquitto_sub/_pub with A's certificate: B's desired times out empty, A's own arrives.
  auto other = mosquittoSub(*hub_, a.certFile, a.keyFile,
                            proto::topicFor("dev-b", proto::Channel::kDesired), 2, "dev-a-cli");
  EXPECT_NE(other.exitCode, 0) << other.output;
  EXPECT_EQ(other.output.find("dev-b/desired "), std::string::npos) << other.output;
  auto own = mosquittoSub(*hub_, a.certFile, a.keyFile,
                          proto::topicFor("dev-a", proto::Channel::kDesired), 5, "dev-a-cli");
  EXPECT_EQ(own.exitCode, 0) << own.output;
  EXPECT_NE(own.output.find("dev-a/desired {"), std::string::npos) << own.output;
  auto pub = mosquittoPub(*hub_, a.certFile, a.keyFile,
                          proto::topicFor("dev-b", proto::Channel::kReported), forgedPayload);
  EXPECT_NE(pub.output.find("Not authorized"), std::string::npos) << pub.output;
  std::this_thread::sleep_for(500ms);
  v1::Device after = getDevice(*hub_, "dev-b");
  auto afterJson = common::parseJson(after.reported_json());
  ASSERT_TRUE(afterJson.isOk());
  EXPECT_EQ(afterJson->value("deviceId", ""), "dev-b");
  EXPECT_EQ(hub_->metric("skiff_hub_mqtt_rejected_total{channel=\"reported\",reason="
                         "\"device_mismatch\"}"),
            0)
      << "the forged report must not even reach the hub";
}

TEST_F(HubSecurityTest, DeletedDeviceIsDisconnectedAndRefused) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto c, hub_->enrollDevice("dev-c"));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto keep, hub_->enrollDevice("dev-keep"));
  auto devC = startDevice(c);
  auto devKeep = startDevice(keep);
  ASSERT_TRUE(devC && devKeep);
  ASSERT_TRUE(apply(*hub_, deployment("all", "skiff.io/device-id", {{"app/x", "busybox"}})).ok());
  ASSERT_TRUE(devC->waitFor([](SimAgent& ag) { return ag.appliedVersion() > 0; }, 20s));
  // Before deletion the certificate works with mosquitto_sub too.
  auto before = mosquittoSub(*hub_, c.certFile, c.keyFile,
                             proto::topicFor("dev-c", proto::Channel::kDesired), 5, "dev-c-cli");
  EXPECT_EQ(before.exitCode, 0) << before.output;

  v1::DeleteDeviceRequest del;
  del.set_id("dev-c");
  v1::DeleteResponse resp;
  auto s = hub_->stub()->DeleteDevice(hub_->context().get(), del, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // The live connection is taken over and the device cannot come back.
  ASSERT_TRUE(waitUntil([&] { return devC->disconnects() > 0; }, 30s).isOk())
      << "the deleted device's session was not taken over";
  std::this_thread::sleep_for(3s);  // several reconnect attempts (100 ms .. 1 s backoff)
  EXPECT_FALSE(devC->connected()) << "a deleted device reconnected";
  EXPECT_EQ(hub_->metric("skiff_hub_revocation_checks_total{result=\"refused\"}"), 1)
      << hub_->metrics().valueOr("");
  EXPECT_GE(hub_->metric("skiff_hub_session_takeovers_total"), 1);

  // Paho with the revoked certificate: never connects.
  common::bus::BusOptions bo;
  bo.url = hub_->mqttUrl();
  bo.clientId = "dev-c-again";
  bo.tls = common::tls::TlsFiles{c.certFile, c.keyFile, c.caFile};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto again, common::bus::makePahoBus(bo));
  again->setHandlers([](const common::bus::Message&) {}, [](bool, const std::string&) {});
  again->start();
  EXPECT_EQ(again->waitConnected(5s).code(), common::StatusCode::kDeadlineExceeded);
  again->stop();
  // mosquitto_sub with it: the TLS handshake fails.
  auto after = mosquittoSub(*hub_, c.certFile, c.keyFile,
                            proto::topicFor("dev-c", proto::Channel::kDesired), 3, "dev-c-cli");
  EXPECT_NE(after.exitCode, 0);
  EXPECT_NE(after.exitCode, 27) << "connected and timed out instead of being refused: "
                                << after.output;
  EXPECT_NE(hub_->brokerLog().find("certificate"), std::string::npos);

  // Other devices are unaffected, and the deleted device's retained state is gone: the hub's
  // own identity sees no desired document and an "offline" presence.
  EXPECT_TRUE(devKeep->connected());
  std::string hubCert = hub_->dataDir() + "/pki/hub-mqtt-client.pem";
  std::string hubKey = hub_->dataDir() + "/pki/hub-mqtt-client.key";
  auto retained = mosquittoSub(*hub_, hubCert, hubKey,
                               proto::topicFor("dev-c", proto::Channel::kDesired), 2, "t-desired");
  EXPECT_EQ(retained.exitCode, 27) << retained.output;
  auto presence = mosquittoSub(*hub_, hubCert, hubKey,
                               proto::topicFor("dev-c", proto::Channel::kPresence), 5, "t-pres");
  EXPECT_NE(presence.output.find("\"state\":\"offline\""), std::string::npos) << presence.output;

  // A device re-created with the same id enrolls anew and works; the old certificate stays out.
  devC->stop();
  SKIFF_ASSERT_OK_AND_ASSIGN(auto c2, hub_->enrollDevice("dev-c"));
  auto devC2 = startDevice(c2);
  ASSERT_TRUE(devC2);
  EXPECT_TRUE(devC2->waitFor([](SimAgent& ag) { return ag.appliedVersion() > 0; }, 20s));
  auto old = mosquittoSub(*hub_, c.certFile, c.keyFile,
                          proto::topicFor("dev-c", proto::Channel::kDesired), 3, "dev-c-old");
  EXPECT_NE(old.exitCode, 0);
  EXPECT_NE(old.exitCode, 27) << old.output;
}

TEST_F(HubSecurityTest, EnrollmentTokensAreOneTimeAndExpire) {
  SKIFF_ASSERT_OK(hub_->createDevice("dev-e"));
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string token, hub_->createEnrollmentToken("dev-e"));
  SKIFF_ASSERT_OK(hub_->enroll("dev-e", token));
  auto reused = hub_->enroll("dev-e", token);
  EXPECT_EQ(reused.status().code(), common::StatusCode::kUnauthenticated);
  EXPECT_NE(reused.status().message().find("already used"), std::string::npos) << reused.status();

  SKIFF_ASSERT_OK_AND_ASSIGN(std::string shortLived, hub_->createEnrollmentToken("dev-e", 1));
  std::this_thread::sleep_for(1500ms);
  auto expired = hub_->enroll("dev-e", shortLived);
  EXPECT_EQ(expired.status().code(), common::StatusCode::kUnauthenticated);
  EXPECT_NE(expired.status().message().find("expired"), std::string::npos) << expired.status();

  auto unknown = hub_->enroll("dev-e", "skiff-enroll-doesnotexist");
  EXPECT_EQ(unknown.status().code(), common::StatusCode::kUnauthenticated);
  EXPECT_NE(unknown.status().message().find("unknown"), std::string::npos);

  // A bad CSR is a 400 naming the field, and does not spend the token.
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string fresh, hub_->createEnrollmentToken("dev-e"));
  HttpRequest req;
  req.method = "POST";
  req.url = hub_->httpsUrl() + "/api/v1/enroll";
  req.caFile = hub_->caFile();
  req.body = common::dumpJson(common::Json{{"token", fresh}, {"csr", "not a csr"}});
  SKIFF_ASSERT_OK_AND_ASSIGN(auto bad, httpRequest(req));
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("csr"), std::string::npos) << bad.body;
  SKIFF_EXPECT_OK(hub_->enroll("dev-e", fresh));

  // Tokens outlive nothing: deleting the device and re-creating it voids older tokens.
  SKIFF_ASSERT_OK_AND_ASSIGN(std::string stale, hub_->createEnrollmentToken("dev-e"));
  v1::DeleteDeviceRequest del;
  del.set_id("dev-e");
  v1::DeleteResponse dr;
  ASSERT_TRUE(hub_->stub()->DeleteDevice(hub_->context().get(), del, &dr).ok());
  SKIFF_ASSERT_OK(hub_->createDevice("dev-e"));
  auto voided = hub_->enroll("dev-e", stale);
  EXPECT_EQ(voided.status().code(), common::StatusCode::kUnauthenticated) << voided.status();
  EXPECT_GE(hub_->metric("skiff_hub_enrollments_total{operation=\"enroll\",result=\"refused\"}"),
            4);
}

TEST_F(HubSecurityTest, RenewalNeedsTheCurrentCertificate) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto d, hub_->enrollDevice("dev-r"));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto key, common::tls::PrivateKey::generate());
  SKIFF_ASSERT_OK_AND_ASSIGN(auto csr, common::tls::CertificateRequest::create(key, "dev-r"));
  std::string body = common::dumpJson(common::Json{{"csr", *csr.toPem()}});
  HttpRequest req;
  req.method = "POST";
  req.url = hub_->httpsUrl() + "/api/v1/renew";
  req.caFile = hub_->caFile();
  req.body = body;
  SKIFF_ASSERT_OK_AND_ASSIGN(auto anonymous, httpRequest(req));
  EXPECT_EQ(anonymous.status, 401) << anonymous.body;

  req.clientCertFile = d.certFile;
  req.clientKeyFile = d.keyFile;
  SKIFF_ASSERT_OK_AND_ASSIGN(auto renewed, httpRequest(req));
  ASSERT_EQ(renewed.status, 200) << renewed.body;
  SKIFF_ASSERT_OK_AND_ASSIGN(auto doc, common::parseJson(renewed.body));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto newCert,
                             common::tls::Certificate::fromPem(doc.value("certificate", "")));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto oldCert,
                             common::tls::Certificate::fromPem(*common::readFile(d.certFile)));
  EXPECT_NE(newCert.serialHex(), oldCert.serialHex());
  EXPECT_EQ(newCert.subjectCommonName(), "dev-r");
  EXPECT_EQ(getDevice(*hub_, "dev-r").certificate_serial(), newCert.serialHex());

  // A certificate of another CA, or of a deleted device, renews nothing.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto otherCa, common::tls::CertificateAuthority::create("evil"));
  common::tls::IssueOptions io;
  io.commonName = "dev-r";
  SKIFF_ASSERT_OK_AND_ASSIGN(auto evil, otherCa.issueNew(io));
  std::string evilCert = hub_->dataDir() + "/test-devices/evil.pem";
  std::string evilKey = hub_->dataDir() + "/test-devices/evil.key";
  SKIFF_ASSERT_OK(common::writeFileAtomic(evilCert, *evil.cert.toPem()));
  SKIFF_ASSERT_OK(common::writeFileAtomic(evilKey, *evil.key.toPem(), 0600));
  req.clientCertFile = evilCert;
  req.clientKeyFile = evilKey;
  SKIFF_ASSERT_OK_AND_ASSIGN(auto foreign, httpRequest(req));
  EXPECT_EQ(foreign.status, 401) << foreign.body;
  v1::DeleteDeviceRequest del;
  del.set_id("dev-r");
  v1::DeleteResponse dr;
  ASSERT_TRUE(hub_->stub()->DeleteDevice(hub_->context().get(), del, &dr).ok());
  req.clientCertFile = d.certFile;
  req.clientKeyFile = d.keyFile;
  SKIFF_ASSERT_OK_AND_ASSIGN(auto deleted, httpRequest(req));
  EXPECT_EQ(deleted.status, 401) << deleted.body;
}

TEST_F(HubSecurityTest, ApisRequireTokensAndRoles) {
  auto stub = hub_->stub();
  v1::ListDevicesRequest list;
  v1::ListDevicesResponse lr;
  EXPECT_EQ(stub->ListDevices(hub_->context("").get(), list, &lr).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub->ListDevices(hub_->context("not-a-token").get(), list, &lr).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(stub->ListDevices(hub_->context(hub_->readerToken()).get(), list, &lr).ok());
  v1::CreateDeviceRequest create;
  create.set_id("dev-x");
  v1::Device d;
  auto denied = stub->CreateDevice(hub_->context(hub_->readerToken()).get(), create, &d);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED) << denied.error_message();
  v1::WatchRequest wr;
  auto ctx = hub_->context("");
  auto watch = stub->WatchDevices(ctx.get(), wr);
  v1::DeviceEvent ev;
  EXPECT_FALSE(watch->Read(&ev));
  EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // "hub" is the hub's own certificate name: never a device.
  create.set_id("hub");
  EXPECT_EQ(stub->CreateDevice(hub_->context().get(), create, &d).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  auto rest = [&](const std::string& method, const std::string& path, const std::string& token,
                  const std::string& body = "") {
    HttpRequest r;
    r.method = method;
    r.url = hub_->httpsUrl() + path;
    r.caFile = hub_->caFile();
    r.body = body;
    if (!token.empty()) r.headers = {"Authorization: Bearer " + token};
    auto resp = httpRequest(r);
    return resp.isOk() ? resp->status : 0L;
  };
  EXPECT_EQ(rest("GET", "/api/v1/devices", ""), 401);
  EXPECT_EQ(rest("GET", "/api/v1/devices", "wrong"), 401);
  EXPECT_EQ(rest("GET", "/api/v1/stream", ""), 401);
  EXPECT_EQ(rest("GET", "/api/v1/devices", hub_->readerToken()), 200);
  SKIFF_ASSERT_OK(hub_->createDevice("dev-y"));
  EXPECT_EQ(
      rest("PUT", "/api/v1/devices/dev-y/labels", hub_->readerToken(), R"({"labels":{"a":"b"}})"),
      403);
  EXPECT_EQ(
      rest("PUT", "/api/v1/devices/dev-y/labels", hub_->adminToken(), R"({"labels":{"a":"b"}})"),
      200);
  EXPECT_EQ(rest("DELETE", "/api/v1/deployments/nope", hub_->readerToken()), 403);
  EXPECT_EQ(rest("GET", "/healthz", ""), 200);
  EXPECT_EQ(rest("GET", "/metrics", ""), 200);
}

}  // namespace
}  // namespace skiff::test
