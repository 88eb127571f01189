// Store benchmark: durable writes/s and latency percentiles at 1 and 64 concurrent writers,
// SQLite store vs a real etcd started in the same run, both through the same Store interface.
// Targets (issue #5): SQLite ≥ 1.5× etcd at 64 writers, ≥ 1× at 1 writer.
//
//   store_bench [--seconds N]        (default 3 s per measurement)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/store/etcd/etcd_store.h"
#include "common/store/sqlite_store.h"
#include "tests/support/etcd.h"
#include "tests/support/process.h"

using namespace skiff;
using Clock = std::chrono::steady_clock;

namespace {

struct Figures {
  double writesPerSec = 0;
  double p50Ms = 0;
  double p99Ms = 0;
  std::size_t errors = 0;
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

// Each writer creates fresh keys (a Kubernetes create) with a ~1 KiB value, like a small Pod.
Figures measure(common::store::Store& store, int writers, double seconds, const std::string& tag) {
  std::string value(1024, 'x');
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(writers));
  std::vector<std::size_t> errs(static_cast<std::size_t>(writers), 0);
  std::vector<std::thread> ts;
  auto start = Clock::now();
  for (int w = 0; w < writers; ++w) {
    ts.emplace_back([&, w] {
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        std::string key = "/bench/" + tag + "/w" + std::to_string(w) + "/" + std::to_string(i);
        auto t0 = Clock::now();
        auto r = store.create(key, value);
        auto t1 = Clock::now();
        if (!r.isOk()) {
          ++errs[static_cast<std::size_t>(w)];
          continue;
        }
        lat[static_cast<std::size_t>(w)].push_back(
            std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  Figures f;
  for (std::size_t w = 0; w < lat.size(); ++w) {
    all.insert(all.end(), lat[w].begin(), lat[w].end());
    f.errors += errs[w];
  }
  f.writesPerSec = static_cast<double>(all.size()) / elapsed;
  f.p50Ms = percentile(all, 0.50);
  f.p99Ms = percentile(all, 0.99);
  return f;
}

void print(const char* name, int writers, const Figures& f) {
  std::printf("%-8s writers=%-3d %9.0f writes/s   p50 %7.2f ms   p99 %7.2f ms   errors %zu\n", name,
              writers, f.writesPerSec, f.p50Ms, f.p99Ms, f.errors);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: store_bench [--seconds N]\n");
      return 2;
    }
  }
  if (seconds <= 0) {
    std::fprintf(stderr, "store_bench: --seconds must be positive\n");
    return 2;
  }
  auto dir = test::TempDir::create("skiff-store-bench");
  if (!dir.isOk()) {
    std::fprintf(stderr, "temp dir: %s\n", dir.status().toString().c_str());
    return 1;
  }
  common::store::SqliteStoreOptions so;
  so.path = dir->path() + "/bench.db";
  auto sqlite = common::store::SqliteStore::open(so);
  if (!sqlite.isOk()) {
    std::fprintf(stderr, "sqlite: %s\n", sqlite.status().toString().c_str());
    return 1;
  }
  auto etcdFx = test::EtcdFixture::create();
  if (!etcdFx.isOk()) {
    std::fprintf(stderr, "etcd: %s\n", etcdFx.status().toString().c_str());
    return 1;
  }
  common::store::etcd::EtcdStoreOptions eo;
  eo.endpoints = {(*etcdFx)->endpoint()};
  auto etcd = common::store::etcd::EtcdStore::connect(eo);
  if (!etcd.isOk()) {
    std::fprintf(stderr, "etcd store: %s\n", etcd.status().toString().c_str());
    return 1;
  }
  std::printf("Store benchmark: 1 KiB creates, %.1f s per run, same machine, same Store API\n",
              seconds);
  std::printf("(etcd %s with default fsync, SQLite WAL synchronous=FULL)\n\n",
              (*etcdFx)->endpoint().c_str());
  bool ok = true;
  for (int writers : {1, 64}) {
    Figures s = measure(**sqlite, writers, seconds, "s" + std::to_string(writers));
    Figures e = measure(**etcd, writers, seconds, "e" + std::to_string(writers));
    print("sqlite", writers, s);
    print("etcd", writers, e);
    double ratio = e.writesPerSec > 0 ? s.writesPerSec / e.writesPerSec : 0;
    double target = writers == 1 ? 1.0 : 1.5;
    std::printf("ratio sqlite/etcd at %d writers: %.2fx (target >= %.1fx) %s\n", writers, ratio,
                target, ratio >= target ? "PASS" : "MISS");
    auto stats = (*sqlite)->stats();
    std::printf("sqlite group commit so far: %llu writes in %llu transactions\n\n",
                static_cast<unsigned long long>(stats.writes),
                static_cast<unsigned long long>(stats.transactions));
    ok = ok && ratio >= target;
  }
  return ok ? 0 : 3;
}
