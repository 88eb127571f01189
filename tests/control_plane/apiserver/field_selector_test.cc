// Field selectors (control_plane/apiserver/field_selector.h), without a server: the syntax and
// the per-resource fields Kubernetes supports.
#include "control_plane/apiserver/field_selector.h"

#include <gtest/gtest.h>

#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::apiserver {
namespace {

using common::Json;

const ResourceInfo& pods() { return *findResource("", "v1", "pods"); }
const ResourceInfo& events() { return *findResource("", "v1", "events"); }

Json pod(const std::string& node, const std::string& phase) {
  return {{"metadata", {{"name", "p"}, {"namespace", "ns"}}},
          {"spec", {{"nodeName", node}}},
          {"status", {{"phase", phase}}}};
}

TEST(FieldSelectorTest, MatchesEqualityAndInequalityTerms) {
  auto s = FieldSelector::parse(pods(), "spec.nodeName=n1,status.phase!=Failed");
  ASSERT_TRUE(s.isOk()) << s.status();
  EXPECT_EQ(s->terms().size(), 2u);
  EXPECT_TRUE(s->matches(pod("n1", "Running")));
  EXPECT_FALSE(s->matches(pod("n1", "Failed")));
  EXPECT_FALSE(s->matches(pod("n2", "Running")));
  // == is =, and an empty value matches an unset field (unscheduled pods: spec.nodeName=).
  auto unscheduled = FieldSelector::parse(pods(), "spec.nodeName==");
  ASSERT_TRUE(unscheduled.isOk());
  EXPECT_TRUE(unscheduled->matches(pod("", "Pending")));
  EXPECT_TRUE(FieldSelector::parse(pods(), "metadata.name=p,metadata.namespace=ns")
                  ->matches(pod("x", "y")));
  EXPECT_TRUE(FieldSelector::parse(pods(), "")->empty());
  // As Kubernetes: an empty term is skipped.
  EXPECT_EQ(FieldSelector::parse(pods(), "spec.nodeName=n1,")->terms().size(), 1u);
  // Escaped commas, equal signs and backslashes in values.
  auto escaped = FieldSelector::parse(pods(), "metadata.name=a\\,b\\=c");
  ASSERT_TRUE(escaped.isOk()) << escaped.status();
  EXPECT_EQ(escaped->terms()[0].value, "a,b=c");
  auto notEq = FieldSelector::parse(pods(), "status.phase!=Failed");
  ASSERT_TRUE(notEq.isOk());
  EXPECT_FALSE(notEq->terms()[0].equals);
}

TEST(FieldSelectorTest, EventsSelectByInvolvedObject) {
  Json ev = {{"metadata", {{"name", "e"}, {"namespace", "ns"}}},
             {"involvedObject", {{"kind", "Pod"}, {"name", "web"}}},
             {"type", "Warning"}};
  auto s = FieldSelector::parse(events(), "involvedObject.name=web,type=Warning");
  ASSERT_TRUE(s.isOk()) << s.status();
  EXPECT_TRUE(s->matches(ev));
}

TEST(FieldSelectorTest, UnsupportedFieldsAndBadSyntaxAreRefused) {
  auto unsupported = FieldSelector::parse(pods(), "spec.foo=bar");
  ASSERT_FALSE(unsupported.isOk());
  EXPECT_EQ(unsupported.status().code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(unsupported.status().message().find("field label not supported: spec.foo"),
            std::string::npos);
  for (const char* bad : {"spec.nodeName", "=x", "spec.nodeName=a=b", "spec.nodeName=a\\x"}) {
    EXPECT_FALSE(FieldSelector::parse(pods(), bad).isOk()) << bad;
  }
}

}  // namespace
}  // namespace skiff::control_plane::apiserver
