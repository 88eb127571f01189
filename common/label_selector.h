// Kubernetes label selectors: parse the string form ("site=a,arch in (arm64),!legacy"), convert
// from the structured form (matchLabels/matchExpressions), match against a label map, print.
// Same syntax and validation as k8s.io/apimachinery/pkg/labels: =, ==, !=, in, notin, exists,
// !key, and gt/lt (key>3). Immutable after construction; safe to share between threads.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace skiff::common {

using Labels = std::map<std::string, std::string, std::less<>>;

class LabelSelector {
 public:
  enum class Op {
    kEquals,
    kNotEquals,
    kIn,
    kNotIn,
    kExists,
    kDoesNotExist,
    kGreaterThan,
    kLessThan
  };

  struct Requirement {
    std::string key;
    Op op;
    std::set<std::string> values;  // sorted, as Kubernetes prints them
    bool operator==(const Requirement&) const = default;
  };

  LabelSelector() = default;  // empty selector: matches everything

  // Parses the string form. InvalidArgument with the position and what was expected on bad
  // syntax, invalid keys (qualified name rules) or invalid values (≤ 63 chars, alphanumeric
  // with -_. inside).
  static Result<LabelSelector> parse(std::string_view text);

  // From a metav1.LabelSelector JSON object ({matchLabels:{}, matchExpressions:[{key,operator,
  // values}]}). A null/absent selector is represented by the caller; here {} matches everything.
  static Result<LabelSelector> fromJson(const nlohmann::json& selector);

  // Exact-match selector from a label map (matchLabels only).
  static LabelSelector fromLabels(const Labels& labels);

  bool matches(const Labels& labels) const;
  bool empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }

  // Canonical string form, requirements sorted by key: parse(toString()) == *this.
  std::string toString() const;

  bool operator==(const LabelSelector&) const = default;

 private:
  explicit LabelSelector(std::vector<Requirement> reqs);
  std::vector<Requirement> requirements_;
};

// Validation shared with the API server (object metadata labels).
Status validateLabelKey(std::string_view key);
Status validateLabelValue(std::string_view value);

}  // namespace skiff::common
