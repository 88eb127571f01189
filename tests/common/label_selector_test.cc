#include "common/label_selector.h"

#include <gtest/gtest.h>

namespace skiff::common {
namespace {

LabelSelector must(std::string_view s) {
  auto r = LabelSelector::parse(s);
  EXPECT_TRUE(r.isOk()) << s << ": " << r.status();
  return r.isOk() ? *r : LabelSelector();
}

TEST(LabelSelectorTest, EmptySelectorMatchesEverything) {
  auto s = must("");
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(s.matches({}));
  EXPECT_TRUE(s.matches({{"a", "b"}}));
  EXPECT_TRUE(must("   ").empty());
}

TEST(LabelSelectorTest, AllOperatorsMatchLikeKubernetes) {
  Labels pi{{"site", "a"}, {"arch", "arm64"}, {"gen", "4"}, {"empty", ""}};
  Labels x86{{"site", "b"}, {"arch", "amd64"}, {"legacy", "true"}};
  struct Case {
    std::string sel;
    bool pi, x86;
  };
  std::vector<Case> cases = {
      {"site=a", true, false},
      {"site==a", true, false},
      {"site!=a", false, true},
      {"arch in (arm64, armhf)", true, false},
      {"arch notin (arm64)", false, true},
      {"missing notin (x)", true, true},
      {"legacy", false, true},
      {"!legacy", true, false},
      {"site=a,arch in (arm64)", true, false},
      {"site in (a,b),!legacy", true, false},
      {"gen>3", true, false},
      {"gen<4", false, false},
      {"empty=", true, false},
      {"empty", true, false},
      {"device.skiff.io/site=a", false, false},
      {"  site = a ,  arch  ", true, false},
  };
  for (const auto& c : cases) {
    auto s = must(c.sel);
    EXPECT_EQ(s.matches(pi), c.pi) << c.sel;
    EXPECT_EQ(s.matches(x86), c.x86) << c.sel;
  }
}

TEST(LabelSelectorTest, CanonicalStringRoundTrips) {
  auto s = must("site=a,arch in (armhf, arm64),!legacy,gpu");
  EXPECT_EQ(s.toString(), "arch in (arm64,armhf),gpu,!legacy,site=a");
  EXPECT_EQ(must(s.toString()), s);
  EXPECT_EQ(must("zone notin (z2,z1)").toString(), "zone notin (z1,z2)");
}

TEST(LabelSelectorTest, BadSyntaxGivesClearErrors) {
  struct Case {
    std::string sel;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"site=a,", "found end of selector at position 7, expected identifier"},
      {",site=a", "found ',' at position 0, expected identifier"},
      {"site in a", "expected '('"},
      {"site in (a", "expected ',' or ')'"},
      {"site in ()", "must not be empty"},
      {"site notin", "expected '('"},
      {"site=a=b", "found '=' at position 6"},
      {"site==", ""},
      {"!", "identifier after '!'"},
      {"!site=a", "found '=' at position 5"},
      {"(site)", "found '(' at position 0"},
      {"site > x", "must be an integer"},
      {"-bad=1", "invalid label key \"-bad\""},
      {"Bad.Prefix/x=1", "prefix part must be a lowercase RFC 1123 subdomain"},
      {"site=" + std::string(64, 'v'), "invalid label value"},
      {"site=a b", "found 'b' at position 7"},
      {"k=v@", "invalid label value \"v@\""},
  };
  for (const auto& c : cases) {
    auto r = LabelSelector::parse(c.sel);
    if (c.expect.empty()) {  // "site==" means site has the empty value: legal
      EXPECT_TRUE(r.isOk()) << c.sel;
      continue;
    }
    ASSERT_FALSE(r.isOk()) << c.sel;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << c.sel << " -> " << r.status().message();
  }
}

TEST(LabelSelectorTest, FromStructuredSelector) {
  auto j = nlohmann::json::parse(R"({"matchLabels":{"app":"web"},
    "matchExpressions":[{"key":"tier","operator":"In","values":["fe","be"]},
                        {"key":"canary","operator":"DoesNotExist"}]})");
  auto r = LabelSelector::fromJson(j);
  ASSERT_TRUE(r.isOk()) << r.status();
  EXPECT_TRUE(r->matches({{"app", "web"}, {"tier", "fe"}}));
  EXPECT_FALSE(r->matches({{"app", "web"}, {"tier", "fe"}, {"canary", "1"}}));
  EXPECT_FALSE(r->matches({{"app", "web"}}));
  EXPECT_EQ(r->toString(), "app=web,!canary,tier in (be,fe)");
  EXPECT_TRUE(LabelSelector::fromJson(nlohmann::json::object())->matches({{"x", "y"}}));

  for (const char* bad :
       {R"({"matchLabels":{"app":3}})", R"({"matchLabels":[]})",
        R"({"matchExpressions":[{"key":"a","operator":"In"}]})",
        R"({"matchExpressions":[{"key":"a","operator":"Near","values":["x"]}]})",
        R"({"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]})",
        R"({"matchExpressions":[{"operator":"Exists"}]})", R"("app=web")"}) {
    auto b = LabelSelector::fromJson(nlohmann::json::parse(bad));
    EXPECT_FALSE(b.isOk()) << bad;
    EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(LabelSelectorTest, FromLabelsIsExactMatch) {
  auto s = LabelSelector::fromLabels({{"app", "web"}, {"pod-template-hash", "abc"}});
  EXPECT_TRUE(s.matches({{"app", "web"}, {"pod-template-hash", "abc"}, {"x", "y"}}));
  EXPECT_FALSE(s.matches({{"app", "web"}}));
}

TEST(LabelSelectorTest, KeyAndValueValidation) {
  EXPECT_TRUE(validateLabelKey("device.skiff.io/site").isOk());
  EXPECT_TRUE(validateLabelKey("kubernetes.io/arch").isOk());
  EXPECT_FALSE(validateLabelKey("").isOk());
  EXPECT_FALSE(validateLabelKey("/x").isOk());
  EXPECT_FALSE(validateLabelKey("a/").isOk());
  EXPECT_FALSE(validateLabelKey(std::string(64, 'k')).isOk());
  EXPECT_TRUE(validateLabelValue("").isOk());
  EXPECT_TRUE(validateLabelValue("v1.2_3-x").isOk());
  EXPECT_FALSE(validateLabelValue("-x").isOk());
}

}  // namespace
}  // namespace skiff::common
