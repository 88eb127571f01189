// Field selectors (?fieldSelector=spec.nodeName=n,status.phase!=Failed): parse and match with the
// fields Kubernetes supports per resource (metadata.name/namespace everywhere; spec.nodeName,
// status.phase, ... for pods; involvedObject.* for events; spec.unschedulable for nodes; type for
// secrets/events). Operators: =, ==, !=; values may be empty.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "control_plane/apiserver/resources.h"

namespace skiff::control_plane::apiserver {

class FieldSelector {
 public:
  struct Term {
    std::string field;
    bool equals;
    std::string value;
  };
  // BadRequest-worthy InvalidArgument for bad syntax or a field the resource does not support
  // ("field label not supported: spec.foo").
  static common::Result<FieldSelector> parse(const ResourceInfo& r, std::string_view text);
  bool matches(const common::Json& obj) const;
  bool empty() const { return terms_.empty(); }
  const std::vector<Term>& terms() const { return terms_; }

 private:
  std::vector<Term> terms_;
};

// The value of a supported field for an object ("" if absent).
std::string fieldValue(const common::Json& obj, const std::string& field);

}  // namespace skiff::control_plane::apiserver
