// Fleet's internals shared by its files (fleet.cc: construction, load, lifecycle, indexes;
// fleet_devices.cc: devices and deployments; fleet_views.cc: views, counts, overview;
// fleet_ingest.cc: reported state, presence, metrics and the desired-state reconciler): the
// per-device and per-deployment state behind Fleet's lock, metrics, and small helpers.
#pragma once

#include "hub/fleet/fleet.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "common/log.h"
#include "hub/fleet/outcome.h"

namespace skiff::hub::fleet {

namespace proto = common::protocol;
using common::Result;
using common::Status;
using Clock = std::chrono::steady_clock;

constexpr int kLastSeenShards = 16;

inline std::int64_t toMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

inline int shardOf(std::string_view id) {
  std::uint32_t h = 2166136261u;  // FNV-1a: stable across builds, unlike std::hash
  for (char c : id) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return static_cast<int>(h % kLastSeenShards);
}

constexpr std::size_t kOverviewLabelValues = 50;

// Reported state without the fields that change on every heartbeat.
inline bool sameMaterial(const proto::Reported& a, const proto::Reported& b) {
  return a.appliedVersion == b.appliedVersion && a.desiredError == b.desiredError &&
         a.pods == b.pods && a.modules == b.modules && a.facts == b.facts;
}

struct Fleet::DeviceState {
  DeviceRecord record;
  std::string arch;      // from the reported facts: the skiff.io/arch label
  Labels indexedLabels;  // operator ∪ implicit, as indexed
  std::optional<proto::Reported> reported;
  std::string reportedJson;
  bool online = false;
  std::int64_t presenceAtMs = 0;
  std::int64_t lastSeenMs = 0;
  std::string metricsJson;
  std::unique_ptr<MetricsHistory> history;
  std::set<std::string> matches;  // deployment ids
  // Desired state: the newest composed document and the newest acknowledged one.
  std::int64_t desiredVersion = 0;
  std::string desiredHash;
  std::string desiredIssuedAt;
  std::int64_t publishedVersion = 0;
  DesiredContent content;
  // For each matching deployment: the generation last seen and the first desired version that
  // carried it ("applied" = appliedVersion >= that version).
  struct DepVersion {
    std::int64_t generation = 0;
    std::int64_t version = 0;
  };
  std::map<std::string, DepVersion, std::less<>> depVersions;
  std::set<std::string> failing;  // module names currently failing (for events)
  bool refusing = false;
};

struct Fleet::DeploymentState {
  DeploymentPtr compiled;
  std::set<std::string> targets;
  // The status counts, kept per targeted device: a device's contribution (Outcome bits) is
  // recounted only when something it depends on changed (markStale), so a status query costs
  // O(changed devices), not O(targets) — clients poll and watch it during rollouts. Built by the
  // first query (recountAll); guarded by mu_, mutable because queries are const. Devices are
  // named by address (no string copies on the ingest path): deleting a device recounts all.
  mutable std::unordered_map<const DeviceState*, std::uint8_t> contrib;
  mutable std::vector<const DeviceState*> stale;  // may repeat; recounting twice is harmless
  mutable bool recountAll = true;

  void markStale(const DeviceState* d) const {
    if (recountAll) return;
    // Nobody asked for a while: a full recount is cheaper than an ever longer list.
    if (stale.size() >= targets.size() + 64) {
      recountAll = true;
      stale.clear();
      return;
    }
    stale.push_back(d);
  }
  mutable std::array<int, 4> counts{};  // applied, running, failed, offline
};

// Outcome bits (hub/fleet/outcome.h): index = bit in DeploymentState::counts.
inline void addOutcome(std::array<int, 4>& counts, std::uint8_t bits, int sign) {
  for (int i = 0; i < 4; ++i) {
    if ((bits & (1 << i)) != 0) counts[static_cast<std::size_t>(i)] += sign;
  }
}

struct Fleet::Metrics {
  prometheus::Family<prometheus::Counter>* accepted = nullptr;
  prometheus::Family<prometheus::Counter>* rejected = nullptr;
  prometheus::Counter* versions = nullptr;
  prometheus::Counter* published = nullptr;
  prometheus::Histogram* reconcile = nullptr;
  prometheus::Gauge* devices = nullptr;
  prometheus::Gauge* online = nullptr;
  prometheus::Gauge* deployments = nullptr;
  prometheus::Gauge* pendingWrites = nullptr;

  // The channels' counters, made once: Family::Add builds a label map per call, and accept()
  // runs for every device message.
  std::array<std::pair<std::string_view, prometheus::Counter*>, 3> acceptedBy{};

  void accept(std::string_view channel) {
    for (const auto& [name, counter] : acceptedBy) {
      if (name == channel && counter != nullptr) return counter->Increment();
    }
    if (accepted) accepted->Add({{"channel", std::string(channel)}}).Increment();
  }
  void reject(const char* channel, RejectReason r) {
    static const char* kNames[] = {"malformed", "oversized", "unknown_device", "device_mismatch"};
    if (rejected) {
      rejected->Add({{"channel", channel}, {"reason", kNames[static_cast<int>(r)]}}).Increment();
    }
  }
};

}  // namespace skiff::hub::fleet
