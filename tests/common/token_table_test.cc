// Bearer tokens kept as digests (common/token_table.h).
#include "common/token_table.h"

#include <gtest/gtest.h>

namespace skiff::common {
namespace {

TEST(TokenTableTest, FindsIdentitiesByTokenAndKeepsOnlyDigests) {
  TokenTable<std::string> t;
  t.put("secret-token-1", "alice");
  t.put("secret-token-2", "bob");
  ASSERT_NE(t.find("secret-token-1"), nullptr);
  EXPECT_EQ(*t.find("secret-token-1"), "alice");
  EXPECT_EQ(*t.find("secret-token-2"), "bob");
  EXPECT_EQ(t.find("secret-token-3"), nullptr);
  EXPECT_EQ(t.find(""), nullptr);
  EXPECT_TRUE(t.contains("secret-token-2"));
  t.put("secret-token-2", "carol");  // a later line wins
  EXPECT_EQ(*t.find("secret-token-2"), "carol");
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(tokenDigest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2
}

TEST(TokenTableTest, BearerTokenAcceptsOnlyTheBearerScheme) {
  EXPECT_EQ(bearerToken("Bearer abc"), "abc");
  EXPECT_EQ(bearerToken("Bearer a b"), "a b");
  EXPECT_EQ(bearerToken("Bearer "), std::nullopt);
  EXPECT_EQ(bearerToken("Bearer"), std::nullopt);
  EXPECT_EQ(bearerToken("Basic abc"), std::nullopt);
  EXPECT_EQ(bearerToken("bearer abc"), std::nullopt);
  EXPECT_EQ(bearerToken(""), std::nullopt);
}

}  // namespace
}  // namespace skiff::common
