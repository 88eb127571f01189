// Scheduler benchmark against the real skiff-control-plane binary (SQLite store, HTTPS).
// Workload mix: nodes carry zone/disktype labels and every 10th is tainted
// dedicated=edge:NoSchedule; pods cycle through four shapes (requests only; nodeSelector
// disktype=ssd; toleration + zone selector; required zone affinity + preferred ssd), all with
// cpu/memory requests.
//  1. Throughput: 1,000 nodes and 10,000 pending pods are stored with the scheduler off; the
//     control plane restarts with the scheduler on and a watch counts bindings. Figures: time
//     from start to the first binding (store load + informer sync) and pods/s from the first to
//     the last binding. Target (issue #6): >= 2,000 pods/s.
//  2. Latency: with the scheduler running, pods are created at a steady rate (half the target
//     throughput); per pod, the time from sending its POST to seeing it bound in a watch.
//  3. End to end: a 1,000-replica Deployment on 100 nodes (scheduler and controllers on), from
//     the POST to the last pod bound. Target: <= 2 s.
// Ratio: the binding rate against the same API server's own create rate for pods (a binding
// is one write), measured in this run — the scheduler can at best keep up with the store.
// No kube-scheduler is packaged for Debian, so it cannot be run here as a peer.
//
//   scheduler_bench [--nodes N] [--pods N] [--replicas N] [--paced N] [--rate R]
#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "common/json.h"

using namespace skiff;
using namespace skiff::bench;
using Clock = std::chrono::steady_clock;

namespace {

std::string nodeJson(int n) {
  std::string name = "node-" + std::to_string(n);
  std::string taints =
      n % 10 == 0
          ? R"(,"spec":{"taints":[{"key":"dedicated","value":"edge","effect":"NoSchedule"}]})"
          : "";
  return R"({"apiVersion":"v1","kind":"Node","metadata":{"name":")" + name +
         R"(","labels":{"kubernetes.io/hostname":")" + name + R"(","zone":"z)" +
         std::to_string(n % 4) + R"(","disktype":")" + (n % 2 ? "ssd" : "hdd") + R"("}})" + taints +
         R"(,"status":{"conditions":[{"type":"Ready","status":"True"}],"allocatable":{"cpu":"16","memory":"64Gi","pods":"110"},"capacity":{"cpu":"16","memory":"64Gi","pods":"110"}}})";
}

// Four pod shapes in turn; every one fits somewhere in the node mix above.
std::string podJson(const std::string& name, int n) {
  static const char* kShapes[] = {
      "", R"("nodeSelector":{"disktype":"ssd"},)",
      R"("nodeSelector":{"zone":"z2"},"tolerations":[{"key":"dedicated","operator":"Equal","value":"edge","effect":"NoSchedule"}],)",
      R"("affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["z0","z1"]}]}]},"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":50,"preference":{"matchExpressions":[{"key":"disktype","operator":"In","values":["ssd"]}]}}]}},)"};
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
         R"(","labels":{"app":"bench"}},"spec":{)" + kShapes[n % 4] +
         R"("containers":[{"name":"c","image":"busybox:1.36","resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]}})";
}

// Creates count objects through `clients` keep-alive connections; returns objects/s.
double createAll(const Target& t, const std::string& path, int count, int clients,
                 const std::function<std::string(int)>& body) {
  std::atomic<int> seq{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> ts;
  auto t0 = Clock::now();
  for (int c = 0; c < clients; ++c) {
    ts.emplace_back([&] {
      Client cl(t);
      for (int n = seq++; n < count; n = seq++) {
        if (cl.request("POST", path, body(n)) != 201) ++errors;
      }
    });
  }
  for (auto& th : ts) th.join();
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (errors > 0) std::fprintf(stderr, "%d creates failed\n", errors.load());
  return count / s;
}

// Watches pods from resourceVersion rv until `want` distinct pods carry spec.nodeName.
struct BindWatch {
  std::mutex mu;
  std::map<std::string, Clock::time_point> boundAt;
  std::set<std::string> bound;
  Clock::time_point first{}, last{};
  std::string buf;
  std::size_t want = 0;
};

size_t onWatchData(char* p, size_t s, size_t n, void* ud) {
  auto* w = static_cast<BindWatch*>(ud);
  w->buf.append(p, s * n);
  std::size_t pos;
  while ((pos = w->buf.find('\n')) != std::string::npos) {
    auto ev = common::parseJson(w->buf.substr(0, pos), SIZE_MAX);
    w->buf.erase(0, pos + 1);
    if (!ev.isOk()) continue;
    const common::Json& o = (*ev)["object"];
    if (!o.is_object() || !o.contains("spec")) continue;
    if (o["spec"].value("nodeName", "").empty()) continue;
    std::string name = o["metadata"].value("name", "");
    std::lock_guard lock(w->mu);
    if (w->bound.insert(name).second) {
      auto now = Clock::now();
      w->boundAt[name] = now;
      if (w->bound.size() == 1) w->first = now;
      w->last = now;
    }
  }
  std::lock_guard lock(w->mu);
  return w->bound.size() >= w->want ? 0 : s * n;  // 0 ends the transfer
}

void watchBindings(const Target& t, const std::string& rv, BindWatch* w) {
  CURL* c = curl_easy_init();
  curl_slist* h = curl_slist_append(nullptr, ("Authorization: Bearer " + t.token).c_str());
  std::string url = t.base + "/api/v1/pods?watch=true&allowWatchBookmarks=false&timeoutSeconds=600";
  if (!rv.empty()) url += "&resourceVersion=" + rv;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CAINFO, t.caFile.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onWatchData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
  curl_easy_perform(c);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
}

std::string currentRv(const Target& t) {
  Client cl(t);
  std::string out;
  cl.request("GET", "/api/v1/namespaces/default/pods?limit=1", "", &out);
  auto j = common::parseJson(out, SIZE_MAX);
  return j.isOk() ? (*j)["metadata"].value("resourceVersion", "") : "";
}

double secondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  int nodes = 1000;
  int pods = 10000;
  int replicas = 1000;
  int paced = 2000;
  double rate = 1000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--nodes" && i + 1 < argc) {
      nodes = std::atoi(argv[++i]);
    } else if (a == "--pods" && i + 1 < argc) {
      pods = std::atoi(argv[++i]);
    } else if (a == "--replicas" && i + 1 < argc) {
      replicas = std::atoi(argv[++i]);
    } else if (a == "--paced" && i + 1 < argc) {
      paced = std::atoi(argv[++i]);
    } else if (a == "--rate" && i + 1 < argc) {
      rate = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: scheduler_bench [--nodes N] [--pods N] [--replicas N] [--paced N] "
                   "[--rate R]\n");
      return 2;
    }
  }
  if (nodes <= 0 || pods <= 0 || replicas <= 0 || paced <= 0 || rate <= 0) {
    std::fprintf(stderr, "scheduler_bench: counts must be positive\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::printf("Scheduler benchmark (skiff-control-plane, SQLite store, HTTPS)\n\n");

  // 1. Throughput: pods stored first, scheduler started afterwards.
  {
    auto dir = test::TempDir::create("skiff-sched-bench");
    if (!dir.isOk()) return 1;
    auto cp = startControlPlane(SKIFF_CONTROL_PLANE_BIN, dir->path(),
                                {"--disable-scheduler", "--disable-controllers"});
    if (!cp) return 1;
    double nodeRate = createAll(cp->target, "/api/v1/nodes", nodes, 16, nodeJson);
    double createRate = createAll(cp->target, "/api/v1/namespaces/default/pods", pods, 32,
                                  [](int n) { return podJson("p" + std::to_string(n), n); });
    std::string rv = currentRv(cp->target);
    std::printf("setup: %d nodes (%.0f/s), %d pending pods created at %.0f pods/s\n", nodes,
                nodeRate, pods, createRate);
    int port = cp->port;
    cp->proc->stop();
    cp.reset();
    auto started = Clock::now();
    auto sched =
        startControlPlane(SKIFF_CONTROL_PLANE_BIN, dir->path(),
                          {"--disable-controllers", "--node-monitor-grace-period=1h"}, port);
    if (!sched) return 1;
    BindWatch w;
    w.want = static_cast<std::size_t>(pods);
    watchBindings(sched->target, rv, &w);
    if (w.bound.size() < w.want) {
      std::fprintf(stderr, "only %zu of %d pods were bound\n", w.bound.size(), pods);
      return 1;
    }
    double bindRate = (pods - 1) / std::max(1e-9, secondsBetween(w.first, w.last));
    std::printf(
        "%d pods onto %d nodes: first binding %.2f s after start (load + sync), then %.0f pods/s "
        "(target >= 2000/s) %s\n",
        pods, nodes, secondsBetween(started, w.first), bindRate, check(bindRate >= 2000).c_str());
    std::printf("  ratio to the API server's pod create rate in this run: %.2fx\n",
                bindRate / createRate);

    // 2. Latency at a steady arrival rate, same nodes (now partly filled), scheduler running.
    std::string rv2 = currentRv(sched->target);
    BindWatch lw;
    lw.want = static_cast<std::size_t>(paced);
    std::thread watcher([&] { watchBindings(sched->target, rv2, &lw); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::vector<Clock::time_point> sent(static_cast<std::size_t>(paced));
    std::atomic<int> seq{0};
    std::vector<std::thread> clients;
    auto t0 = Clock::now();
    auto interval = std::chrono::duration<double>(1.0 / rate);
    for (int c = 0; c < 8; ++c) {
      clients.emplace_back([&] {
        Client cl(sched->target);
        for (int n = seq++; n < paced; n = seq++) {
          std::this_thread::sleep_until(t0 +
                                        std::chrono::duration_cast<Clock::duration>(interval * n));
          sent[static_cast<std::size_t>(n)] = Clock::now();
          cl.request("POST", "/api/v1/namespaces/default/pods",
                     podJson("l" + std::to_string(n), n));
        }
      });
    }
    for (auto& th : clients) th.join();
    watcher.join();
    std::vector<double> lat;
    for (int n = 0; n < paced; ++n) {
      auto it = lw.boundAt.find("l" + std::to_string(n));
      if (it != lw.boundAt.end()) {
        lat.push_back(secondsBetween(sent[static_cast<std::size_t>(n)], it->second) * 1000);
      }
    }
    if (lat.size() < static_cast<std::size_t>(paced)) {
      std::fprintf(stderr, "only %zu of %d paced pods were bound\n", lat.size(), paced);
      return 1;
    }
    std::printf(
        "%d pods created at %.0f/s: create-to-bound p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", paced,
        rate, pct(lat, 0.5), pct(lat, 0.99), pct(lat, 1.0));
    sched->proc->stop();
  }

  // 3. A Deployment of `replicas` on 100 nodes, end to end.
  {
    auto dir = test::TempDir::create("skiff-sched-bench");
    if (!dir.isOk()) return 1;
    auto cp =
        startControlPlane(SKIFF_CONTROL_PLANE_BIN, dir->path(), {"--node-monitor-grace-period=1h"});
    if (!cp) return 1;
    createAll(cp->target, "/api/v1/nodes", 100, 16, nodeJson);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // leader elected, caches warm
    std::string rv = currentRv(cp->target);
    BindWatch w;
    w.want = static_cast<std::size_t>(replicas);
    std::thread watcher([&] { watchBindings(cp->target, rv, &w); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::string dep =
        R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"big"},
      "spec":{"replicas":)" +
        std::to_string(replicas) +
        R"(,"selector":{"matchLabels":{"app":"big"}},"template":{"metadata":{"labels":{"app":"big"}},
      "spec":{"containers":[{"name":"c","image":"busybox:1.36","resources":{"requests":{"cpu":"10m","memory":"16Mi"}}}]}}}})";
    Client cl(cp->target);
    auto posted = Clock::now();
    long code = cl.request("POST", "/apis/apps/v1/namespaces/default/deployments", dep);
    if (code != 201) {
      std::fprintf(stderr, "deployment create failed: HTTP %ld\n", code);
      return 1;
    }
    watcher.join();
    if (w.bound.size() < w.want) {
      std::fprintf(stderr, "only %zu of %d pods were bound\n", w.bound.size(), replicas);
      return 1;
    }
    double total = secondsBetween(posted, w.last);
    std::printf(
        "Deployment of %d replicas on 100 nodes: all bound %.2f s after the POST "
        "(first %.3f s) (target <= 2 s) %s\n",
        replicas, total, secondsBetween(posted, w.first), check(total <= 2.0).c_str());
    cp->proc->stop();
  }
  return 0;
}
