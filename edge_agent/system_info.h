// Device facts and host metrics from procfs/sysfs: architecture (GOARCH names), OS release,
// kernel, hostname, CPUs, memory, disk of the state directory's file system, CPU usage from
// /proc/stat deltas, load, and the SoC temperature from /sys/class/thermal when present.
// The parsers are pure functions over file contents (unit-tested with fixtures); the readers
// take a root directory so tests can point them at a fake /proc and /sys.
// Threading: free functions are thread-safe; CpuSampler is not (one owner).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/protocol/protocol.h"

namespace skiff::edge_agent {

// uname machine → GOARCH-style name: x86_64 → amd64, aarch64/arm64 → arm64, armv6l/armv7l → arm.
std::string goArch(std::string_view machine);

struct CpuTimes {
  std::uint64_t busy = 0;
  std::uint64_t total = 0;
};
// The aggregate "cpu" line of /proc/stat.
std::optional<CpuTimes> parseProcStat(std::string_view text);

struct MemInfo {
  std::int64_t totalBytes = 0;
  std::int64_t availableBytes = 0;
};
std::optional<MemInfo> parseMeminfo(std::string_view text);

// PRETTY_NAME from /etc/os-release ("Debian GNU/Linux 12 (bookworm)").
std::string parseOsRelease(std::string_view text);

// Millidegrees (thermal_zone*/temp) → degrees Celsius.
std::optional<double> parseThermal(std::string_view text);

// First number of /proc/loadavg.
double parseLoadAvg(std::string_view text);

struct DiskUsage {
  std::int64_t totalBytes = 0;
  std::int64_t usedBytes = 0;
};
std::optional<DiskUsage> diskUsage(const std::string& path);

// Host facts (engine fields and agentVersion are filled by the caller). root is "/" in
// production.
common::protocol::DeviceFacts collectFacts(const std::string& stateDir,
                                           const std::string& root = "/");

// Host part of the metrics document (module usage is added by the caller).
class CpuSampler {
 public:
  explicit CpuSampler(std::string root = "/") : root_(std::move(root)) {}
  // Percent of all CPUs busy since the previous call (0 on the first call).
  double sample();

 private:
  std::string root_;
  std::optional<CpuTimes> last_;
};

// The interface of the IPv4 default route in /proc/net/route ("" if none).
std::string parseDefaultRouteInterface(std::string_view text);
// The device's address (status.hostIP of its pods): the IPv4 address of the default route's
// interface, else the first non-loopback IPv4 address, else 127.0.0.1.
std::string primaryAddress(const std::string& root = "/");

common::protocol::Metrics collectHostMetrics(CpuSampler& cpu, const std::string& stateDir,
                                             const std::string& root = "/");

}  // namespace skiff::edge_agent
