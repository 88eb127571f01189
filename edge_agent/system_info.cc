// procfs/sysfs readers (see system_info.h).
#include "edge_agent/system_info.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "common/fs.h"

namespace skiff::edge_agent {

namespace {

std::string readOr(const std::string& path, std::string fallback = "") {
  return common::readFile(path).valueOr(std::move(fallback));
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string joinPath(const std::string& root, const std::string& abs) {
  if (root.empty() || root == "/") return abs;
  return root + abs;
}

}  // namespace

std::string goArch(std::string_view m) {
  if (m == "x86_64" || m == "amd64") return "amd64";
  if (m == "aarch64" || m == "arm64" || m == "aarch64_be") return "arm64";
  if (m.starts_with("armv") || m == "arm") return "arm";
  if (m == "i686" || m == "i386") return "386";
  return std::string(m);
}

std::optional<CpuTimes> parseProcStat(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("cpu ")) continue;
    std::istringstream f(line.substr(4));
    std::uint64_t v[10] = {0};
    int n = 0;
    while (n < 10 && (f >> v[n])) ++n;
    if (n < 4) return std::nullopt;
    // user nice system idle iowait irq softirq steal (guest times are included in user/nice).
    CpuTimes t;
    std::uint64_t idle = v[3] + (n > 4 ? v[4] : 0);
    for (int i = 0; i < std::min(n, 8); ++i) t.total += v[i];
    t.busy = t.total - idle;
    return t;
  }
  return std::nullopt;
}

std::optional<MemInfo> parseMeminfo(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string key;
  std::int64_t value = 0;
  std::string unit;
  MemInfo m;
  bool total = false;
  bool avail = false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    if (!(f >> key >> value)) continue;
    if (key == "MemTotal:") {
      m.totalBytes = value * 1024;
      total = true;
    } else if (key == "MemAvailable:") {
      m.availableBytes = value * 1024;
      avail = true;
    }
  }
  if (!total) return std::nullopt;
  if (!avail) m.availableBytes = 0;
  return m;
}

std::string parseOsRelease(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string line;
  std::string name;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq);
    std::string v = line.substr(eq + 1);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
      v = v.substr(1, v.size() - 2);
    }
    if (k == "PRETTY_NAME") return v;
    if (k == "NAME") name = v;
  }
  return name;
}

std::optional<double> parseThermal(std::string_view text) {
  std::string t = trim(std::string(text));
  long long milli = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), milli);
  if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  // Some drivers report degrees rather than millidegrees.
  double c =
      std::llabs(milli) >= 1000 ? static_cast<double>(milli) / 1000.0 : static_cast<double>(milli);
  if (c < -60 || c > 200) return std::nullopt;
  return c;
}

double parseLoadAvg(std::string_view text) {
  std::istringstream in{std::string(text)};
  double v = 0;
  in >> v;
  return in ? v : 0;
}

std::optional<DiskUsage> diskUsage(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return std::nullopt;
  DiskUsage d;
  d.totalBytes = static_cast<std::int64_t>(st.f_blocks) * static_cast<std::int64_t>(st.f_frsize);
  d.usedBytes =
      d.totalBytes - static_cast<std::int64_t>(st.f_bfree) * static_cast<std::int64_t>(st.f_frsize);
  return d;
}

common::protocol::DeviceFacts collectFacts(const std::string& stateDir, const std::string& root) {
  common::protocol::DeviceFacts f;
  struct utsname u {};
  if (::uname(&u) == 0) {
    f.arch = goArch(u.machine);
    f.kernel = u.release;
    f.hostname = u.nodename;
  }
  f.os = "linux";
  f.osRelease = parseOsRelease(readOr(joinPath(root, "/etc/os-release")));
  if (f.osRelease.empty())
    f.osRelease = parseOsRelease(readOr(joinPath(root, "/usr/lib/os-release")));
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  f.cpus =
      cpus > 0 ? static_cast<int>(cpus) : static_cast<int>(std::thread::hardware_concurrency());
  if (auto m = parseMeminfo(readOr(joinPath(root, "/proc/meminfo")))) f.memoryBytes = m->totalBytes;
  if (auto d = diskUsage(stateDir)) f.diskBytes = d->totalBytes;
  return f;
}

double CpuSampler::sample() {
  auto now = parseProcStat(readOr(joinPath(root_, "/proc/stat")));
  if (!now) return 0;
  double pct = 0;
  if (last_ && now->total > last_->total) {
    pct = 100.0 * static_cast<double>(now->busy - std::min(now->busy, last_->busy)) /
          static_cast<double>(now->total - last_->total);
  }
  last_ = now;
  return std::clamp(pct, 0.0, 100.0);
}

common::protocol::Metrics collectHostMetrics(CpuSampler& cpu, const std::string& stateDir,
                                             const std::string& root) {
  common::protocol::Metrics m;
  m.at = common::formatRfc3339(std::chrono::system_clock::now());
  m.cpuPercent = cpu.sample();
  if (auto mem = parseMeminfo(readOr(joinPath(root, "/proc/meminfo")))) {
    m.memoryTotalBytes = mem->totalBytes;
    m.memoryUsedBytes = mem->totalBytes - mem->availableBytes;
  }
  if (auto d = diskUsage(stateDir)) {
    m.diskTotalBytes = d->totalBytes;
    m.diskUsedBytes = d->usedBytes;
  }
  m.load1 = parseLoadAvg(readOr(joinPath(root, "/proc/loadavg")));
  // The SoC sensor is usually thermal_zone0 ("cpu-thermal" on a Pi); take the hottest zone.
  std::error_code ec;
  const std::string thermal = joinPath(root, "/sys/class/thermal");
  for (auto it = std::filesystem::directory_iterator(thermal, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (!it->path().filename().string().starts_with("thermal_zone")) continue;
    if (auto c = parseThermal(readOr(it->path().string() + "/temp"))) {
      if (!m.temperatureCelsius || *c > *m.temperatureCelsius) m.temperatureCelsius = *c;
    }
  }
  return m;
}

std::string parseDefaultRouteInterface(std::string_view text) {
  std::size_t start = 0;
  bool header = true;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(start, end - start));
    start = end + 1;
    if (header) {
      header = false;
      continue;
    }
    std::istringstream in(line);
    std::string iface, dest, gateway, flags;
    if (!(in >> iface >> dest >> gateway >> flags)) continue;
    unsigned long f = std::strtoul(flags.c_str(), nullptr, 16);
    if (dest == "00000000" && (f & 0x1) != 0) return iface;  // RTF_UP
  }
  return "";
}

std::string primaryAddress(const std::string& root) {
  std::string preferred;
  if (auto route = common::readFile(root + "proc/net/route"); route.isOk()) {
    preferred = parseDefaultRouteInterface(*route);
  }
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "127.0.0.1";
  std::string first;
  std::string chosen;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char buf[INET_ADDRSTRLEN] = {};
    auto* sin = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
    if (::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)) == nullptr) continue;
    if (first.empty()) first = buf;
    if (!preferred.empty() && preferred == a->ifa_name && chosen.empty()) chosen = buf;
  }
  ::freeifaddrs(list);
  if (!chosen.empty()) return chosen;
  return first.empty() ? "127.0.0.1" : first;
}

}  // namespace skiff::edge_agent
