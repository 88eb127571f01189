#include "common/json.h"

#include <gtest/gtest.h>

namespace skiff::common {
namespace {

TEST(JsonTest, ParsesValidDocuments) {
  auto r = parseJson(R"({"a":1,"b":"x"})");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ((*r)["a"], 1);
  EXPECT_EQ(dumpJson(*r), R"({"a":1,"b":"x"})");
}

TEST(JsonTest, MalformedInputIsInvalidArgumentWithOffset) {
  for (std::string_view bad : {"", "{", "{\"a\":}", "[1,2", "nul", "{\"a\":1}}", "\xff\xfe"}) {
    auto r = parseJson(bad);
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("invalid JSON"), std::string::npos);
  }
  auto r = parseJson("{\"a\":}");
  EXPECT_NE(r.status().message().find("at byte 6"), std::string::npos) << r.status();
}

TEST(JsonTest, OversizeInputIsRejectedBeforeParsing) {
  std::string big(100, ' ');
  auto r = parseJson(big, 10);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

TEST(JsonTest, DeepNestingDoesNotCrash) {
  std::string deep(5000, '[');
  auto r = parseJson(deep);
  EXPECT_FALSE(r.isOk());
}

TEST(JsonFieldsTest, TypedAccessNamesThePath) {
  Json doc = Json::parse(R"({"name":"x","replicas":3,"paused":true,"spec":{"image":5},
                             "list":[1], "big": 18446744073709551615})");
  JsonFields f(doc, "spec.template");
  EXPECT_EQ(*f.requireString("name"), "x");
  EXPECT_EQ(*f.requireInt("replicas"), 3);
  EXPECT_EQ(**f.optionalBool("paused"), true);
  EXPECT_FALSE(f.optionalString("missing")->has_value());
  auto missing = f.requireString("missing");
  ASSERT_FALSE(missing.isOk());
  EXPECT_EQ(missing.status().message(), "spec.template.missing: required value");
  auto wrong = f.requireString("replicas");
  EXPECT_EQ(wrong.status().message(), "spec.template.replicas: expected string, got integer");
  JsonFields inner(*(*f.optionalObject("spec")), f.pathOf("spec"));
  EXPECT_EQ(inner.requireString("image").status().message(),
            "spec.template.spec.image: expected string, got integer");
  EXPECT_FALSE(f.optionalObject("list").isOk());
  EXPECT_TRUE(f.optionalArray("list").isOk());
  EXPECT_EQ(f.requireInt("big").status().message(), "spec.template.big: integer out of range");
  Json notObj = Json::array();
  EXPECT_EQ(JsonFields(notObj).requireString("x").status().message(),
            "document: expected object, got array");
}

}  // namespace
}  // namespace skiff::common
