// API server benchmark through HTTPS against the real skiff-control-plane binary:
//  - pod creates/s and p50/p99 with 32 concurrent keep-alive clients
//  - p99 mutating latency at a paced 100 req/s (Kubernetes' SLO: 1 s)
//  - list of 10k pods (latency), watch fan-out (one change → 100 watchers, p99 delivery)
//  - RSS idle and holding 10k pods
// Targets (issue #5): ≥ 2,000 creates/s, p99 ≤ 50 ms at 100 req/s, idle RSS ≤ 30 MB,
// ≤ 150 MB with 10k pods.
//
//   api_bench [--pods N] [--seconds S]
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "common/fs.h"
#include "common/json.h"
#include "tests/support/process.h"

using namespace skiff;
using namespace skiff::bench;
using Clock = std::chrono::steady_clock;

namespace {

std::string podJson(const std::string& name) {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
         R"(","labels":{"app":"bench"}},"spec":{"containers":[{"name":"c","image":"busybox:1.36","ports":[{"containerPort":8080}],"env":[{"name":"MODE","value":"bench"}]}]}})";
}

}  // namespace

int main(int argc, char** argv) {
  int totalPods = 10000;
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--pods" && i + 1 < argc) {
      totalPods = std::atoi(argv[++i]);
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: api_bench [--pods N] [--seconds S]\n");
      return 2;
    }
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  auto dir = test::TempDir::create("skiff-api-bench");
  if (!dir.isOk()) return 1;
  auto cp = startControlPlane(SKIFF_CONTROL_PLANE_BIN, dir->path(), {});
  if (!cp) return 1;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const Target& t = cp->target;
  const std::string pods = "/api/v1/namespaces/default/pods";
  int pid = cp->proc->pid();
  long idleRss = rssKb(pid);
  std::printf("API server benchmark (HTTPS, bearer token, SQLite store), pid %d\n\n", pid);
  std::printf("idle RSS: %.1f MB (target <= 30 MB) %s\n", idleRss / 1024.0,
              check(idleRss <= 30 * 1024).c_str());

  // 1. Throughput with 32 concurrent clients.
  std::atomic<int> seq{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<double> lat;
  std::atomic<int> errors{0};
  std::vector<std::thread> ts;
  auto t0 = Clock::now();
  for (int c = 0; c < 32; ++c) {
    ts.emplace_back([&] {
      Client cl(t);
      std::vector<double> mine;
      while (!stop) {
        int n = seq++;
        if (n >= totalPods) break;
        auto a = Clock::now();
        long code = cl.request("POST", pods, podJson("p" + std::to_string(n)));
        auto b = Clock::now();
        if (code != 201) ++errors;
        mine.push_back(std::chrono::duration<double, std::milli>(b - a).count());
      }
      std::lock_guard l(mu);
      lat.insert(lat.end(), mine.begin(), mine.end());
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : ts) th.join();
  double el = std::chrono::duration<double>(Clock::now() - t0).count();
  double rate = static_cast<double>(lat.size()) / el;
  std::printf(
      "creates, 32 clients: %.0f pods/s  p50 %.2f ms  p99 %.2f ms  errors %d "
      "(target >= 2000/s) %s\n",
      rate, pct(lat, 0.5), pct(lat, 0.99), errors.load(), check(rate >= 2000).c_str());

  // 2. Paced 100 req/s mutating latency.
  {
    Client cl(t);
    std::vector<double> paced;
    auto next = Clock::now();
    for (int i = 0; i < static_cast<int>(200 * seconds / 2) && seq < totalPods; ++i) {
      std::this_thread::sleep_until(next);
      next += std::chrono::milliseconds(10);
      int n = seq++;
      auto a = Clock::now();
      cl.request("POST", pods, podJson("p" + std::to_string(n)));
      paced.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
    }
    double p99 = pct(paced, 0.99);
    std::printf(
        "creates paced at 100 req/s: p50 %.2f ms  p99 %.2f ms (target <= 50 ms; "
        "Kubernetes SLO 1 s) %s\n",
        pct(paced, 0.5), p99, check(p99 <= 50).c_str());
  }

  // 3. Fill up to totalPods, then list them all.
  {
    stop = false;
    std::vector<std::thread> fill;
    for (int c = 0; c < 16; ++c) {
      fill.emplace_back([&] {
        Client cl(t);
        for (int n = seq++; n < totalPods; n = seq++) {
          cl.request("POST", pods, podJson("p" + std::to_string(n)));
        }
      });
    }
    for (auto& th : fill) th.join();
    Client cl(t);
    std::vector<double> lists;
    std::size_t bytes = 0;
    for (int i = 0; i < 3; ++i) {
      std::string out;
      auto a = Clock::now();
      cl.request("GET", pods, "", &out);
      lists.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
      bytes = out.size();
    }
    long rss = rssKb(pid);
    std::printf("list of %d pods: median %.0f ms (%.1f MB JSON)\n", totalPods, pct(lists, 0.5),
                bytes / 1048576.0);
    std::printf("RSS holding %d pods: %.1f MB (target <= 150 MB) %s\n", totalPods, rss / 1024.0,
                check(rss <= 150 * 1024).c_str());
  }

  // 4. Watch fan-out: 100 watchers, 20 changes; delivery latency from the write's start.
  {
    constexpr int kWatchers = 100;
    constexpr int kChanges = 20;
    std::vector<std::vector<Clock::time_point>> seen(kWatchers);
    std::atomic<int> ready{0};
    std::vector<std::thread> ws;
    std::string rvOut;
    Client(t).request("GET", pods + "?limit=1", "", &rvOut);
    auto listDoc = common::parseJson(rvOut);
    std::string rv = listDoc.isOk() ? (*listDoc)["metadata"].value("resourceVersion", "") : "";
    struct WatchCtx {
      std::vector<Clock::time_point>* seen;
      std::string buf;
    };
    std::vector<CURL*> handles;
    for (int w = 0; w < kWatchers; ++w) {
      ws.emplace_back([&, w] {
        WatchCtx ctx{&seen[static_cast<std::size_t>(w)], ""};
        CURL* c = curl_easy_init();
        curl_slist* h = curl_slist_append(nullptr, ("Authorization: Bearer " + t.token).c_str());
        std::string url = t.base + pods +
                          "?watch=true&fieldSelector=metadata.name%3Dwatched&timeoutSeconds=30"
                          "&resourceVersion=" +
                          rv;
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
        curl_easy_setopt(c, CURLOPT_CAINFO, t.caFile.c_str());
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(
            c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* ud) -> size_t {
              auto* ctx = static_cast<WatchCtx*>(ud);
              ctx->buf.append(p, s * n);
              std::size_t nl;
              while ((nl = ctx->buf.find('\n')) != std::string::npos) {
                ctx->seen->push_back(Clock::now());
                ctx->buf.erase(0, nl + 1);
              }
              return ctx->seen->size() >= static_cast<std::size_t>(kChanges) ? 0 : s * n;
            });
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &ctx);
        ++ready;
        curl_easy_perform(c);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
      });
    }
    while (ready < kWatchers) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    Client cl(t);
    std::vector<Clock::time_point> writes;
    cl.request("POST", pods, podJson("watched"));
    writes.push_back(Clock::now());
    for (int i = 1; i < kChanges; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      writes.push_back(Clock::now());
      cl.request("PATCH", pods + "/watched",
                 R"({"metadata":{"labels":{"n":")" + std::to_string(i) + R"("}}})");
    }
    for (auto& th : ws) th.join();
    std::vector<double> delays;
    for (const auto& s : seen) {
      for (std::size_t i = 0; i < s.size() && i < writes.size(); ++i) {
        delays.push_back(std::chrono::duration<double, std::milli>(s[i] - writes[i]).count());
      }
    }
    std::printf("watch fan-out, %d watchers x %zu events: p50 %.2f ms  p99 %.2f ms\n", kWatchers,
                delays.size() / kWatchers, pct(delays, 0.5), pct(delays, 0.99));
  }
  cp->proc->stop();
  return 0;
}
