// DesiredStore: signature, device, version and schema checks; persistence across restarts;
// torn, truncated and tampered state files are detected and never used.
#include "edge_agent/desired_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/base64.h"
#include "common/fs.h"
#include "common/json.h"
#include "tests/support/process.h"

namespace skiff::edge_agent {
namespace {

namespace protocol = common::protocol;
namespace tls = common::tls;
using Kind = DesiredDecision::Kind;

class DesiredStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::create("desired-store");
    ASSERT_TRUE(dir.isOk());
    dir_.emplace(std::move(dir).value());
    key_ = tls::PrivateKey::generate(tls::KeyType::kEd25519).value();
    other_ = tls::PrivateKey::generate(tls::KeyType::kEd25519).value();
    pub_ = key_.publicKeyPem().value();
  }
  DesiredStore store() { return DesiredStore(dir_->path(), "dev-1", pub_); }
  protocol::DesiredState doc(std::int64_t v, const std::string& image = "busybox:1",
                             const std::string& device = "dev-1") {
    protocol::DesiredState d;
    d.deviceId = device;
    d.version = v;
    d.issuedAt = "2026-12-01T00:00:00Z";
    protocol::PodSpec p;
    p.name = "web";
    protocol::ContainerSpec c;
    c.name = "app";
    c.image = image;
    p.containers.push_back(c);
    d.pods.push_back(p);
    return d;
  }
  std::string signedDoc(const protocol::DesiredState& d) { return *protocol::signDesired(d, key_); }

  std::optional<test::TempDir> dir_;
  tls::PrivateKey key_;
  tls::PrivateKey other_;
  std::string pub_;
};

TEST_F(DesiredStoreTest, AcceptsNewerVersionsAndPersistsThem) {
  auto s = store();
  EXPECT_FALSE(s.load().has_value());
  EXPECT_TRUE(s.loadError().empty());
  auto d1 = s.offer(signedDoc(doc(1)));
  ASSERT_EQ(d1.kind, Kind::kAccepted) << d1.error.message;
  EXPECT_EQ(s.appliedVersion(), 1);
  EXPECT_EQ(s.offer(signedDoc(doc(1))).kind, Kind::kUnchanged);  // retained copy again
  EXPECT_EQ(s.offer(signedDoc(doc(5, "busybox:2"))).kind, Kind::kAccepted);
  auto reloaded = store();
  auto loaded = reloaded.load();
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->version, 5);
  EXPECT_EQ(loaded->pods[0].containers[0].image, "busybox:2");
  EXPECT_EQ(reloaded.appliedVersion(), 5);
}

TEST_F(DesiredStoreTest, RefusesWithReasonsAndChangesNothing) {
  auto s = store();
  ASSERT_EQ(s.offer(signedDoc(doc(3))).kind, Kind::kAccepted);
  auto before = common::readFile(s.documentPath()).value();
  auto expect = [&](const std::string& payload, const std::string& reason, std::int64_t version) {
    auto d = s.offer(payload);
    EXPECT_EQ(d.kind, Kind::kRefused) << reason;
    EXPECT_EQ(d.error.reason, reason) << d.error.message;
    EXPECT_EQ(d.error.version, version);
    EXPECT_FALSE(d.error.message.empty());
    ASSERT_TRUE(s.lastError().has_value());
    EXPECT_EQ(s.lastError()->reason, reason);
    EXPECT_EQ(s.appliedVersion(), 3);
    EXPECT_EQ(common::readFile(s.documentPath()).value(), before);
  };
  expect(common::dumpJson(protocol::toJson(doc(4))), "SignatureInvalid", 4);
  expect(*protocol::signDesired(doc(4), other_), "SignatureInvalid", 4);
  expect(signedDoc(doc(2)), "StaleVersion", 2);
  expect(signedDoc(doc(3, "busybox:other")), "StaleVersion", 3);
  expect(signedDoc(doc(4, "busybox:1", "dev-2")), "WrongDevice", 4);
  expect("{\"schema\":1,", "Malformed", 0);
  expect("[]", "Malformed", 0);
  expect(std::string(2 * 1024 * 1024, ' '), "Malformed", 0);
  // A signature whose "alg" is not a string used to throw inside the protocol parser.
  auto j = common::parseJson(signedDoc(doc(4))).value();
  j["signature"]["alg"] = 7;
  expect(common::dumpJson(j), "SignatureInvalid", 4);
  // A validly signed document that violates the schema.
  auto bad = protocol::toJson(doc(6));
  bad["pods"][0]["restartPolicy"] = "Sometimes";
  expect(*protocol::signDesiredJson(bad, key_, protocol::keyIdOf(pub_)), "Malformed", 6);
  // A document newer than this agent, validly signed: refused whole, as UnsupportedSchema.
  auto newer = protocol::toJson(doc(6));
  newer["schema"] = 3;
  newer["pods"][0]["topologyOfTheFuture"] = "x";
  expect(*protocol::signDesiredJson(newer, key_, protocol::keyIdOf(pub_)), "UnsupportedSchema", 6);
  // ... but a forged one of any schema is SignatureInvalid.
  expect(*protocol::signDesiredJson(newer, other_, protocol::keyIdOf(pub_)), "SignatureInvalid", 6);
  // A schema-1 document (an older hub) is still understood: its module becomes a pod.
  common::Json legacy = {
      {"schema", 1},
      {"deviceId", "dev-1"},
      {"version", 7},
      {"modules", common::Json::array(
                      {{{"name", "web/app"}, {"image", "busybox:3"}, {"stopTimeoutSeconds", 4}}})}};
  auto accepted = s.offer(*protocol::signDesiredJson(legacy, key_, protocol::keyIdOf(pub_)));
  ASSERT_EQ(accepted.kind, Kind::kAccepted) << accepted.error.message;
  ASSERT_EQ(accepted.document.pods.size(), 1u);
  EXPECT_EQ(accepted.document.pods[0].name, "web-app");
  EXPECT_EQ(accepted.document.pods[0].containers[0].name, "app");
  EXPECT_EQ(accepted.document.pods[0].terminationGracePeriodSeconds, 4);
  // An acceptance clears the error.
  EXPECT_EQ(s.offer(signedDoc(doc(8))).kind, Kind::kAccepted);
  EXPECT_FALSE(s.lastError().has_value());
}

TEST_F(DesiredStoreTest, TornOrTamperedFileIsDetectedAndNeverUsed) {
  {
    auto s = store();
    ASSERT_EQ(s.offer(signedDoc(doc(9))).kind, Kind::kAccepted);
  }
  const std::string path = dir_->file("desired.json");
  auto full = common::readFile(path).value();
  for (std::size_t cut : {full.size() - 1, full.size() / 2, std::size_t{10}, std::size_t{0}}) {
    ASSERT_TRUE(common::writeFileAtomic(path, full.substr(0, cut)).isOk());
    auto s = store();
    EXPECT_FALSE(s.load().has_value()) << "cut at " << cut;
    EXPECT_NE(s.loadError().find("corrupt"), std::string::npos) << s.loadError();
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_TRUE(std::filesystem::exists(path + ".corrupt"));
    // Replay protection survives: the version record still says 9.
    EXPECT_EQ(s.appliedVersion(), 9);
    EXPECT_EQ(s.offer(signedDoc(doc(8))).error.reason, "StaleVersion");
    // The same document again is accepted (and written again), a different one of v9 is not.
    EXPECT_EQ(s.offer(signedDoc(doc(9, "busybox:x"))).error.reason, "StaleVersion");
    EXPECT_EQ(s.offer(signedDoc(doc(9))).kind, Kind::kAccepted);
    EXPECT_TRUE(store().load().has_value());
  }
  // One flipped byte inside the signed content.
  std::string tampered = full;
  tampered[tampered.find("busybox:1") + 8] = '2';
  ASSERT_TRUE(common::writeFileAtomic(path, tampered).isOk());
  auto s = store();
  EXPECT_FALSE(s.load().has_value());
  EXPECT_NE(s.loadError().find("signature"), std::string::npos) << s.loadError();
}

TEST_F(DesiredStoreTest, CorruptVersionRecordIsSetAsideAndDocumentStillLoads) {
  {
    auto s = store();
    ASSERT_EQ(s.offer(signedDoc(doc(4))).kind, Kind::kAccepted);
  }
  ASSERT_TRUE(common::writeFileAtomic(dir_->file("desired.version"), "{\"vers").isOk());
  auto s = store();
  auto loaded = s.load();
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(s.appliedVersion(), 4);
  EXPECT_TRUE(std::filesystem::exists(dir_->file("desired.version.corrupt")));
}

}  // namespace
}  // namespace skiff::edge_agent
