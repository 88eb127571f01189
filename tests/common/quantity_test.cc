#include "common/quantity.h"

#include <gtest/gtest.h>

namespace skiff::common {
namespace {

TEST(QuantityTest, ParsesKubernetesForms) {
  EXPECT_EQ(*parseQuantityMilli("100m"), 100);
  EXPECT_EQ(*parseQuantityMilli("2"), 2000);
  EXPECT_EQ(*parseQuantityMilli("0.5"), 500);
  EXPECT_EQ(*parseQuantityMilli("1.5"), 1500);
  EXPECT_EQ(*parseQuantity("128Mi"), 134217728);
  EXPECT_EQ(*parseQuantity("1Gi"), 1073741824);
  EXPECT_EQ(*parseQuantity("1G"), 1000000000);
  EXPECT_EQ(*parseQuantity("500M"), 500000000);
  EXPECT_EQ(*parseQuantity("1e3"), 1000);
  EXPECT_EQ(*parseQuantity("500m"), 1);
  EXPECT_EQ(*parseQuantity("110"), 110);
  EXPECT_EQ(*parseQuantity("4k"), 4000);
}

TEST(QuantityTest, RejectsMalformed) {
  for (const char* bad : {"", "abc", "1Xi", "1..2", "m", "1e", "1e99", "--1", "1 Gi"}) {
    auto r = parseQuantityMilli(bad);
    EXPECT_FALSE(r.isOk()) << bad;
  }
}

TEST(QuantityTest, ExactForLargeAndFractionalValues) {
  EXPECT_EQ(*parseQuantity("10Pi"), 11258999068426240);
  EXPECT_EQ(*parseQuantity("7Ei"), 8070450532247928832);
  EXPECT_EQ(*parseQuantity("9223372036854775807"), 9223372036854775807);
  EXPECT_EQ(*parseQuantity("9.223372036854775807E"), 9223372036854775807);
  EXPECT_EQ(*parseQuantityMilli("0.3"), 300);
  EXPECT_EQ(*parseQuantityMilli("2.675"), 2675);
  EXPECT_EQ(*parseQuantity("1.5Gi"), 1610612736);
  EXPECT_EQ(*parseQuantity("1E"), 1000000000000000000);
  EXPECT_EQ(*parseQuantityMilli("1e-3"), 1);
  EXPECT_EQ(*parseQuantityMilli("1E+2"), 100000);
  EXPECT_EQ(*parseQuantity("000123.4500"), 124);
  EXPECT_EQ(*parseQuantity(".5"), 1);
  EXPECT_EQ(*parseQuantity("0"), 0);
  EXPECT_EQ(*parseQuantity("+2"), 2);
}

TEST(QuantityTest, RoundsUpAsKubernetes) {
  EXPECT_EQ(*parseQuantityMilli("100n"), 1);  // 0.0001 milli
  EXPECT_EQ(*parseQuantity("0.1Ki"), 103);    // 102.4
  EXPECT_EQ(*parseQuantity("1.0000000001"), 2);
  EXPECT_EQ(*parseQuantity("1.00000000000000000000000001"), 2);  // beyond 19 digits
  EXPECT_EQ(*parseQuantityMilli("0.000000000000000000000000000000000000000000001"), 1);
  EXPECT_EQ(*parseQuantity("-1.5"), -1);  // towards +infinity
  EXPECT_EQ(*parseQuantity("-0.5"), 0);
  EXPECT_EQ(*parseQuantityMilli("-1.5"), -1500);
}

TEST(QuantityTest, RejectsWhatDoesNotFit) {
  for (const char* big : {"8Ei", "10Ei", "9223372036854775808", "12345678901234567890123", "1e19",
                          "1e999999999999"}) {
    auto r = parseQuantity(big);
    ASSERT_FALSE(r.isOk()) << big;
    EXPECT_NE(r.status().message().find("too large"), std::string::npos) << big;
  }
  EXPECT_FALSE(parseQuantityMilli("10Pi").isOk());  // 1.1e19 milli-units
  EXPECT_EQ(*parseQuantityMilli("1e-999999999999"), 1);
}

TEST(QuantityTest, RejectsWhatKubernetesRejects) {
  for (const char* bad : {"1e 3", "1e", "1e+", "1K", "1ki", "1Mb", ".", "+", "1.2.3", "e3", "1Gi ",
                          " 1", "0x10", "1_000"}) {
    EXPECT_FALSE(parseQuantityMilli(bad).isOk()) << bad;
  }
}

}  // namespace
}  // namespace skiff::common
