// Secrets at rest: AES-256-GCM sealing, tamper and wrong-key detection, and the bytes the Store
// actually holds for a Secret written through the ObjectStore.
#include "control_plane/secret_box.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/store/sqlite_store.h"
#include "control_plane/apiserver/resources.h"
#include "tests/support/process.h"

namespace skiff::control_plane {
namespace {

std::shared_ptr<SecretBox> box(char fill) {
  auto b = SecretBox::fromKey(std::string(32, fill));
  EXPECT_TRUE(b.isOk());
  return *b;
}

TEST(SecretBoxTest, SealsAndOpens) {
  auto b = box('k');
  auto sealed = b->seal("top secret payload");
  ASSERT_TRUE(sealed.isOk());
  EXPECT_TRUE(sealed->starts_with("k8s:enc:aesgcm:v1:skiff:"));
  EXPECT_EQ(sealed->find("top secret"), std::string::npos);
  EXPECT_NE(*b->seal("top secret payload"), *sealed) << "fresh nonce per write";
  auto opened = b->open(*sealed);
  ASSERT_TRUE(opened.isOk());
  EXPECT_EQ(*opened, "top secret payload");
}

TEST(SecretBoxTest, TamperingTruncationAndWrongKeyAreErrors) {
  auto b = box('k');
  std::string sealed = *b->seal("payload");
  std::string tampered = sealed;
  tampered[tampered.size() - 20] ^= 0x01;
  EXPECT_FALSE(b->open(tampered).isOk());
  EXPECT_FALSE(b->open(sealed.substr(0, 30)).isOk());
  EXPECT_FALSE(box('x')->open(sealed).isOk());
  EXPECT_EQ(*b->open("{\"plain\":1}"), "{\"plain\":1}") << "pre-encryption data stays readable";
  EXPECT_FALSE(SecretBox::fromKey("short").isOk());
}

TEST(SecretBoxTest, KeyFileIsCreatedOnceAndRejectedWhenCorrupt) {
  auto dir = test::TempDir::create("skiff-secretbox");
  ASSERT_TRUE(dir.isOk());
  std::string keyFile = dir->path() + "/key";
  auto a = SecretBox::loadOrCreate(keyFile);
  ASSERT_TRUE(a.isOk()) << a.status();
  std::string sealed = *(*a)->seal("v");
  auto again = SecretBox::loadOrCreate(keyFile);
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(*(*again)->open(sealed), "v") << "the same key is loaded on restart";
  ASSERT_TRUE(common::writeFileAtomic(keyFile, "not base64 !!\n").isOk());
  EXPECT_FALSE(SecretBox::loadOrCreate(keyFile).isOk());
}

TEST(SecretBoxTest, StoredSecretsAreCiphertext) {
  auto dir = test::TempDir::create("skiff-secretbox");
  ASSERT_TRUE(dir.isOk());
  auto store = common::store::SqliteStore::open({.path = dir->path() + "/s.db"});
  ASSERT_TRUE(store.isOk()) << store.status();
  common::ManualClock clock;
  apiserver::ObjectStore objects(**store, clock, box('k'));
  const auto* secrets = apiserver::findResource("", "v1", "secrets");
  const auto* configmaps = apiserver::findResource("", "v1", "configmaps");
  common::Json secret = {{"apiVersion", "v1"},
                         {"kind", "Secret"},
                         {"metadata", {{"name", "db"}, {"namespace", "default"}}},
                         {"data", {{"password", "aHVudGVyMg=="}}}};
  ASSERT_TRUE(objects.create(*secrets, secret).isOk());
  common::Json cm = {{"apiVersion", "v1"},
                     {"kind", "ConfigMap"},
                     {"metadata", {{"name", "cfg"}, {"namespace", "default"}}},
                     {"data", {{"k", "plainvalue"}}}};
  ASSERT_TRUE(objects.create(*configmaps, cm).isOk());
  auto raw = (*store)->get(apiserver::objectKey(*secrets, "default", "db"));
  ASSERT_TRUE(raw.isOk());
  EXPECT_TRUE(raw->value.starts_with("k8s:enc:aesgcm:v1:skiff:"));
  EXPECT_EQ(raw->value.find("aHVudGVyMg=="), std::string::npos);
  auto rawCm = (*store)->get(apiserver::objectKey(*configmaps, "default", "cfg"));
  EXPECT_NE(rawCm->value.find("plainvalue"), std::string::npos) << "only Secrets are sealed";
  auto back = objects.get(*secrets, "default", "db");
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ((*back)["data"]["password"], "aHVudGVyMg==");
}

}  // namespace
}  // namespace skiff::control_plane
