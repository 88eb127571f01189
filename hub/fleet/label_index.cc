// Inverted label index: the narrowest requirement of a selector picks the candidate set.
#include "hub/fleet/label_index.h"

#include <algorithm>

namespace skiff::hub::fleet {

using Op = common::LabelSelector::Op;

void LabelIndex::add(const std::string& id, const common::Labels& labels) {
  for (const auto& [k, v] : labels) index_[k][v].insert(id);
}

void LabelIndex::remove(const std::string& id, const common::Labels& labels) {
  for (const auto& [k, v] : labels) {
    auto kit = index_.find(k);
    if (kit == index_.end()) continue;
    auto vit = kit->second.find(v);
    if (vit == kit->second.end()) continue;
    vit->second.erase(id);
    if (vit->second.empty()) kit->second.erase(vit);
    if (kit->second.empty()) index_.erase(kit);
  }
}

std::optional<std::vector<std::string>> LabelIndex::candidates(
    const common::LabelSelector& selector) const {
  // Per narrowing requirement: the value sets whose union is its candidate set.
  std::optional<std::vector<const std::set<std::string>*>> best;
  std::size_t bestSize = 0;
  for (const auto& req : selector.requirements()) {
    if (req.op != Op::kEquals && req.op != Op::kIn && req.op != Op::kExists) continue;
    std::vector<const std::set<std::string>*> sets;
    std::size_t size = 0;
    auto kit = index_.find(req.key);
    if (kit != index_.end()) {
      if (req.op == Op::kExists) {
        for (const auto& [v, ids] : kit->second) {
          sets.push_back(&ids);
          size += ids.size();
        }
      } else {
        for (const auto& v : req.values) {
          auto vit = kit->second.find(v);
          if (vit == kit->second.end()) continue;
          sets.push_back(&vit->second);
          size += vit->second.size();
        }
      }
    }
    if (!best || size < bestSize) {
      best = std::move(sets);
      bestSize = size;
    }
  }
  if (!best) return std::nullopt;
  std::vector<std::string> out;
  out.reserve(bestSize);
  for (const auto* s : *best) out.insert(out.end(), s->begin(), s->end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace skiff::hub::fleet
