// Inverted index from device labels to device ids, so that applying a deployment evaluates its
// selector only against devices that can match (those carrying the label values its equality,
// `in` or `exists` requirements name) instead of the whole fleet. Not thread-safe: the owner
// (Fleet) guards it with its state mutex.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/label_selector.h"

namespace skiff::hub::fleet {

class LabelIndex {
 public:
  void add(const std::string& id, const common::Labels& labels);
  void remove(const std::string& id, const common::Labels& labels);
  // A superset of the ids `selector` matches, or nullopt when no requirement narrows the search
  // (the caller then scans every device). Sorted, unique.
  std::optional<std::vector<std::string>> candidates(const common::LabelSelector& selector) const;

 private:
  // key -> value -> ids
  std::map<std::string, std::map<std::string, std::set<std::string>, std::less<>>, std::less<>>
      index_;
};

}  // namespace skiff::hub::fleet
