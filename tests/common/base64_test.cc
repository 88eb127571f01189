#include "common/base64.h"

#include <gtest/gtest.h>

namespace skiff::common {
namespace {

TEST(Base64Test, RoundTripsAllLengths) {
  std::string s;
  for (int i = 0; i < 40; ++i) {
    std::string enc = base64Encode(s);
    auto dec = base64Decode(enc);
    ASSERT_TRUE(dec.isOk()) << enc;
    EXPECT_EQ(*dec, s);
    s += static_cast<char>(i * 37);
  }
  EXPECT_EQ(base64Encode("hello"), "aGVsbG8=");
  EXPECT_EQ(*base64Decode("aGk="), "hi");
}

TEST(Base64Test, RejectsMalformedInput) {
  EXPECT_FALSE(base64Decode("abc").isOk());
  EXPECT_FALSE(base64Decode("ab!d").isOk());
}

}  // namespace
}  // namespace skiff::common
