#include "common/net.h"

#include <gtest/gtest.h>

namespace skiff::common {
namespace {

TEST(NetTest, ParsesAddresses) {
  auto a = parseHostPort("127.0.0.1:6443");
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 6443);
  EXPECT_EQ(parseHostPort(":0")->host, "127.0.0.1");
  auto v6 = parseHostPort("[::1]:8883");
  ASSERT_TRUE(v6.isOk());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->toString(), "[::1]:8883");
}

TEST(NetTest, RejectsBadAddresses) {
  for (const char* bad :
       {"", "localhost", "host:", "host:abc", "host:70000", "::1:80", "[::1]80", "[::1", "h:-1"}) {
    auto r = parseHostPort(bad);
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_NE(r.status().message().find("invalid address"), std::string::npos);
  }
}

TEST(NetTest, UrlEncodeKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(urlEncode("aZ09-_.~"), "aZ09-_.~");
  EXPECT_EQ(urlEncode("a b/c?d=e&f"), "a%20b%2Fc%3Fd%3De%26f");
  EXPECT_EQ(urlEncode("{\"label\":[\"k=v\"]}"), "%7B%22label%22%3A%5B%22k%3Dv%22%5D%7D");
  EXPECT_EQ(urlEncode("\xC3\xA9"), "%C3%A9");  // UTF-8 bytes, upper-case hex
  EXPECT_EQ(urlEncode(std::string_view("\0x", 2)), "%00x");
  EXPECT_EQ(urlEncode(""), "");
}

}  // namespace
}  // namespace skiff::common
