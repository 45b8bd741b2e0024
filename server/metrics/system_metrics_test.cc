#include "server/metrics/system_metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::server::metrics {
namespace {

constexpr char kProcStat[] =
    "cpu  100 5 50 800 20 3 2 0 10 0\n"
    "cpu0 50 2 25 400 10 1 1 0 5 0\n"
    "intr 12345\n";

TEST(SystemMetricsTest, ParsesTheAggregateCpuLine) {
  auto times = ParseProcStat(kProcStat);
  ASSERT_TRUE(times.ok()) << times.status();
  // user..steal = 100+5+50+800+20+3+2+0; guest is already in user.
  EXPECT_EQ(times->total, 980u);
  EXPECT_EQ(times->busy, 980u - 800 - 20);
  EXPECT_FALSE(ParseProcStat("cpu0 1 2 3 4\n").ok());
  EXPECT_FALSE(ParseProcStat("cpu 1 2\n").ok());
  EXPECT_FALSE(ParseProcStat("cpu 1 x 3 4\n").ok());
}

TEST(SystemMetricsTest, ParsesMeminfo) {
  auto info = ParseMeminfo(
      "MemTotal:       16000000 kB\n"
      "MemFree:         1000000 kB\n"
      "MemAvailable:   12000000 kB\n");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->total_bytes, 16000000ull * 1024);
  EXPECT_EQ(info->used_bytes, 4000000ull * 1024);
  EXPECT_FALSE(ParseMeminfo("MemTotal: 1 kB\n").ok());
}

TEST(SystemMetricsTest, CpuUtilizationIsTheBusyShareOfEachWindow) {
  CpuUtilization cpu(/*min_interval_ns=*/1000);
  EXPECT_FALSE(cpu.Update({100, 1000}, 0).has_value());  // the start
  // 150 of 200 jiffies busy.
  EXPECT_DOUBLE_EQ(*cpu.Update({250, 1200}, 2000), 0.75);
  // Sooner than the minimum interval: the same value, the window not moved.
  EXPECT_DOUBLE_EQ(*cpu.Update({250, 1300}, 2500), 0.75);
  // The next window starts where the last one ended: 50 of 400.
  EXPECT_DOUBLE_EQ(*cpu.Update({300, 1600}, 3000), 0.125);
  // No jiffy passed: the last value stays.
  EXPECT_DOUBLE_EQ(*cpu.Update({300, 1600}, 5000), 0.125);
  // Counters going backwards restart the window.
  EXPECT_DOUBLE_EQ(*cpu.Update({10, 20}, 7000), 0.125);
  EXPECT_DOUBLE_EQ(*cpu.Update({20, 40}, 9000), 0.5);
}

TEST(SystemMetricsTest, ReadsThisMachinesProc) {
  auto stat = ReadProcFile("/proc/stat");
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_TRUE(ParseProcStat(*stat).ok());
  auto meminfo = ReadProcFile("/proc/meminfo");
  ASSERT_TRUE(meminfo.ok()) << meminfo.status();
  auto memory = ParseMeminfo(*meminfo);
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_GT(memory->total_bytes, memory->used_bytes);
  EXPECT_FALSE(ReadProcFile("/proc/no_such_file").ok());
}

}  // namespace
}  // namespace kiln::server::metrics
