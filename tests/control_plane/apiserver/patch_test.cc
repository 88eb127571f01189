// PATCH bodies (control_plane/apiserver/patch.h), without a server: the three formats kubectl
// sends, with the expectations of RFC 6902, RFC 7386 and Kubernetes' strategic merge patch
// documentation (lists merged by their patch merge key, directives).
#include "control_plane/apiserver/patch.h"

#include <gtest/gtest.h>

namespace skiff::control_plane::apiserver {
namespace {

using common::Json;

Json pod() {
  return {
      {"metadata", {{"name", "p"}, {"labels", {{"app", "web"}, {"tier", "fe"}}}}},
      {"spec",
       {{"containers", Json::array({{{"name", "a"}, {"image", "nginx:1"}},
                                    {{"name", "b"}, {"image", "busybox"}, {"args", {"x", "y"}}}})},
        {"finalizers", Json::array()}}}};
}

TEST(PatchTest, ContentTypesMapToPatchTypes) {
  EXPECT_EQ(*patchTypeFromContentType("application/json-patch+json"), PatchType::kJson);
  EXPECT_EQ(*patchTypeFromContentType("application/merge-patch+json; charset=utf-8"),
            PatchType::kMerge);
  EXPECT_EQ(*patchTypeFromContentType("application/strategic-merge-patch+json"),
            PatchType::kStrategicMerge);
  EXPECT_EQ(*patchTypeFromContentType("application/apply-patch+yaml"), PatchType::kApply);
  auto bad = patchTypeFromContentType("application/json");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("accepted media types"), std::string::npos);
}

TEST(PatchTest, JsonPatchFollowsRfc6902) {
  Json ops =
      Json::array({{{"op", "replace"}, {"path", "/spec/containers/0/image"}, {"value", "nginx:2"}},
                   {{"op", "add"}, {"path", "/metadata/labels/new"}, {"value", "1"}},
                   {{"op", "remove"}, {"path", "/metadata/labels/tier"}}});
  auto r = applyPatch(PatchType::kJson, pod(), ops);
  ASSERT_TRUE(r.isOk()) << r.status();
  EXPECT_EQ((*r)["spec"]["containers"][0]["image"], "nginx:2");
  EXPECT_EQ((*r)["metadata"]["labels"], (Json{{"app", "web"}, {"new", "1"}}));
  // A failing test op, a path that does not exist, a non-array body: refused, nothing applied.
  for (const Json& bad :
       {Json::array({{{"op", "test"}, {"path", "/metadata/name"}, {"value", "q"}}}),
        Json::array({{{"op", "remove"}, {"path", "/spec/nope"}}}), Json{{"op", "add"}},
        Json::array({{{"op", "frobnicate"}, {"path", "/x"}}})}) {
    auto e = applyPatch(PatchType::kJson, pod(), bad);
    EXPECT_FALSE(e.isOk()) << bad.dump();
    if (!e.isOk()) {
      EXPECT_EQ(e.status().code(), common::StatusCode::kInvalidArgument);
    }
  }
}

TEST(PatchTest, MergePatchFollowsRfc7386) {
  Json patch = {{"metadata", {{"labels", {{"tier", nullptr}, {"new", "1"}}}}},
                {"spec", {{"containers", Json::array({{{"name", "only"}}})}}}};
  auto r = applyPatch(PatchType::kMerge, pod(), patch);
  ASSERT_TRUE(r.isOk()) << r.status();
  EXPECT_EQ((*r)["metadata"]["labels"], (Json{{"app", "web"}, {"new", "1"}}));  // null deletes
  EXPECT_EQ((*r)["spec"]["containers"].size(), 1u);  // lists are replaced whole
}

TEST(PatchTest, StrategicMergeMergesListsByTheirKey) {
  Json patch = {{"spec",
                 {{"containers", Json::array({{{"name", "b"}, {"image", "busybox:2"}},
                                              {{"name", "c"}, {"image", "redis"}}})}}}};
  auto r = applyPatch(PatchType::kStrategicMerge, pod(), patch);
  ASSERT_TRUE(r.isOk()) << r.status();
  const Json& cs = (*r)["spec"]["containers"];
  ASSERT_EQ(cs.size(), 3u);
  EXPECT_EQ(cs[0]["name"], "a");
  EXPECT_EQ(cs[0]["image"], "nginx:1");  // untouched
  EXPECT_EQ(cs[1]["image"], "busybox:2");
  EXPECT_EQ(cs[1]["args"], (Json{"x", "y"}));  // merged, not replaced
  EXPECT_EQ(cs[2]["name"], "c");
}

TEST(PatchTest, StrategicMergeDirectives) {
  // $patch: delete removes the element with that key.
  Json del = {{"spec", {{"containers", Json::array({{{"name", "a"}, {"$patch", "delete"}}})}}}};
  auto r = applyPatch(PatchType::kStrategicMerge, pod(), del);
  ASSERT_TRUE(r.isOk()) << r.status();
  ASSERT_EQ((*r)["spec"]["containers"].size(), 1u);
  EXPECT_EQ((*r)["spec"]["containers"][0]["name"], "b");
  // $patch: replace on a map replaces it whole.
  Json repl = {{"metadata", {{"labels", {{"$patch", "replace"}, {"only", "x"}}}}}};
  r = applyPatch(PatchType::kStrategicMerge, pod(), repl);
  ASSERT_TRUE(r.isOk()) << r.status();
  EXPECT_EQ((*r)["metadata"]["labels"], (Json{{"only", "x"}}));
  // $setElementOrder fixes the order of the merged list.
  Json order = {{"spec",
                 {{"$setElementOrder/containers", Json::array({{{"name", "b"}}, {{"name", "a"}}})},
                  {"containers", Json::array({{{"name", "a"}, {"image", "nginx:3"}}})}}}};
  r = applyPatch(PatchType::kStrategicMerge, pod(), order);
  ASSERT_TRUE(r.isOk()) << r.status();
  EXPECT_EQ((*r)["spec"]["containers"][0]["name"], "b");
  EXPECT_EQ((*r)["spec"]["containers"][1]["image"], "nginx:3");
  // $deleteFromPrimitiveList removes values from a list of scalars.
  Json fin = pod();
  fin["metadata"]["finalizers"] = {"a", "b", "c"};
  Json dp = {{"metadata", {{"$deleteFromPrimitiveList/finalizers", {"b"}}}}};
  r = applyPatch(PatchType::kStrategicMerge, fin, dp);
  ASSERT_TRUE(r.isOk()) << r.status();
  EXPECT_EQ((*r)["metadata"]["finalizers"], (Json{"a", "c"}));
}

TEST(PatchTest, MalformedStrategicPatchesAreRefused) {
  for (const Json& bad :
       {Json{{"metadata", {{"$retainKeys", "notalist"}}}}, Json::array(), Json(3)}) {
    auto r = applyPatch(PatchType::kStrategicMerge, pod(), bad);
    EXPECT_FALSE(r.isOk()) << bad.dump();
  }
}

}  // namespace
}  // namespace skiff::control_plane::apiserver
