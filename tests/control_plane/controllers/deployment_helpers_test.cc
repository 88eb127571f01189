// Deployment helpers: podTemplateHash (stable, blind to the pod-template-hash label, sensitive to
// the template) and resolveSurgeUnavailable (Kubernetes' rounding of absolute/percent values).
#include <gtest/gtest.h>

#include "common/json.h"
#include "control_plane/controllers/deployment_controller.h"

namespace skiff::control_plane::controllers {
namespace {

using common::Json;

Json templ(const std::string& image) {
  return Json::parse(R"({"metadata":{"labels":{"app":"web"}},
    "spec":{"containers":[{"name":"web","image":")" +
                     image + R"("}]}})");
}

TEST(PodTemplateHashTest, StableAndNonEmpty) {
  std::string h = podTemplateHash(templ("nginx:1.25"));
  EXPECT_FALSE(h.empty());
  EXPECT_LE(h.size(), 10u);
  EXPECT_EQ(h, podTemplateHash(templ("nginx:1.25")));
  for (char c : h) EXPECT_NE(std::string("bcdfghjklmnpqrstvwxz2456789").find(c), std::string::npos);
}

TEST(PodTemplateHashTest, IgnoresPodTemplateHashLabel) {
  Json t = templ("nginx:1.25");
  Json labelled = t;
  labelled["metadata"]["labels"]["pod-template-hash"] = "abcdef";
  EXPECT_EQ(podTemplateHash(t), podTemplateHash(labelled));
}

TEST(PodTemplateHashTest, DiffersOnImageChange) {
  EXPECT_NE(podTemplateHash(templ("nginx:1.25")), podTemplateHash(templ("nginx:1.26")));
}

TEST(ResolveSurgeUnavailableTest, PercentRoundsSurgeUpAndUnavailableDown) {
  auto [surge, unavailable] =
      resolveSurgeUnavailable(Json{{"maxSurge", "25%"}, {"maxUnavailable", "25%"}}, 10);
  EXPECT_EQ(surge, 3);
  EXPECT_EQ(unavailable, 2);
}

TEST(ResolveSurgeUnavailableTest, DefaultsAre25Percent) {
  auto [surge, unavailable] = resolveSurgeUnavailable(Json(), 10);
  EXPECT_EQ(surge, 3);
  EXPECT_EQ(unavailable, 2);
}

TEST(ResolveSurgeUnavailableTest, ZeroZeroAllowsOneUnavailable) {
  auto [surge, unavailable] =
      resolveSurgeUnavailable(Json{{"maxSurge", 0}, {"maxUnavailable", 0}}, 10);
  EXPECT_EQ(surge, 0);
  EXPECT_EQ(unavailable, 1);
}

TEST(ResolveSurgeUnavailableTest, Absolute) {
  auto [surge, unavailable] =
      resolveSurgeUnavailable(Json{{"maxSurge", 2}, {"maxUnavailable", 0}}, 6);
  EXPECT_EQ(surge, 2);
  EXPECT_EQ(unavailable, 0);
}

}  // namespace
}  // namespace skiff::control_plane::controllers
