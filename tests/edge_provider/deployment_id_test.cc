#include "edge_provider/deployment_id.h"

#include <gtest/gtest.h>

namespace skiff::edge_provider {
namespace {

TEST(DeploymentIdTest, StableAndDistinctPerUid) {
  std::string a = deploymentIdFor("default", "web-5d8f", "uid-1");
  EXPECT_EQ(a, deploymentIdFor("default", "web-5d8f", "uid-1"));
  EXPECT_NE(a, deploymentIdFor("default", "web-5d8f", "uid-2"));
  EXPECT_NE(a, deploymentIdFor("other", "web-5d8f", "uid-1"));
  EXPECT_TRUE(a.starts_with("default.web-5d8f-"));
  EXPECT_EQ(a.size(), std::string("default.web-5d8f-").size() + 10);
}

TEST(DeploymentIdTest, SanitizedAndBounded) {
  std::string id = deploymentIdFor("NS_X", std::string(300, 'p'), "u");
  EXPECT_LE(id.size(), 63u);
  for (char c : id) {
    EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-') << id;
  }
}

}  // namespace
}  // namespace skiff::edge_provider
