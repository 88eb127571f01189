// Desired-state composition (priority merge of pods, shadowing, credentials, content hash) and the
// label index's candidate sets.
#include "hub/fleet/desired.h"

#include <gtest/gtest.h>

#include "hub/fleet/label_index.h"

namespace skiff::hub::fleet {
namespace {

DeploymentPtr dep(const std::string& id, int priority, std::int64_t updatedAt,
                  std::vector<std::pair<std::string, std::string>> pods,
                  std::vector<common::protocol::RegistryCredential> creds = {}) {
  DeploymentRecord r;
  r.spec.id = id;
  r.spec.priority = priority;
  r.spec.targetSelector = "a=b";
  for (auto& [name, image] : pods) {
    common::protocol::PodSpec p;
    p.name = name;
    p.deploymentId = id;
    common::protocol::ContainerSpec c;
    c.name = "main";
    c.image = image;
    p.containers.push_back(c);
    r.spec.pods.push_back(p);
  }
  r.spec.registryCredentials = std::move(creds);
  r.updatedAtMs = updatedAt;
  auto c = compileDeployment(r);
  EXPECT_TRUE(c.isOk()) << c.status();
  return *c;
}

TEST(DesiredTest, HigherPriorityThenNewerWinsPerPod) {
  auto base = dep("base", 0, 100, {{"web", "nginx:1"}, {"log", "fb:1"}});
  auto hot = dep("hot", 10, 50, {{"web", "nginx:2"}});
  auto newer = dep("newer", 0, 200, {{"log", "fb:2"}});
  auto c = composeDesired({base, hot, newer});
  ASSERT_EQ(c.pods.size(), 2u);
  auto state = toDesiredState(c, "d1", 7, "2026-01-01T00:00:00Z");
  EXPECT_EQ(state.pods[0].name, "log");
  EXPECT_EQ(state.pods[0].containers[0].image, "fb:2");     // same priority: newer wins
  EXPECT_EQ(state.pods[1].containers[0].image, "nginx:2");  // higher priority wins
  EXPECT_EQ(state.pods[1].deploymentId, "hot");
  EXPECT_EQ(c.podNamed("web")->deployment->id(), "hot");
  EXPECT_EQ(c.podNamed("nope"), nullptr);
  // Order of the input does not matter.
  EXPECT_EQ(composeDesired({newer, hot, base}).hash, c.hash);
}

TEST(DesiredTest, HashChangesExactlyWhenTheDocumentWould) {
  auto a = dep("a", 0, 1, {{"web", "nginx:1"}});
  auto a2 = dep("a", 0, 2, {{"web", "nginx:1"}});  // re-applied, same pods
  auto b = dep("a", 0, 3, {{"web", "nginx:2"}});
  EXPECT_EQ(composeDesired({a}).hash, composeDesired({a2}).hash);
  EXPECT_NE(composeDesired({a}).hash, composeDesired({b}).hash);
  EXPECT_NE(composeDesired({}).hash, composeDesired({a}).hash);
  auto withCred = dep("a", 0, 1, {{"web", "nginx:1"}}, {{"reg", "u", "p"}});
  auto otherPass = dep("a", 0, 1, {{"web", "nginx:1"}}, {{"reg", "u", "q"}});
  EXPECT_NE(composeDesired({a}).hash, composeDesired({withCred}).hash);
  EXPECT_NE(composeDesired({withCred}).hash, composeDesired({otherPass}).hash);
}

TEST(DesiredTest, CachedJsonIsExactlyTheProtocolsDocument) {
  auto a = dep("a", 0, 1, {{"web", "nginx:1"}, {"db", "pg:16"}}, {{"reg", "u", "p"}});
  auto c = composeDesired({a});
  auto state = toDesiredState(c, "d1", 9, "2026-01-01T00:00:00Z");
  EXPECT_EQ(common::dumpJson(toDesiredJson(c, "d1", 9, "2026-01-01T00:00:00Z")),
            common::dumpJson(common::protocol::toJson(state)));
  EXPECT_EQ(a->specHashes[0], common::protocol::specHash(a->record.spec.pods[0]));
  // And the signed form verifies and round-trips.
  auto key = common::tls::PrivateKey::generate(common::tls::KeyType::kEd25519);
  ASSERT_TRUE(key.isOk());
  auto pub = key->publicKeyPem();
  auto wire = common::protocol::signDesiredJson(toDesiredJson(c, "d1", 9, "x"), *key,
                                                common::protocol::keyIdOf(*pub));
  ASSERT_TRUE(wire.isOk());
  auto back = common::protocol::verifyDesired(*wire, *pub);
  ASSERT_TRUE(back.isOk()) << back.status();
  EXPECT_EQ(back->pods, toDesiredState(c, "d1", 9, "x").pods);
}

TEST(DesiredTest, CredentialsOnlyFromContributingDeployments) {
  auto winner = dep("w", 5, 1, {{"web", "x"}}, {{"reg-a", "u", "1"}});
  auto shadowed = dep("s", 0, 1, {{"web", "y"}}, {{"reg-b", "u", "2"}});
  auto other = dep("o", 0, 1, {{"db", "z"}}, {{"reg-a", "u", "3"}});
  auto c = composeDesired({winner, shadowed, other});
  auto st = toDesiredState(c, "d", 1, "");
  ASSERT_EQ(st.registryCredentials.size(), 1u);
  EXPECT_EQ(st.registryCredentials[0].server, "reg-a");
  EXPECT_EQ(st.registryCredentials[0].password, "1");  // higher priority for the same server
}

TEST(LabelIndexTest, NarrowestRequirementGivesCandidates) {
  LabelIndex idx;
  idx.add("d1", {{"site", "a"}, {"arch", "arm64"}});
  idx.add("d2", {{"site", "a"}, {"arch", "amd64"}});
  idx.add("d3", {{"site", "b"}, {"arch", "arm64"}});
  auto sel = common::LabelSelector::parse("site=a,arch in (arm64)");
  ASSERT_TRUE(sel.isOk());
  auto c = idx.candidates(*sel);
  ASSERT_TRUE(c.has_value());
  for (const auto& id : *c) EXPECT_TRUE(id == "d1" || id == "d2" || id == "d3");
  EXPECT_LE(c->size(), 2u);
  auto none = idx.candidates(*common::LabelSelector::parse("site=zzz"));
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(idx.candidates(*common::LabelSelector::parse("site!=a")).has_value());
  auto exists = idx.candidates(*common::LabelSelector::parse("arch"));
  EXPECT_EQ(exists->size(), 3u);
  idx.remove("d1", {{"site", "a"}, {"arch", "arm64"}});
  EXPECT_EQ(idx.candidates(*common::LabelSelector::parse("arch=arm64"))->size(), 1u);
}

}  // namespace
}  // namespace skiff::hub::fleet
