// Enrollment and renewal against the hub double's HTTPS endpoint (docs/hub-api.md): the three
// bootstrap trust modes, refusals that write nothing, files and modes, renewal with the client
// certificate, and the enrolled identity connecting to Mosquitto through the ACL.
#include "edge_agent/enrollment.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "common/bus/message_bus.h"
#include "common/fs.h"
#include "common/tls.h"
#include "tests/edge_agent/agent_harness.h"
#include "tests/support/status_assert.h"

namespace skiff::edge_agent {
namespace {

using namespace std::chrono_literals;
namespace tls = common::tls;
using common::StatusCode;

class EnrollmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::MosquittoOptions mo;
    mo.tls = true;
    auto broker = test::MosquittoFixture::create(mo);
    ASSERT_TRUE(broker.isOk()) << broker.status();
    broker_ = std::move(broker).value();
    auto hub = test::HubDouble::create(*broker_);
    ASSERT_TRUE(hub.isOk()) << hub.status();
    hub_ = std::move(hub).value();
    auto dir = test::TempDir::create("enroll");
    ASSERT_TRUE(dir.isOk());
    dir_.emplace(std::move(dir).value());
  }

  EnrollOptions options(const std::string& device, const std::string& sub = "state") {
    EnrollOptions o;
    o.hubUrl = hub_->url();
    o.token = hub_->addToken(device);
    o.caFile = hub_->caFile();
    o.stateDir = dir_->file(sub);
    return o;
  }

  std::unique_ptr<test::MosquittoFixture> broker_;
  std::unique_ptr<test::HubDouble> hub_;
  std::optional<test::TempDir> dir_;
};

unsigned modeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

TEST_F(EnrollmentTest, EnrollsWithCaFileAndWritesTheIdentity) {
  auto o = options("pi-01");
  SKIFF_ASSERT_OK_AND_ASSIGN(Identity id, enroll(o));
  EXPECT_EQ(id.deviceId, "pi-01");
  EXPECT_EQ(id.mqttUrl, broker_->url());
  IdentityFiles f{o.stateDir};
  EXPECT_EQ(modeOf(f.key()), 0600u);
  EXPECT_EQ(modeOf(o.stateDir), 0700u);
  EXPECT_EQ(modeOf(f.identity()), 0600u);
  SKIFF_ASSERT_OK_AND_ASSIGN(Identity loaded, loadIdentity(f));
  EXPECT_EQ(loaded.deviceId, "pi-01");
  EXPECT_EQ(loaded.renewUrl, hub_->url() + "/api/v1/renew");
  EXPECT_EQ(loaded.hubSigningKeyPem, *hub_->signingKey().publicKeyPem());
  SKIFF_ASSERT_OK_AND_ASSIGN(auto certPem, common::readFile(f.cert()));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto cert, tls::Certificate::fromPem(certPem));
  EXPECT_EQ(cert.subjectCommonName(), "pi-01");
  EXPECT_EQ(*common::readFile(f.hubCa()), *common::readFile(hub_->caFile()));
  EXPECT_EQ(hub_->enrollments(), 1);

  // The identity is what the broker accepts for this device, and the ACL confines it.
  common::bus::BusOptions bo;
  bo.url = loaded.mqttUrl;
  bo.clientId = loaded.deviceId;
  bo.tls = tls::TlsFiles{f.cert(), f.key(), f.ca()};
  SKIFF_ASSERT_OK_AND_ASSIGN(auto bus, common::bus::makePahoBus(bo));
  bus->start();
  SKIFF_ASSERT_OK(bus->waitConnected(20s));
  common::bus::Message m;
  m.topic = "skiff/v1/devices/pi-01/presence";
  m.payload = R"({"schema":1,"state":"online","at":"2026-12-01T00:00:00Z"})";
  SKIFF_EXPECT_OK(common::bus::publishAndWait(*bus, m, 10s));
  bus->stop();

  // Enrolled already: refused unless --force (which generates a new key).
  auto again = options("pi-01");
  EXPECT_EQ(enroll(again).status().code(), StatusCode::kAlreadyExists);
  std::string oldKey = *common::readFile(f.key());
  again.force = true;
  SKIFF_ASSERT_OK(enroll(again));
  EXPECT_NE(*common::readFile(f.key()), oldKey);
}

TEST_F(EnrollmentTest, PinnedFingerprintBootstrap) {
  auto o = options("pi-02");
  o.caFile.clear();
  o.caSha256 = hub_->caFingerprint();
  SKIFF_ASSERT_OK(enroll(o));
  // The pinned certificate is kept to verify the hub on renewals.
  EXPECT_EQ(*common::readFile(IdentityFiles{o.stateDir}.hubCa()),
            *common::readFile(hub_->caFile()));

  auto wrong = options("pi-03", "wrong");
  wrong.caFile.clear();
  wrong.caSha256 = std::string(64, 'a');
  auto r = enroll(wrong);
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << r.status();
  EXPECT_NE(r.status().message().find("aaaaaaaa"), std::string::npos) << r.status();
  EXPECT_FALSE(std::filesystem::exists(IdentityFiles{wrong.stateDir}.identity()));
  EXPECT_FALSE(std::filesystem::exists(IdentityFiles{wrong.stateDir}.key()));
  EXPECT_EQ(hub_->enrollments(), 1);  // the token never reached the impostor… or the hub
}

TEST_F(EnrollmentTest, UntrustedHubAndBadTokensWriteNothing) {
  // A CA that did not sign the hub's certificate.
  auto other = tls::CertificateAuthority::create("someone-else");
  ASSERT_TRUE(other.isOk());
  std::string otherCa = dir_->file("other-ca.crt");
  ASSERT_TRUE(common::writeFileAtomic(otherCa, *other->certificate().toPem()).isOk());
  auto o = options("pi-04", "untrusted");
  o.caFile = otherCa;
  auto r = enroll(o);
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << r.status();
  EXPECT_FALSE(std::filesystem::exists(IdentityFiles{o.stateDir}.identity()));

  auto bad = options("pi-05", "badtoken");
  bad.token = "not-a-token";
  r = enroll(bad);
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(r.status().message().find("unknown enrollment token"), std::string::npos) << r.status();
  EXPECT_FALSE(std::filesystem::exists(IdentityFiles{bad.stateDir}.identity()));

  auto once = options("pi-06", "once");
  SKIFF_ASSERT_OK(enroll(once));
  auto reuse = options("pi-06", "reuse");
  reuse.token = once.token;
  r = enroll(reuse);
  EXPECT_NE(r.status().message().find("already used"), std::string::npos) << r.status();

  // Lab bootstrap without verification works, and says so.
  auto insecure = options("pi-07", "insecure");
  insecure.caFile.clear();
  insecure.insecureSkipVerify = true;
  SKIFF_ASSERT_OK(enroll(insecure));
  EXPECT_FALSE(std::filesystem::exists(IdentityFiles{insecure.stateDir}.hubCa()));

  // Flags are checked before anything happens.
  auto two = options("pi-08", "two");
  two.insecureSkipVerify = true;
  EXPECT_EQ(enroll(two).status().code(), StatusCode::kInvalidArgument);
  auto http = options("pi-08", "http");
  http.hubUrl = "http://127.0.0.1:1";
  EXPECT_NE(enroll(http).status().message().find("--hub"), std::string::npos);
}

TEST_F(EnrollmentTest, RenewsWithTheClientCertificateWhenAThirdRemains) {
  hub_->setCertValidity(60s);  // plus the CA's 5 min backdating: a third is left at once
  auto o = options("pi-09");
  SKIFF_ASSERT_OK(enroll(o));
  IdentityFiles f{o.stateDir};
  auto first = *tls::Certificate::fromPem(*common::readFile(f.cert()));
  std::string key = *common::readFile(f.key());
  hub_->setCertValidity(24h);
  SKIFF_ASSERT_OK_AND_ASSIGN(bool renewed, renewIfDue(f));
  EXPECT_TRUE(renewed);
  EXPECT_EQ(hub_->renewals(), 1);
  auto second = *tls::Certificate::fromPem(*common::readFile(f.cert()));
  EXPECT_NE(second.serialHex(), first.serialHex());
  EXPECT_EQ(second.subjectCommonName(), "pi-09");
  EXPECT_GT(second.notAfter(), first.notAfter());
  EXPECT_EQ(*common::readFile(f.key()), key);  // same key: one file changes atomically
  // Fresh certificate: nothing to do.
  SKIFF_ASSERT_OK_AND_ASSIGN(bool again, renewIfDue(f));
  EXPECT_FALSE(again);
  EXPECT_EQ(hub_->renewals(), 1);
}

}  // namespace
}  // namespace skiff::edge_agent
