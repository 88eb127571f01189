// kill -9 of skiff-control-plane while 8 writers create ConfigMaps over HTTPS, then a restart on
// the same data dir and port: every acknowledged (201) create is there with the resourceVersion
// it was acknowledged with, revisions stay monotonic across the crash, and a watch from a
// pre-crash resourceVersion resumes with everything after it. Runs per store backend (for etcd
// the store survives by itself; the API server's restart is what is tested).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "common/json.h"
#include "tests/control_plane/control_plane_process.h"
#include "tests/support/etcd.h"
#include "tests/support/status_assert.h"

namespace skiff::test {
namespace {

using common::Json;
using namespace std::chrono_literals;

const char* const kCms = "/api/v1/namespaces/default/configmaps";

std::int64_t rvOf(const Json& obj) {
  return std::stoll(obj["metadata"]["resourceVersion"].get<std::string>());
}

class RestartTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { etcd_.reset(); }
  static inline std::unique_ptr<EtcdFixture> etcd_;
};

TEST_P(RestartTest, AcknowledgedWritesSurviveKill9AndWatchesResume) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto dir, TempDir::create("restart"));
  ControlPlaneProcessOptions o;
  o.dataDir = dir.file("data");
  if (GetParam() == "etcd") {
    SKIFF_ASSERT_OK_AND_ASSIGN(etcd_, EtcdFixture::create());
    o.store = "etcd://" + etcd_->endpoint() + "/restart";
  }
  SKIFF_ASSERT_OK_AND_ASSIGN(auto cp, ControlPlaneProcess::start(o));
  HttpsClient admin = cp->adminClient();
  auto first = admin.get(kCms);
  ASSERT_TRUE(first.isOk() && first->status == 200);
  std::int64_t startRv = rvOf(*common::parseJson(first->body));

  // A watch from before the writes, running until the crash cuts it.
  std::mutex mu;
  std::vector<std::int64_t> watchedRvs;
  HttpsClient watchClient = cp->adminClient();
  std::thread watcher([&] {
    (void)watchClient.stream(
        std::string(kCms) + "?watch=true&resourceVersion=" + std::to_string(startRv),
        [&](std::string_view line) {
          auto ev = common::parseJson(line);
          if (!ev.isOk() || ev->value("type", "") != "ADDED") return true;
          std::lock_guard lock(mu);
          watchedRvs.push_back(rvOf((*ev)["object"]));
          return true;
        },
        30s);
  });

  // 8 writers; each keeps the names and resourceVersions of the creates answered 201.
  constexpr int kWriters = 8;
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::vector<std::map<std::string, std::int64_t>> ackedBy(kWriters);
  std::vector<HttpsClient> clients;
  for (int t = 0; t < kWriters; ++t) clients.push_back(cp->adminClient());
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        std::string name = "w" + std::to_string(t) + "-" + std::to_string(i);
        auto r = clients[t].post(
            kCms, {{"metadata", {{"name", name}}}, {"data", {{"writer", std::to_string(t)}}}});
        if (!r.isOk()) return;  // the server is gone
        if (r->status != 201) continue;
        auto obj = common::parseJson(r->body);
        if (!obj.isOk()) continue;
        ackedBy[t][name] = rvOf(*obj);
        ++acked;
      }
    });
  }
  SKIFF_ASSERT_OK(waitUntil([&] { return acked >= 300; }, 20s, "300 acknowledged creates"));
  pid_t pid = cp->pid();
  cp->kill9();  // mid-write: requests are in flight on all 8 connections
  stop = true;
  for (auto& w : writers) w.join();
  watcher.join();
  EXPECT_FALSE(cp->isRunning()) << "pid " << pid;

  std::map<std::string, std::int64_t> ackedAll;
  std::int64_t maxAckedRv = 0;
  for (const auto& m : ackedBy) {
    for (const auto& [name, rv] : m) {
      ackedAll[name] = rv;
      maxAckedRv = std::max(maxAckedRv, rv);
    }
  }
  ASSERT_GE(ackedAll.size(), 300u);

  SKIFF_ASSERT_OK(cp->restart());
  HttpsClient after = cp->adminClient();
  auto list = after.get(kCms);
  ASSERT_TRUE(list.isOk());
  ASSERT_EQ(list->status, 200) << list->body;
  auto items = common::parseJson(list->body, SIZE_MAX);
  ASSERT_TRUE(items.isOk());
  std::map<std::string, std::int64_t> stored;
  for (const auto& item : (*items)["items"]) stored[item["metadata"]["name"]] = rvOf(item);
  int missing = 0;
  for (const auto& [name, rv] : ackedAll) {
    auto it = stored.find(name);
    if (it == stored.end()) {
      ++missing;
      ADD_FAILURE() << "acknowledged ConfigMap " << name << " (rv " << rv << ") is gone";
    } else {
      EXPECT_EQ(it->second, rv) << name;
    }
  }
  EXPECT_EQ(missing, 0);
  // Unacknowledged creates may or may not have committed; nothing else may appear.
  for (const auto& [name, rv] : stored) {
    EXPECT_TRUE(name.starts_with("w")) << name;
    EXPECT_GT(rv, startRv) << name;
  }
  EXPECT_GE(rvOf(*items), maxAckedRv);

  // Revisions continue upwards: a write after the restart is newer than everything before.
  auto post = after.post(kCms, {{"metadata", {{"name", "after-restart"}}}});
  ASSERT_TRUE(post.isOk());
  ASSERT_EQ(post->status, 201) << post->body;
  std::int64_t afterRv = rvOf(*common::parseJson(post->body));
  std::int64_t maxStored = 0;
  for (const auto& [name, rv] : stored) maxStored = std::max(maxStored, rv);
  EXPECT_GT(afterRv, maxStored);
  EXPECT_GT(afterRv, maxAckedRv);

  // Resume the watch from a revision it saw half-way before the crash: it delivers every create
  // after that revision (acknowledged or not), in revision order, up to the post-restart write.
  ASSERT_FALSE(watchedRvs.empty());
  std::int64_t resumeFrom = watchedRvs[watchedRvs.size() / 2];
  std::set<std::string> resumed;
  std::int64_t lastRv = resumeFrom;
  bool ordered = true;
  auto code = after.stream(
      std::string(kCms) + "?watch=true&resourceVersion=" + std::to_string(resumeFrom),
      [&](std::string_view line) {
        auto ev = common::parseJson(line);
        if (!ev.isOk() || ev->value("type", "") != "ADDED") return true;
        std::int64_t rv = rvOf((*ev)["object"]);
        if (rv <= lastRv) ordered = false;
        lastRv = rv;
        std::string name = (*ev)["object"]["metadata"]["name"];
        resumed.insert(name);
        return name != "after-restart";
      },
      15s);
  ASSERT_TRUE(code.isOk()) << code.status();
  EXPECT_EQ(*code, 200);
  EXPECT_TRUE(ordered);
  EXPECT_TRUE(resumed.contains("after-restart")) << "the resumed watch ended at rv " << lastRv;
  for (const auto& [name, rv] : stored) {
    EXPECT_EQ(resumed.contains(name), rv > resumeFrom) << name << " rv " << rv;
  }
  std::cerr << "acknowledged " << ackedAll.size() << " creates, stored " << stored.size()
            << ", watch saw " << watchedRvs.size() << " before the crash and resumed from rv "
            << resumeFrom << "\n";
  EXPECT_EQ(cp->stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Stores, RestartTest, ::testing::Values("sqlite", "etcd"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace skiff::test
