// Self-test of RegistryFixture: the pushed busybox image is served as an OCI manifest.
#include "tests/support/registry.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/http.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

constexpr char kAcceptOci[] =
    "Accept: application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

TEST(RegistryFixtureTest, ServesBusyboxManifest) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto registry, RegistryFixture::create());
  EXPECT_EQ(registry->imageRef("latest"),
            "127.0.0.1:" + std::to_string(registry->port()) + "/busybox:latest");
  SKIFF_ASSERT_OK_AND_ASSIGN(
      auto resp, httpGet(registry->url() + "/v2/busybox/manifests/latest", {kAcceptOci}));
  ASSERT_EQ(resp.status, 200) << resp.body;
  auto manifest = nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(manifest.is_discarded()) << resp.body;
  ASSERT_TRUE(manifest.contains("layers")) << resp.body;
  EXPECT_GE(manifest["layers"].size(), 1u);
  EXPECT_EQ(manifest["schemaVersion"], 2);
}

TEST(RegistryFixtureTest, ExtraTagsShareTheImage) {
  RegistryOptions opts;
  opts.tag = "v1";
  SKIFF_ASSERT_OK_AND_ASSIGN(auto registry, RegistryFixture::create(opts));
  SKIFF_ASSERT_OK(registry->pushBusybox("v2"));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto v1,
                             httpGet(registry->url() + "/v2/busybox/manifests/v1", {kAcceptOci}));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto v2,
                             httpGet(registry->url() + "/v2/busybox/manifests/v2", {kAcceptOci}));
  ASSERT_EQ(v1.status, 200);
  ASSERT_EQ(v2.status, 200);
  EXPECT_EQ(v1.body, v2.body);
  SKIFF_ASSERT_OK_AND_ASSIGN(auto missing,
                             httpGet(registry->url() + "/v2/busybox/manifests/nope", {kAcceptOci}));
  EXPECT_EQ(missing.status, 404);
}

}  // namespace
}  // namespace skiff::test
