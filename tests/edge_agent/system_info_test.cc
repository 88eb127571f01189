// Device facts and metrics from procfs/sysfs (edge_agent/system_info.h), read from fake roots.
#include "edge_agent/system_info.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/fs.h"
#include "tests/support/process.h"

namespace skiff::edge_agent {
namespace {

TEST(SystemInfoTest, ParsesProcAndSys) {
  EXPECT_EQ(goArch("x86_64"), "amd64");
  EXPECT_EQ(goArch("aarch64"), "arm64");
  EXPECT_EQ(goArch("armv7l"), "arm");
  EXPECT_EQ(goArch("armv6l"), "arm");
  auto t = parseProcStat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->total, 1000u);
  EXPECT_EQ(t->busy, 150u);
  EXPECT_FALSE(parseProcStat("intr 1 2\n").has_value());
  auto m = parseMeminfo("MemTotal:        1000 kB\nMemFree: 10 kB\nMemAvailable:     250 kB\n");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->totalBytes, 1024000);
  EXPECT_EQ(m->availableBytes, 256000);
  EXPECT_EQ(parseOsRelease("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(*parseThermal("48312\n"), 48.312);
  EXPECT_EQ(*parseThermal("48\n"), 48);
  EXPECT_FALSE(parseThermal("hot").has_value());
  EXPECT_DOUBLE_EQ(parseLoadAvg("0.42 0.30 0.20 1/100 1234\n"), 0.42);
  EXPECT_EQ(
      parseDefaultRouteInterface("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
                                 "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\n"
                                 "wlan0\t00000000\t0102A8C0\t0003\t0\t0\t600\t00000000\n"),
      "wlan0");
  EXPECT_EQ(parseDefaultRouteInterface("Iface\tDestination\n"), "");
  EXPECT_FALSE(primaryAddress().empty());
}

TEST(SystemInfoTest, MetricsFromAFakeRoot) {
  auto root = test::TempDir::create("fake-root");
  ASSERT_TRUE(root.isOk());
  auto put = [&](const std::string& p, const std::string& c) {
    ASSERT_TRUE(common::makeDirs(std::filesystem::path(root->path() + p).parent_path()).isOk());
    ASSERT_TRUE(common::writeFileAtomic(root->path() + p, c).isOk());
  };
  put("/proc/stat", "cpu  100 0 0 900 0 0 0 0\n");
  put("/proc/meminfo", "MemTotal: 2000 kB\nMemAvailable: 500 kB\n");
  put("/proc/loadavg", "1.5 1 1 1/1 1\n");
  put("/sys/class/thermal/thermal_zone0/temp", "51000\n");
  put("/sys/class/thermal/thermal_zone1/temp", "47000\n");
  CpuSampler cpu(root->path());
  auto m1 = collectHostMetrics(cpu, root->path(), root->path());
  EXPECT_EQ(m1.cpuPercent, 0);
  put("/proc/stat", "cpu  200 0 0 1800 0 0 0 0\n");
  auto m2 = collectHostMetrics(cpu, root->path(), root->path());
  EXPECT_NEAR(m2.cpuPercent, 10.0, 0.01);
  EXPECT_EQ(m2.memoryTotalBytes, 2048000);
  EXPECT_EQ(m2.memoryUsedBytes, 1536000);
  EXPECT_DOUBLE_EQ(m2.load1, 1.5);
  ASSERT_TRUE(m2.temperatureCelsius.has_value());
  EXPECT_DOUBLE_EQ(*m2.temperatureCelsius, 51.0);
  EXPECT_GT(m2.diskTotalBytes, 0);
  auto noThermal = test::TempDir::create("no-thermal");
  CpuSampler cpu2(noThermal->path());
  EXPECT_FALSE(collectHostMetrics(cpu2, noThermal->path(), noThermal->path())
                   .temperatureCelsius.has_value());
  auto facts = collectFacts(root->path());
  EXPECT_EQ(facts.arch, "amd64");
  EXPECT_GT(facts.cpus, 0);
  EXPECT_FALSE(facts.kernel.empty());
}

}  // namespace
}  // namespace skiff::edge_agent
