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

}  // namespace
}  // namespace skiff::common
