// Compact metrics ring buffer.
#include "hub/fleet/metrics_history.h"

#include <cmath>

#include "common/clock.h"

namespace skiff::hub::fleet {

MetricsHistory::MetricsHistory(std::chrono::seconds resolution, std::chrono::seconds window)
    : resolution_(static_cast<std::uint32_t>(std::max<std::int64_t>(1, resolution.count()))),
      window_(static_cast<std::uint32_t>(std::max<std::int64_t>(1, window.count()))),
      capacity_(std::max<std::size_t>(1, window_ / resolution_ + 1)) {}

void MetricsHistory::add(std::int64_t atMs, const common::protocol::Metrics& m) {
  Sample s{static_cast<std::uint32_t>(atMs / 1000),
           static_cast<float>(m.cpuPercent),
           static_cast<float>(m.memoryUsedBytes),
           static_cast<float>(m.memoryTotalBytes),
           static_cast<float>(m.diskUsedBytes),
           static_cast<float>(m.diskTotalBytes),
           m.temperatureCelsius ? static_cast<float>(*m.temperatureCelsius) : std::nanf(""),
           static_cast<float>(m.load1)};
  if (!samples_.empty()) {
    std::size_t newest =
        samples_.size() < capacity_ ? samples_.size() - 1 : (head_ + capacity_ - 1) % capacity_;
    // Same slot as the newest sample: replace it (at most one sample per resolution).
    if (s.atSeconds / resolution_ == samples_[newest].atSeconds / resolution_ ||
        s.atSeconds < samples_[newest].atSeconds) {
      if (s.atSeconds >= samples_[newest].atSeconds) samples_[newest] = s;
      return;
    }
  }
  if (samples_.size() < capacity_) {
    samples_.push_back(s);
  } else {
    samples_[head_] = s;
    head_ = (head_ + 1) % capacity_;
  }
}

common::Json MetricsHistory::toJson(std::int64_t nowMs) const {
  common::Json out = common::Json::array();
  std::int64_t oldest = nowMs / 1000 - window_;
  for (std::size_t i = 0; i < samples_.size(); ++i) {
    const Sample& s = samples_[(head_ + i) % samples_.size()];
    if (static_cast<std::int64_t>(s.atSeconds) < oldest) continue;
    common::Json j = {{"schema", common::protocol::kSchema},
                      {"at", common::formatRfc3339(std::chrono::system_clock::time_point(
                                 std::chrono::seconds(s.atSeconds)))},
                      {"cpuPercent", s.cpuPercent},
                      {"memoryUsedBytes", static_cast<std::int64_t>(s.memoryUsed)},
                      {"memoryTotalBytes", static_cast<std::int64_t>(s.memoryTotal)},
                      {"diskUsedBytes", static_cast<std::int64_t>(s.diskUsed)},
                      {"diskTotalBytes", static_cast<std::int64_t>(s.diskTotal)},
                      {"load1", s.load1}};
    if (!std::isnan(s.temperature)) j["temperatureCelsius"] = s.temperature;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace skiff::hub::fleet
