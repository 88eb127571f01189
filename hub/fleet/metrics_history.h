// One device's recent metrics in a fixed-size ring of compact samples (32 bytes each), so that
// an hour of history for thousands of devices stays within a few megabytes: at most one sample
// per `resolution` is kept (the newest in its slot wins) and samples older than `window` fall
// out. Per-module usage is not kept in the history (only in the latest document). Not
// thread-safe: guarded by the owner.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "common/json.h"
#include "common/protocol/protocol.h"

namespace skiff::hub::fleet {

class MetricsHistory {
 public:
  MetricsHistory(std::chrono::seconds resolution, std::chrono::seconds window);
  void add(std::int64_t atMs, const common::protocol::Metrics& m);
  // Metrics documents (schema 1, without modules) newer than nowMs - window, oldest first.
  common::Json toJson(std::int64_t nowMs) const;
  std::size_t size() const { return samples_.size(); }
  std::size_t memoryBytes() const { return samples_.capacity() * sizeof(Sample); }

 private:
  struct Sample {
    std::uint32_t atSeconds;
    float cpuPercent;
    float memoryUsed;
    float memoryTotal;
    float diskUsed;
    float diskTotal;
    float temperature;  // NaN: absent
    float load1;
  };
  static_assert(sizeof(Sample) == 32);
  std::uint32_t resolution_;
  std::uint32_t window_;
  std::size_t capacity_;
  std::vector<Sample> samples_;  // ring once full
  std::size_t head_ = 0;         // index of the oldest sample when full
};

}  // namespace skiff::hub::fleet
