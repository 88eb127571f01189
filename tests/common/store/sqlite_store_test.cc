// SqliteStore: the Store conformance suite plus what only the SQLite backend promises —
// persistence across reopen, group commit, crash safety, refusal of damaged files,
// auto-compaction and bounded watcher queues.
#include "common/store/sqlite_store.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/common/store/store_conformance.h"
#include "tests/support/status_assert.h"

namespace skiff::common::store {
namespace {

using namespace std::chrono_literals;

// A fresh directory under $TMPDIR, removed with its contents.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                       "/skiff-sqlite-store-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct SqliteStoreFactory {
  std::unique_ptr<Store> make() {
    auto store = SqliteStore::open({.path = dir.path() + "/store.db"});
    EXPECT_TRUE(store.isOk()) << store.status();
    if (!store.isOk()) return nullptr;
    return std::move(store).value();
  }
  TempDir dir;
};

}  // namespace

namespace conformance {
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreConformanceTest, ::testing::Types<SqliteStoreFactory>);
}  // namespace conformance

namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  SqliteStoreOptions options(SqliteStoreOptions base = {}) {
    base.path = dbPath();
    return base;
  }
  std::string dbPath() const { return dir_.path() + "/store.db"; }

  std::unique_ptr<SqliteStore> open(SqliteStoreOptions opts = {}) {
    auto store = SqliteStore::open(options(std::move(opts)));
    EXPECT_TRUE(store.isOk()) << store.status();
    return store.isOk() ? std::move(store).value() : nullptr;
  }

  TempDir dir_;
};

TEST_F(SqliteStoreTest, ReopenContinuesRevisionsAndKeepsData) {
  {
    auto store = open();
    ASSERT_NE(store, nullptr);
    SKIFF_ASSERT_OK(store->create("/k/a", "a1"));                    // 1
    SKIFF_ASSERT_OK(store->create("/k/b", std::string("b\0b", 3)));  // 2
    SKIFF_ASSERT_OK(store->update("/k/a", "a2", 1));                 // 3
    SKIFF_ASSERT_OK(store->remove("/k/b", 0));                       // 4
    SKIFF_ASSERT_OK(store->create("/k/tmp", "x"));                   // 5
    SKIFF_ASSERT_OK(store->remove("/k/tmp", 0));                     // 6: the newest revision
    EXPECT_EQ(store->stats().writes, 6u);
  }
  auto store = open();
  ASSERT_NE(store, nullptr);
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t rev, store->currentRevision());
  EXPECT_EQ(rev, 6);
  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue a, store->get("/k/a"));
  EXPECT_EQ(a.value, "a2");
  EXPECT_EQ(a.createRevision, 1);
  EXPECT_EQ(a.modRevision, 3);
  EXPECT_EQ(store->get("/k/b").status().code(), StatusCode::kNotFound);

  // History survived too: the past and the change log are still there.
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult past, store->list("/k/", {.revision = 2}));
  ASSERT_EQ(past.items.size(), 2u);
  EXPECT_EQ(past.items[1].value, std::string("b\0b", 3));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, store->watch("/k/", 3));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto ev, watch->next(1s));
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->type, WatchEvent::Type::kDelete);
  EXPECT_EQ(ev->kv.modRevision, 4);

  // The sequence continues; revision 6 (a delete of a now-absent key) is not reused.
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t next, store->create("/k/c", "c"));
  EXPECT_EQ(next, 7);
}

TEST_F(SqliteStoreTest, SequentialWritesCommitOneTransactionEach) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 10; ++i) SKIFF_ASSERT_OK(store->create("/s/" + std::to_string(i), "v"));
  EXPECT_EQ(store->stats().writes, 10u);
  EXPECT_EQ(store->stats().transactions, 10u);
  // Failed preconditions are not writes and commit nothing.
  EXPECT_FALSE(store->create("/s/0", "v").isOk());
  EXPECT_EQ(store->stats().writes, 10u);
  EXPECT_EQ(store->stats().transactions, 10u);
}

TEST_F(SqliteStoreTest, PutManyCommitsItsWritesTogether) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  std::vector<Store::Put> puts;
  for (int i = 0; i < 100; ++i) puts.push_back({"/m/" + std::to_string(i), "v"});
  for (const Status& s : store->putMany(puts)) SKIFF_EXPECT_OK(s);
  EXPECT_EQ(store->stats().writes, 100u);
  EXPECT_LE(store->stats().transactions, 2u) << "one commit per write";
  for (auto& p : puts) p.value.reset();
  for (const Status& s : store->putMany(puts)) SKIFF_EXPECT_OK(s);
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult left, store->list("/m/"));
  EXPECT_TRUE(left.items.empty());
}

TEST_F(SqliteStoreTest, GroupCommitBatchesConcurrentWriters) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 64;
  constexpr int kWrites = 20;
  std::barrier sync(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      sync.arrive_and_wait();
      for (int i = 0; i < kWrites; ++i) {
        if (!store->create("/g/" + std::to_string(t) + "/" + std::to_string(i), "v").isOk()) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  SqliteStoreStats stats = store->stats();
  EXPECT_EQ(stats.writes, static_cast<std::uint64_t>(kThreads * kWrites));
  EXPECT_LT(stats.transactions, stats.writes / 4) << "writes were not batched";
  std::printf("[ info ] %d concurrent writers: %llu writes in %llu transactions\n", kThreads,
              static_cast<unsigned long long>(stats.writes),
              static_cast<unsigned long long>(stats.transactions));
}

TEST_F(SqliteStoreTest, FailedPreconditionFailsOnlyItsRequestInABatch) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  // Half the threads race to create the same key, half create their own; they land in the
  // same batches, where exactly one creator of the shared key may win.
  constexpr int kThreads = 32;
  std::barrier sync(kThreads);
  std::atomic<int> sharedWins{0}, sharedExists{0}, ownWins{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      sync.arrive_and_wait();
      if (t % 2 == 0) {
        auto r = store->create("/b/shared", std::to_string(t));
        if (r.isOk()) {
          ++sharedWins;
        } else if (r.status().code() == StatusCode::kAlreadyExists) {
          ++sharedExists;
        } else {
          ++other;
        }
      } else {
        (store->create("/b/own" + std::to_string(t), "v").isOk() ? ownWins : other)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(sharedWins.load(), 1);
  EXPECT_EQ(sharedExists.load(), kThreads / 2 - 1);
  EXPECT_EQ(ownWins.load(), kThreads / 2);
  EXPECT_EQ(other.load(), 0);
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t rev, store->currentRevision());
  EXPECT_EQ(rev, kThreads / 2 + 1);  // failed requests consumed no revision
}

// ---- crash safety ----

// Runs in the forked child: 8 writer threads create sequentially numbered keys and report
// each acknowledged one ("key revision\n", one atomic pipe write) until the parent kills us.
[[noreturn]] void crashChild(const std::string& path, int fd) {
  auto opened = SqliteStore::open({.path = path, .autoCompactInterval = 0ms});
  if (!opened.isOk()) _exit(2);
  std::unique_ptr<SqliteStore> store = std::move(opened).value();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&store, fd, t] {
      for (int n = 0;; ++n) {
        char key[64];
        std::snprintf(key, sizeof key, "/crash/%d/%08d", t, n);
        auto rev = store->create(key, std::string(200, static_cast<char>('a' + t)));
        if (!rev.isOk()) _exit(3);
        char line[96];
        int len = std::snprintf(line, sizeof line, "%s %lld\n", key, static_cast<long long>(*rev));
        if (::write(fd, line, static_cast<std::size_t>(len)) != len) _exit(4);
      }
    });
  }
  for (;;) ::pause();
}

TEST_F(SqliteStoreTest, AcknowledgedWritesSurviveSigkill) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  // Fork before this process starts any thread of its own, so the child inherits no lock
  // held by a thread that does not exist there.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    crashChild(dbPath(), fds[1]);
  }
  ::close(fds[1]);

  std::string received;
  auto readAvailable = [&](int timeoutMs) {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, timeoutMs) <= 0) return false;
    char buf[65536];
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) return false;
    received.append(buf, static_cast<std::size_t>(n));
    return true;
  };
  // Let the child get going (open + first commits), then run it for ~300 ms.
  auto firstDeadline = std::chrono::steady_clock::now() + 10s;
  while (received.empty() && std::chrono::steady_clock::now() < firstDeadline) readAvailable(50);
  auto killAt = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < killAt) readAvailable(10);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
      << "child ended on its own: exit status " << (WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
  while (readAvailable(0)) {
  }
  ::close(fds[0]);

  std::map<std::string, std::int64_t> acked;
  std::istringstream lines(received);
  std::string key;
  long long rev = 0;
  while (lines >> key >> rev) acked[key] = rev;
  ASSERT_GT(acked.size(), 8u) << "the child acknowledged almost nothing";

  auto store = open();
  ASSERT_NE(store, nullptr);
  std::int64_t maxAcked = 0;
  for (const auto& [k, r] : acked) {
    auto kv = store->get(k);
    ASSERT_TRUE(kv.isOk()) << "acknowledged key " << k << " lost: " << kv.status();
    EXPECT_EQ(kv->modRevision, r) << k;
    maxAcked = std::max(maxAcked, r);
  }
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult all, store->list("/crash/"));
  EXPECT_GE(all.items.size(), acked.size());
  std::set<std::int64_t> revisions;
  std::map<std::string, std::int64_t> lastPerThread;  // keys sort by thread, then sequence
  for (const auto& kv : all.items) {
    EXPECT_TRUE(revisions.insert(kv.modRevision).second) << "revision reused: " << kv.modRevision;
    std::string thread = kv.key.substr(0, kv.key.rfind('/'));
    auto [it, first] = lastPerThread.emplace(thread, kv.modRevision);
    if (!first) {
      EXPECT_GT(kv.modRevision, it->second) << kv.key;
      it->second = kv.modRevision;
    }
  }
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t current, store->currentRevision());
  EXPECT_GE(current, maxAcked);
  EXPECT_EQ(current, *revisions.rbegin());
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t next, store->create("/after-crash", "v"));
  EXPECT_EQ(next, current + 1);
  std::printf("[ info ] child acknowledged %zu writes before SIGKILL; %zu keys recovered\n",
              acked.size(), all.items.size());
}

// ---- damaged files ----

TEST_F(SqliteStoreTest, GarbageFileIsRefusedWithAClearError) {
  {
    std::mt19937 rng(42);
    std::ofstream out(dbPath(), std::ios::binary);
    for (int i = 0; i < 64 * 1024; ++i) out.put(static_cast<char>(rng()));
  }
  auto store = SqliteStore::open(options());
  ASSERT_FALSE(store.isOk());
  EXPECT_EQ(store.status().code(), StatusCode::kInternal);
  EXPECT_NE(store.status().message().find("not a database"), std::string::npos) << store.status();
  EXPECT_NE(store.status().message().find(dbPath()), std::string::npos) << store.status();
}

TEST_F(SqliteStoreTest, TruncatedFileIsRefusedWithAClearError) {
  {
    auto store = open();
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 200; ++i) {
      SKIFF_ASSERT_OK(store->create("/t/" + std::to_string(i), std::string(4000, 'x')));
    }
  }  // closing checkpoints the WAL into the main file and removes the WAL
  ASSERT_FALSE(std::filesystem::exists(dbPath() + "-wal"));
  auto size = std::filesystem::file_size(dbPath());
  std::filesystem::resize_file(dbPath(), size / 2);
  auto store = SqliteStore::open(options());
  ASSERT_FALSE(store.isOk());
  EXPECT_EQ(store.status().code(), StatusCode::kInternal) << store.status();
  EXPECT_NE(store.status().message().find("damaged"), std::string::npos) << store.status();
}

TEST_F(SqliteStoreTest, MissingDirectoryIsAnError) {
  auto store = SqliteStore::open({.path = dir_.path() + "/no/such/dir/store.db"});
  ASSERT_FALSE(store.isOk());
  EXPECT_NE(store.status().message().find("no/such/dir"), std::string::npos) << store.status();
}

// ---- compaction ----

TEST_F(SqliteStoreTest, AutoCompactionKeepsHistoryRevisions) {
  auto store = open({.historyRevisions = 10, .autoCompactInterval = 20ms});
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 50; ++i) SKIFF_ASSERT_OK(store->create("/ac/" + std::to_string(i), "v"));
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (store->compactedRevision() < 40 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(store->compactedRevision(), 40);
  std::this_thread::sleep_for(60ms);  // further rounds find nothing new to discard
  EXPECT_EQ(store->compactedRevision(), 40);

  auto old = store->list("/ac/", {.revision = 39});
  EXPECT_EQ(old.status().code(), StatusCode::kGone);
  auto watchOld = store->watch("/ac/", 5);
  ASSERT_FALSE(watchOld.isOk());
  EXPECT_EQ(watchOld.status().code(), StatusCode::kGone);
  EXPECT_EQ(watchOld.status().message(),
            "required revision 5 has been compacted; oldest available is 40");

  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult at, store->list("/ac/", {.revision = 40}));
  EXPECT_EQ(at.items.size(), 40u);
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, store->watch("/ac/", 40));
  int replayed = 0;
  for (;;) {
    SKIFF_ASSERT_OK_AND_ASSIGN(auto ev, watch->next(20ms));
    if (!ev) break;
    EXPECT_EQ(ev->kv.modRevision, 41 + replayed);
    ++replayed;
  }
  EXPECT_EQ(replayed, 10);

  // The compaction point is durable.
  store.reset();
  store = open({.autoCompactInterval = 0ms});
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->compactedRevision(), 40);
}

TEST_F(SqliteStoreTest, CompactionDuringReplayMakesTheWatchGone) {
  auto store = open({.autoCompactInterval = 0ms});
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 600; ++i) SKIFF_ASSERT_OK(store->create("/r/" + std::to_string(i), "v"));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, store->watch("/r/", 0 + 1));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto first, watch->next(1s));  // first page is buffered
  ASSERT_TRUE(first.has_value());
  SKIFF_ASSERT_OK(store->compact(500));
  Status last;
  for (int i = 0; i < 600; ++i) {
    auto ev = watch->next(10ms);
    if (!ev.isOk()) {
      last = ev.status();
      break;
    }
  }
  EXPECT_EQ(last.code(), StatusCode::kGone) << last;
}

// ---- watchers ----

TEST_F(SqliteStoreTest, SlowWatcherOverflowsToGoneWithoutBlockingWrites) {
  auto store = open({.watchQueueLimit = 8});
  ASSERT_NE(store, nullptr);
  SKIFF_ASSERT_OK_AND_ASSIGN(auto slow, store->watch("/o/", 0));
  for (int i = 0; i < 20; ++i) SKIFF_ASSERT_OK(store->create("/o/" + std::to_string(i), "v"));
  auto ev = slow->next(100ms);
  ASSERT_FALSE(ev.isOk());
  EXPECT_EQ(ev.status().code(), StatusCode::kGone) << ev.status();
  EXPECT_EQ(slow->next(0ms).status().code(), StatusCode::kGone);  // stays failed

  // A fresh watch (the relist path) works.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto fresh, store->watch("/o/", 0));
  SKIFF_ASSERT_OK(store->create("/o/new", "v"));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto next, fresh->next(1s));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->kv.key, "/o/new");
}

TEST_F(SqliteStoreTest, ClosingTheStoreWakesWatchersWithUnavailable) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  SKIFF_ASSERT_OK_AND_ASSIGN(auto blocked, store->watch("/x/", 0));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto idle, store->watch("/x/", 0));
  std::atomic<bool> woke{false};
  Status blockedStatus;
  std::thread waiter([&] {
    auto ev = blocked->next(30s);
    blockedStatus = ev.status();
    woke = true;
  });
  std::this_thread::sleep_for(50ms);
  auto start = std::chrono::steady_clock::now();
  store.reset();
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(woke.load());
  EXPECT_EQ(blockedStatus.code(), StatusCode::kUnavailable) << blockedStatus;
  EXPECT_EQ(idle->next(0ms).status().code(), StatusCode::kUnavailable);
  // Watches outlive the store; destroying them afterwards is safe.
  blocked.reset();
  idle.reset();
}

TEST_F(SqliteStoreTest, OversizedValueIsInvalidArgument) {
  auto store = open({.maxValueBytes = 1024});
  ASSERT_NE(store, nullptr);
  auto r = store->create("/big", std::string(2048, 'x'));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->create("", "v").status().code(), StatusCode::kInvalidArgument);
  SKIFF_EXPECT_OK(store->create("/ok", std::string(1024, 'x')));
}

// Not a test: prints write throughput. Run with --gtest_also_run_disabled_tests.
TEST_F(SqliteStoreTest, DISABLED_Throughput) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  auto measure = [&](int threads, int perThread) {
    auto start = std::chrono::steady_clock::now();
    auto before = store->stats();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        for (int i = 0; i < perThread; ++i) {
          (void)store->create(
              "/tp/" + std::to_string(threads) + "/" + std::to_string(t) + "/" + std::to_string(i),
              std::string(512, 'v'));
        }
      });
    }
    for (auto& t : ts) t.join();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto after = store->stats();
    std::printf(
        "[ info ] %2d writers: %6.0f writes/s, %.1f writes per transaction\n", threads,
        (after.writes - before.writes) / secs,
        double(after.writes - before.writes) / double(after.transactions - before.transactions));
  };
  measure(1, 500);
  measure(8, 250);
  measure(64, 100);
}

}  // namespace
}  // namespace skiff::common::store
