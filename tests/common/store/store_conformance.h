// Conformance suite for the Store seam (common/store/store.h): the behaviour every Store
// implementation must share, so the API server and controllers work the same on any backend.
//
// To run it against an implementation, write a factory and instantiate the typed suite in that
// implementation's test file (include this header from exactly one .cc per test binary):
//
//   #include "tests/common/store/store_conformance.h"
//
//   struct MyStoreFactory {
//     // Required. A fresh, empty store. A new factory object is constructed for every test and
//     // destroyed after the store, so it can own per-test resources (temp dir, server process).
//     // Return nullptr to fail the test.
//     std::unique_ptr<skiff::common::store::Store> make();
//
//     // Optional. A non-empty reason skips every test (e.g. "etcd binary not installed").
//     std::string skipReason();
//
//     // Optional (default true). false when revisions are strictly increasing but not dense
//     // because the backend is shared with other writers (e.g. one etcd, several key prefixes);
//     // the suite then checks "increasing" wherever it would check "+1 per write".
//     static constexpr bool kDenseRevisions = true;
//   };
//
//   namespace skiff::common::store::conformance {
//   INSTANTIATE_TYPED_TEST_SUITE_P(Etcd, StoreConformanceTest, ::testing::Types<MyStoreFactory>);
//   }  // namespace skiff::common::store::conformance
//
// The suite writes only keys starting with '/' (start markers included: "/~mark/N"); every list
// and watch uses a prefix, so a store namespaced under a key prefix passes too. It assumes each
// test has the store to itself: no other writer under those keys while it runs.
//
// Compaction tests run when the store also implements Compactor (found with dynamic_cast) and
// are skipped otherwise.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/store/store.h"
#include "tests/support/status_assert.h"

namespace skiff::common::store::conformance {

using namespace std::chrono_literals;

template <typename Factory>
class StoreConformanceTest : public ::testing::Test {
 protected:
  static constexpr bool kDense = [] {
    if constexpr (requires { Factory::kDenseRevisions; }) {
      return static_cast<bool>(Factory::kDenseRevisions);
    } else {
      return true;
    }
  }();

  void SetUp() override {
    if constexpr (requires(Factory f) { f.skipReason(); }) {
      std::string reason = factory_.skipReason();
      if (!reason.empty()) GTEST_SKIP() << reason;
    }
    store_ = factory_.make();
    ASSERT_NE(store_, nullptr) << "factory returned no store";
    compactor_ = dynamic_cast<Compactor*>(store_.get());
  }

  std::int64_t revision() {
    auto rev = store_->currentRevision();
    EXPECT_TRUE(rev.isOk()) << rev.status();
    return rev.valueOr(-1);
  }

  // Checks that the store's current revision is `rev` (or, if revisions are shared with other
  // writers, that it has reached rev).
  void expectCurrent(std::int64_t rev) {
    if (kDense) {
      EXPECT_EQ(revision(), rev);
    } else {
      EXPECT_GE(revision(), rev);
    }
  }

  // A write outside every prefix the tests use, returning its revision: a start point for
  // "watch from here" that is never 0 (which would mean "from now").
  std::int64_t mark() {
    auto rev = store_->create("/~mark/" + std::to_string(marks_++), "");
    EXPECT_TRUE(rev.isOk()) << rev.status();
    return rev.valueOr(-1);
  }

  // Checks that `after` is the revision of the next write after `before`.
  static void expectNext(std::int64_t before, std::int64_t after) {
    if (kDense) {
      EXPECT_EQ(after, before + 1);
    } else {
      EXPECT_GT(after, before);
    }
  }

  // Reads events until `count` arrived or `timeout` passed; stops at the first error.
  static std::vector<WatchEvent> collect(Watch& watch, std::size_t count,
                                         std::chrono::milliseconds timeout = 5s) {
    std::vector<WatchEvent> out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
      auto ev = watch.next(50ms);
      if (!ev.isOk()) {
        ADD_FAILURE() << "watch.next: " << ev.status();
        break;
      }
      if (*ev) out.push_back(std::move(**ev));
    }
    return out;
  }

  static std::vector<std::string> keysOf(const ListResult& list) {
    std::vector<std::string> keys;
    for (const auto& kv : list.items) keys.push_back(kv.key);
    return keys;
  }

  // Gone either from watch() or, for backends that learn it asynchronously, from next().
  void expectWatchGone(std::string_view prefix, std::int64_t from) {
    auto watch = store_->watch(prefix, from);
    if (!watch.isOk()) {
      EXPECT_EQ(watch.status().code(), StatusCode::kGone) << watch.status();
      return;
    }
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto ev = (*watch)->next(50ms);
      if (ev.isOk() && !*ev) continue;
      ASSERT_FALSE(ev.isOk()) << "watch from compacted revision " << from << " delivered revision "
                              << (*ev)->kv.modRevision;
      EXPECT_EQ(ev.status().code(), StatusCode::kGone) << ev.status();
      return;
    }
    ADD_FAILURE() << "watch from compacted revision " << from << " neither failed nor delivered";
  }

  Factory factory_;  // declared first: outlives the store
  std::unique_ptr<Store> store_;
  Compactor* compactor_ = nullptr;
  int marks_ = 0;
};

TYPED_TEST_SUITE_P(StoreConformanceTest);

// ---- create / get / update / remove ----

TYPED_TEST_P(StoreConformanceTest, CreateThenGetReturnsValueAndRevisions) {
  std::int64_t before = this->revision();
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t rev, this->store_->create("/t/a", "hello"));
  this->expectNext(before, rev);
  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue kv, this->store_->get("/t/a"));
  EXPECT_EQ(kv.key, "/t/a");
  EXPECT_EQ(kv.value, "hello");
  EXPECT_EQ(kv.createRevision, rev);
  EXPECT_EQ(kv.modRevision, rev);
  this->expectCurrent(rev);
}

TYPED_TEST_P(StoreConformanceTest, CreateOfExistingKeyIsAlreadyExists) {
  SKIFF_ASSERT_OK(this->store_->create("/t/a", "1"));
  std::int64_t before = this->revision();
  auto again = this->store_->create("/t/a", "2");
  ASSERT_FALSE(again.isOk());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status();
  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue kv, this->store_->get("/t/a"));
  EXPECT_EQ(kv.value, "1");
  if (this->kDense) {
    EXPECT_EQ(this->revision(), before);  // a failed write consumes nothing
  }
}

TYPED_TEST_P(StoreConformanceTest, MissingKeyIsNotFound) {
  auto got = this->store_->get("/t/missing");
  ASSERT_FALSE(got.isOk());
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  auto updated = this->store_->update("/t/missing", "x", 0);
  ASSERT_FALSE(updated.isOk());
  EXPECT_EQ(updated.status().code(), StatusCode::kNotFound);
  auto removed = this->store_->remove("/t/missing", 0);
  ASSERT_FALSE(removed.isOk());
  EXPECT_EQ(removed.status().code(), StatusCode::kNotFound);
}

TYPED_TEST_P(StoreConformanceTest, UpdateComparesModRevision) {
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t created, this->store_->create("/t/a", "1"));
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t r2, this->store_->update("/t/a", "2", created));
  this->expectNext(created, r2);

  auto stale = this->store_->update("/t/a", "stale", created);
  ASSERT_FALSE(stale.isOk());
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict) << stale.status();

  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t r3, this->store_->update("/t/a", "3", 0));
  this->expectNext(r2, r3);
  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue kv, this->store_->get("/t/a"));
  EXPECT_EQ(kv.value, "3");
  EXPECT_EQ(kv.createRevision, created);
  EXPECT_EQ(kv.modRevision, r3);
}

TYPED_TEST_P(StoreConformanceTest, RemoveComparesModRevisionAndReturnsDeletedValue) {
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t created, this->store_->create("/t/a", "1"));
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t updated, this->store_->update("/t/a", "2", 0));

  auto stale = this->store_->remove("/t/a", created);
  ASSERT_FALSE(stale.isOk());
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict) << stale.status();

  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue removed, this->store_->remove("/t/a", updated));
  this->expectNext(updated, removed.modRevision);
  EXPECT_EQ(removed.key, "/t/a");
  EXPECT_EQ(removed.value, "2");
  EXPECT_EQ(this->store_->get("/t/a").status().code(), StatusCode::kNotFound);

  // Unconditional remove, then a re-create starts a new lifetime.
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t recreated, this->store_->create("/t/a", "new"));
  EXPECT_GT(recreated, removed.modRevision);
  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue gone, this->store_->remove("/t/a", 0));
  EXPECT_EQ(gone.value, "new");
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t again, this->store_->create("/t/a", "again"));
  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue kv, this->store_->get("/t/a"));
  EXPECT_EQ(kv.createRevision, again);
}

TYPED_TEST_P(StoreConformanceTest, RevisionsAdvanceOncePerSuccessfulWrite) {
  std::int64_t rev = this->revision();
  std::vector<std::int64_t> seen;
  auto step = [&](Result<std::int64_t> r) {
    ASSERT_TRUE(r.isOk()) << r.status();
    this->expectNext(rev, *r);
    rev = *r;
    this->expectCurrent(rev);
    seen.push_back(rev);
  };
  step(this->store_->create("/t/a", "1"));
  step(this->store_->create("/t/b", "1"));
  EXPECT_FALSE(this->store_->create("/t/a", "dup").isOk());
  step(this->store_->update("/t/a", "2", 0));
  EXPECT_FALSE(this->store_->update("/t/b", "x", 12345678).isOk());
  auto removed = this->store_->remove("/t/b", 0);
  ASSERT_TRUE(removed.isOk()) << removed.status();
  step(removed->modRevision);
  EXPECT_EQ(std::set<std::int64_t>(seen.begin(), seen.end()).size(), seen.size());
}

TYPED_TEST_P(StoreConformanceTest, PutManyCreatesReplacesAndDeletesEachWriteOnItsOwn) {
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t kept, this->store_->create("/p/keep", "old"));
  SKIFF_ASSERT_OK(this->store_->create("/p/del", "x"));
  std::int64_t before = this->revision();
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, this->store_->watch("/p/", before));
  using Put = Store::Put;
  std::vector<Status> results = this->store_->putMany(
      {Put{"/p/keep", "new"}, Put{"/p/fresh", "f"}, Put{"/p/absent", std::nullopt},
       Put{"/p/del", std::nullopt}, Put{"", "bad"}});
  ASSERT_EQ(results.size(), 5u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(results[i].isOk()) << i << ": " << results[i];
  EXPECT_EQ(results[4].code(), StatusCode::kInvalidArgument) << results[4];

  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue keep, this->store_->get("/p/keep"));
  EXPECT_EQ(keep.value, "new");
  EXPECT_EQ(keep.createRevision, kept) << "a put replaces, it does not re-create";
  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue fresh, this->store_->get("/p/fresh"));
  EXPECT_EQ(fresh.value, "f");
  EXPECT_EQ(fresh.createRevision, fresh.modRevision);
  EXPECT_EQ(this->store_->get("/p/del").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(this->store_->get("/p/absent").status().code(), StatusCode::kNotFound);
  // Three writes observed in order (a store committing them together gives them one revision);
  // the absent key's delete wrote nothing.
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t after, this->store_->currentRevision());
  EXPECT_GT(after, before);
  if (TestFixture::kDense) {
    EXPECT_LE(after, before + 3);
  }
  auto events = this->collect(*watch, 3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kv.key, "/p/keep");
  EXPECT_EQ(events[1].kv.key, "/p/fresh");
  EXPECT_EQ(events[2].kv.key, "/p/del");
  EXPECT_EQ(events[2].type, WatchEvent::Type::kDelete);
  SKIFF_ASSERT_OK_AND_ASSIGN(auto extra, watch->next(100ms));
  EXPECT_FALSE(extra.has_value()) << "unexpected event for " << extra->kv.key;
}

TYPED_TEST_P(StoreConformanceTest, PutManyTakesLargeBatchesAndRepeatedKeysInOrder) {
  using Put = Store::Put;
  std::vector<Put> puts;
  for (int i = 0; i < 300; ++i) puts.push_back({"/pm/" + std::to_string(1000 + i), "v"});
  for (const Status& s : this->store_->putMany(puts)) SKIFF_EXPECT_OK(s);
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult all, this->store_->list("/pm/"));
  EXPECT_EQ(all.items.size(), 300u);
  // The same key twice: the later write wins.
  for (const Status& s : this->store_->putMany({Put{"/pm/x", "1"}, Put{"/pm/x", "2"}})) {
    SKIFF_EXPECT_OK(s);
  }
  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue x, this->store_->get("/pm/x"));
  EXPECT_EQ(x.value, "2");
}

// ---- list ----

TYPED_TEST_P(StoreConformanceTest, ListPrefixIsExactOnBytes) {
  for (const char* key : {"/pods/a", "/pods/ab", "/pods/a/b", "/podsx", "/pods", "/pod", "/a%b",
                          "/a_b", "/axb", "/a%%"}) {
    SKIFF_ASSERT_OK(this->store_->create(key, key));
  }
  using V = std::vector<std::string>;
  auto keys = [&](std::string_view prefix) {
    auto list = this->store_->list(prefix);
    EXPECT_TRUE(list.isOk()) << list.status();
    return list.isOk() ? this->keysOf(*list) : V{};
  };
  EXPECT_EQ(keys("/pods/a"), (V{"/pods/a", "/pods/a/b", "/pods/ab"}));
  EXPECT_EQ(keys("/pods/a/"), (V{"/pods/a/b"}));
  EXPECT_EQ(keys("/pods/"), (V{"/pods/a", "/pods/a/b", "/pods/ab"}));
  EXPECT_EQ(keys("/pods"), (V{"/pods", "/pods/a", "/pods/a/b", "/pods/ab", "/podsx"}));
  EXPECT_EQ(keys("/podsx"), (V{"/podsx"}));
  EXPECT_EQ(keys("/pods/c"), V{});
  // SQL LIKE wildcards are ordinary bytes.
  EXPECT_EQ(keys("/a_"), (V{"/a_b"}));
  EXPECT_EQ(keys("/a%"), (V{"/a%%", "/a%b"}));
  EXPECT_EQ(keys("/a%%"), (V{"/a%%"}));
}

TYPED_TEST_P(StoreConformanceTest, ListIsSortedAndReportsRevision) {
  for (const char* key : {"/s/m", "/s/b", "/s/z", "/s/B", "/s/a0", "/s/a"}) {
    SKIFF_ASSERT_OK(this->store_->create(key, "v"));
  }
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult list, this->store_->list("/s/"));
  using V = std::vector<std::string>;
  EXPECT_EQ(this->keysOf(list), (V{"/s/B", "/s/a", "/s/a0", "/s/b", "/s/m", "/s/z"}));
  EXPECT_FALSE(list.more);
  this->expectCurrent(list.revision);
  for (const auto& kv : list.items) {
    SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue got, this->store_->get(kv.key));
    EXPECT_EQ(got.modRevision, kv.modRevision);
    EXPECT_EQ(got.createRevision, kv.createRevision);
  }
}

TYPED_TEST_P(StoreConformanceTest, ListPaginatesAtAFixedRevision) {
  for (int i = 0; i < 10; ++i) {
    SKIFF_ASSERT_OK(this->store_->create("/p/k" + std::to_string(i), "v" + std::to_string(i)));
  }
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult page1, this->store_->list("/p/", {.limit = 4}));
  ASSERT_EQ(page1.items.size(), 4u);
  EXPECT_TRUE(page1.more);
  std::int64_t at = page1.revision;

  // Writes between pages must not show through: a page inserted before the cursor, one after
  // it, a delete and an update ahead of the cursor.
  SKIFF_ASSERT_OK(this->store_->create("/p/k0a", "new"));
  SKIFF_ASSERT_OK(this->store_->create("/p/k45", "new"));
  SKIFF_ASSERT_OK(this->store_->remove("/p/k5", 0));
  SKIFF_ASSERT_OK(this->store_->update("/p/k7", "changed", 0));

  std::vector<KeyValue> all = page1.items;
  std::string cursor = page1.items.back().key;
  bool more = true;
  int pages = 1;
  while (more) {
    SKIFF_ASSERT_OK_AND_ASSIGN(
        ListResult page,
        this->store_->list("/p/", {.limit = 4, .startAfter = cursor, .revision = at}));
    EXPECT_EQ(page.revision, at);
    ASSERT_FALSE(page.items.empty());
    all.insert(all.end(), page.items.begin(), page.items.end());
    cursor = page.items.back().key;
    more = page.more;
    ASSERT_LT(++pages, 10);
  }
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(all.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(all[i].key, "/p/k" + std::to_string(i));
    EXPECT_EQ(all[i].value, "v" + std::to_string(i));
    EXPECT_LE(all[i].modRevision, at);
  }

  // `more` is exact at the boundary.
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult exact,
                             this->store_->list("/p/", {.limit = 10, .revision = at}));
  EXPECT_EQ(exact.items.size(), 10u);
  EXPECT_FALSE(exact.more);
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult nine,
                             this->store_->list("/p/", {.limit = 9, .revision = at}));
  EXPECT_EQ(nine.items.size(), 9u);
  EXPECT_TRUE(nine.more);
}

TYPED_TEST_P(StoreConformanceTest, ListAtOlderRevisionShowsPastState) {
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t ra, this->store_->create("/o/a", "a1"));
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t rb, this->store_->create("/o/b", "b1"));
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t rc, this->store_->create("/o/c", "c1"));
  SKIFF_ASSERT_OK(this->store_->create("/o/gone-before", "x"));
  SKIFF_ASSERT_OK(this->store_->remove("/o/gone-before", 0));
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t unchanged, this->store_->create("/o/e", "e1"));
  std::int64_t at = this->revision();

  SKIFF_ASSERT_OK(this->store_->update("/o/a", "a2", 0));  // updated since
  SKIFF_ASSERT_OK(this->store_->remove("/o/b", 0));        // deleted since
  SKIFF_ASSERT_OK(this->store_->create("/o/d", "d1"));     // created since
  SKIFF_ASSERT_OK(this->store_->remove("/o/c", 0));        // deleted and re-created since
  SKIFF_ASSERT_OK(this->store_->create("/o/c", "c2"));
  SKIFF_ASSERT_OK(this->store_->create("/o/gone-before", "back"));  // re-created since
  SKIFF_ASSERT_OK(this->store_->create("/other", "x"));             // outside the prefix

  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult past, this->store_->list("/o/", {.revision = at}));
  EXPECT_EQ(past.revision, at);
  using V = std::vector<std::string>;
  ASSERT_EQ(this->keysOf(past), (V{"/o/a", "/o/b", "/o/c", "/o/e"}));
  EXPECT_EQ(past.items[0].value, "a1");
  EXPECT_EQ(past.items[0].modRevision, ra);
  EXPECT_EQ(past.items[0].createRevision, ra);
  EXPECT_EQ(past.items[1].value, "b1");
  EXPECT_EQ(past.items[1].modRevision, rb);
  EXPECT_EQ(past.items[2].value, "c1");
  EXPECT_EQ(past.items[2].createRevision, rc);
  EXPECT_EQ(past.items[3].value, "e1");
  EXPECT_EQ(past.items[3].modRevision, unchanged);

  // Paging through the past works like paging through the present.
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult first,
                             this->store_->list("/o/", {.limit = 2, .revision = at}));
  EXPECT_EQ(this->keysOf(first), (V{"/o/a", "/o/b"}));
  EXPECT_TRUE(first.more);
  SKIFF_ASSERT_OK_AND_ASSIGN(
      ListResult second,
      this->store_->list("/o/", {.limit = 2, .startAfter = "/o/b", .revision = at}));
  EXPECT_EQ(this->keysOf(second), (V{"/o/c", "/o/e"}));
  EXPECT_FALSE(second.more);

  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult now, this->store_->list("/o/"));
  EXPECT_EQ(this->keysOf(now), (V{"/o/a", "/o/c", "/o/d", "/o/e", "/o/gone-before"}));
  EXPECT_EQ(now.items[0].value, "a2");
  EXPECT_EQ(now.items[1].value, "c2");
}

TYPED_TEST_P(StoreConformanceTest, ListAtFutureRevisionIsInvalidArgument) {
  SKIFF_ASSERT_OK(this->store_->create("/f/a", "1"));
  auto list = this->store_->list("/f/", {.revision = this->revision() + 1000});
  ASSERT_FALSE(list.isOk());
  EXPECT_EQ(list.status().code(), StatusCode::kInvalidArgument) << list.status();
}

// ---- watch ----

TYPED_TEST_P(StoreConformanceTest, WatchFromZeroDeliversOnlyLaterChanges) {
  SKIFF_ASSERT_OK(this->store_->create("/w/before", "1"));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, this->store_->watch("/w/", 0));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto quiet, watch->next(50ms));
  EXPECT_FALSE(quiet.has_value()) << "unexpected event for " << quiet->kv.key;

  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t r1, this->store_->create("/w/a", "1"));
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t r2, this->store_->update("/w/before", "2", 0));
  auto events = this->collect(*watch, 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(events[0].kv.key, "/w/a");
  EXPECT_EQ(events[0].kv.value, "1");
  EXPECT_EQ(events[0].kv.modRevision, r1);
  EXPECT_EQ(events[0].kv.createRevision, r1);
  EXPECT_FALSE(events[0].prevKv.has_value());
  EXPECT_EQ(events[1].kv.key, "/w/before");
  EXPECT_EQ(events[1].kv.modRevision, r2);
  ASSERT_TRUE(events[1].prevKv.has_value());
  EXPECT_EQ(events[1].prevKv->value, "1");
}

TYPED_TEST_P(StoreConformanceTest, WatchFromPastRevisionReplaysInOrder) {
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t r1, this->store_->create("/w/a", "1"));
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t r2, this->store_->update("/w/a", "2", r1));
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t r3, this->store_->create("/w/b", "x"));
  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue removed, this->store_->remove("/w/a", r2));
  SKIFF_ASSERT_OK(this->store_->create("/elsewhere", "z"));

  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, this->store_->watch("/w/", r1));
  auto events = this->collect(*watch, 3);
  ASSERT_EQ(events.size(), 3u);

  EXPECT_EQ(events[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(events[0].kv.key, "/w/a");
  EXPECT_EQ(events[0].kv.value, "2");
  EXPECT_EQ(events[0].kv.modRevision, r2);
  EXPECT_EQ(events[0].kv.createRevision, r1);
  ASSERT_TRUE(events[0].prevKv.has_value());
  EXPECT_EQ(events[0].prevKv->value, "1");
  EXPECT_EQ(events[0].prevKv->modRevision, r1);

  EXPECT_EQ(events[1].type, WatchEvent::Type::kPut);
  EXPECT_EQ(events[1].kv.key, "/w/b");
  EXPECT_EQ(events[1].kv.modRevision, r3);
  EXPECT_FALSE(events[1].prevKv.has_value());

  EXPECT_EQ(events[2].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(events[2].kv.key, "/w/a");
  EXPECT_EQ(events[2].kv.value, "2");
  EXPECT_EQ(events[2].kv.modRevision, removed.modRevision);
  ASSERT_TRUE(events[2].prevKv.has_value());
  EXPECT_EQ(events[2].prevKv->value, "2");
  EXPECT_EQ(events[2].prevKv->modRevision, r2);
  EXPECT_EQ(events[2].prevKv->createRevision, r1);

  // The replay hands over to live events without a gap or a repeat.
  SKIFF_ASSERT_OK_AND_ASSIGN(auto idle, watch->next(30ms));
  EXPECT_FALSE(idle.has_value());
  SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t r6, this->store_->create("/w/c", "live"));
  auto live = this->collect(*watch, 1);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].kv.key, "/w/c");
  EXPECT_EQ(live[0].kv.modRevision, r6);
}

TYPED_TEST_P(StoreConformanceTest, WatchFiltersByPrefix) {
  std::int64_t start = this->mark();
  for (const char* key : {"/pods/x", "/podsx", "/pod", "/nodes/y", "/pods/y", "/a_b", "/axb"}) {
    SKIFF_ASSERT_OK(this->store_->create(key, "replayed"));
  }
  SKIFF_ASSERT_OK_AND_ASSIGN(auto pods, this->store_->watch("/pods/", start));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto underscore, this->store_->watch("/a_", start));
  for (const char* key : {"/podsy", "/pods/z", "/nodes/z", "/pods/", "/a_c", "/ayc"}) {
    SKIFF_ASSERT_OK(this->store_->create(key, "live"));
  }
  auto events = this->collect(*pods, 4);
  std::vector<std::string> keys;
  for (const auto& ev : events) keys.push_back(ev.kv.key);
  using V = std::vector<std::string>;
  EXPECT_EQ(keys, (V{"/pods/x", "/pods/y", "/pods/z", "/pods/"}));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto extra, pods->next(50ms));
  EXPECT_FALSE(extra.has_value()) << "unexpected " << extra->kv.key;

  auto other = this->collect(*underscore, 2);
  ASSERT_EQ(other.size(), 2u);
  EXPECT_EQ(other[0].kv.key, "/a_b");
  EXPECT_EQ(other[1].kv.key, "/a_c");
}

TYPED_TEST_P(StoreConformanceTest, WatchNextTimesOutWithNullopt) {
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, this->store_->watch("/quiet/", 0));
  auto start = std::chrono::steady_clock::now();
  SKIFF_ASSERT_OK_AND_ASSIGN(auto ev, watch->next(100ms));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(ev.has_value());
  EXPECT_GE(elapsed, 90ms);
  EXPECT_LT(elapsed, 3s);
}

TYPED_TEST_P(StoreConformanceTest, WatchCanBeDestroyedWhileWritesContinue) {
  for (int round = 0; round < 3; ++round) {
    SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, this->store_->watch("/d/", 0));
    for (int i = 0; i < 5; ++i) {
      SKIFF_ASSERT_OK(
          this->store_->create("/d/" + std::to_string(round) + "-" + std::to_string(i), "v"));
    }
    auto events = this->collect(*watch, 2);
    EXPECT_EQ(events.size(), 2u);
  }  // destroyed with undelivered events queued
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, this->store_->watch("/d/", 0));
  SKIFF_ASSERT_OK(this->store_->create("/d/last", "v"));
  auto events = this->collect(*watch, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kv.key, "/d/last");
}

// ---- compaction ----

TYPED_TEST_P(StoreConformanceTest, CompactedRevisionIsGone) {
  if (this->compactor_ == nullptr) GTEST_SKIP() << "store does not implement Compactor";
  std::vector<std::int64_t> revs;
  for (int i = 0; i < 5; ++i) {
    SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t r,
                               this->store_->create("/c/k" + std::to_string(i), "v"));
    revs.push_back(r);
  }
  for (int i = 0; i < 5; ++i) {
    SKIFF_ASSERT_OK_AND_ASSIGN(std::int64_t r,
                               this->store_->update("/c/k" + std::to_string(i), "w", 0));
    revs.push_back(r);
  }
  std::int64_t compactAt = revs[7];
  SKIFF_ASSERT_OK(this->compactor_->compact(compactAt));
  EXPECT_EQ(this->compactor_->compactedRevision(), compactAt);
  SKIFF_EXPECT_OK(this->compactor_->compact(compactAt));  // idempotent
  SKIFF_EXPECT_OK(this->compactor_->compact(revs[2]));    // older: nothing to do
  EXPECT_EQ(this->compactor_->compactedRevision(), compactAt);

  auto old = this->store_->list("/c/", {.revision = revs[2]});
  ASSERT_FALSE(old.isOk());
  EXPECT_EQ(old.status().code(), StatusCode::kGone) << old.status();
  this->expectWatchGone("/c/", revs[2]);

  // The compaction revision itself and everything after stay readable.
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult at, this->store_->list("/c/", {.revision = compactAt}));
  ASSERT_EQ(at.items.size(), 5u);
  EXPECT_EQ(at.items[3].value, "v");
  EXPECT_EQ(at.items[2].value, "w");
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, this->store_->watch("/c/", compactAt));
  auto events = this->collect(*watch, 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kv.modRevision, revs[8]);
  EXPECT_EQ(events[1].kv.modRevision, revs[9]);

  auto future = this->compactor_->compact(this->revision() + 1000);
  ASSERT_FALSE(future.isOk());
  EXPECT_EQ(future.code(), StatusCode::kInvalidArgument) << future;
}

// ---- values and keys ----

TYPED_TEST_P(StoreConformanceTest, BinaryValuesRoundTrip) {
  std::string value("a\0b\0\0c", 6);
  for (int i = 0; i < 256; ++i) value.push_back(static_cast<char>(i));
  std::int64_t start = this->mark();
  SKIFF_ASSERT_OK(this->store_->create("/bin/x", value));
  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue kv, this->store_->get("/bin/x"));
  EXPECT_EQ(kv.value, value);
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult list, this->store_->list("/bin/"));
  ASSERT_EQ(list.items.size(), 1u);
  EXPECT_EQ(list.items[0].value, value);
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, this->store_->watch("/bin/", start));
  auto events = this->collect(*watch, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kv.value, value);
}

TYPED_TEST_P(StoreConformanceTest, EmptyValueIsAValue) {
  std::int64_t start = this->mark();
  SKIFF_ASSERT_OK(this->store_->create("/empty/x", ""));
  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue kv, this->store_->get("/empty/x"));
  EXPECT_EQ(kv.value, "");
  SKIFF_ASSERT_OK(this->store_->update("/empty/x", "full", 0));
  SKIFF_ASSERT_OK(this->store_->update("/empty/x", "", 0));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, this->store_->watch("/empty/", start));
  auto events = this->collect(*watch, 3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kv.value, "");
  ASSERT_TRUE(events[1].prevKv.has_value());
  EXPECT_EQ(events[1].prevKv->value, "");
  EXPECT_EQ(events[2].kv.value, "");
}

TYPED_TEST_P(StoreConformanceTest, OneMebibyteValue) {
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 3);
  std::string big2 = big;
  big2[12345] ^= 1;
  std::int64_t start = this->mark();
  SKIFF_ASSERT_OK(this->store_->create("/big/x", big));
  SKIFF_ASSERT_OK(this->store_->update("/big/x", big2, 0));
  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue kv, this->store_->get("/big/x"));
  EXPECT_TRUE(kv.value == big2);
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, this->store_->watch("/big/", start));
  auto events = this->collect(*watch, 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].kv.value == big);
  ASSERT_TRUE(events[1].prevKv.has_value());
  EXPECT_TRUE(events[1].prevKv->value == big);
  EXPECT_TRUE(events[1].kv.value == big2);
}

TYPED_TEST_P(StoreConformanceTest, UnicodeAndSlashKeys) {
  const std::vector<std::string> keys = {"/u/日本語/ключ", "/u/emoji/🙂", "/u/a/b/c/d", "/u/a b",
                                         "/u/ä"};
  for (const auto& key : keys) SKIFF_ASSERT_OK(this->store_->create(key, key));
  for (const auto& key : keys) {
    SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue kv, this->store_->get(key));
    EXPECT_EQ(kv.key, key);
    EXPECT_EQ(kv.value, key);
  }
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult all, this->store_->list("/u/"));
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());  // byte order, as the store must sort
  EXPECT_EQ(this->keysOf(all), sorted);
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult one, this->store_->list("/u/日本語/"));
  EXPECT_EQ(this->keysOf(one), std::vector<std::string>{"/u/日本語/ключ"});
}

// ---- concurrency ----

TYPED_TEST_P(StoreConformanceTest, ConcurrentWritersAreAllDurableAndObservedOnce) {
  constexpr int kThreads = 64;
  constexpr int kWritesPerThread = 50;
  constexpr std::size_t kTotal = kThreads * kWritesPerThread;
  std::int64_t start = this->mark();

  std::vector<std::vector<std::pair<std::string, std::int64_t>>> acked(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerThread; ++i) {
        std::string key = "/cc/" + std::to_string(t) + "/" + std::to_string(i);
        auto rev = this->store_->create(key, "v");
        if (!rev.isOk()) {
          ++failures;
          continue;
        }
        acked[t].emplace_back(key, *rev);
      }
    });
  }
  // Start the watch mid-stream, from before the first write, so replay and live events meet
  // while writes are still arriving.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (this->revision() < start + 100 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, this->store_->watch("/cc/", start));
  auto events = this->collect(*watch, kTotal, 20s);
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);

  std::map<std::string, std::int64_t> expected;
  std::set<std::int64_t> revisions;
  for (const auto& thread : acked) {
    for (std::size_t i = 0; i < thread.size(); ++i) {
      expected.emplace(thread[i].first, thread[i].second);
      revisions.insert(thread[i].second);
      if (i > 0) {
        EXPECT_GT(thread[i].second, thread[i - 1].second);
      }
    }
  }
  ASSERT_EQ(expected.size(), kTotal);
  EXPECT_EQ(revisions.size(), kTotal) << "two writes acknowledged with the same revision";
  if (this->kDense) {
    EXPECT_EQ(*revisions.begin(), start + 1);
    EXPECT_EQ(*revisions.rbegin(), start + static_cast<std::int64_t>(kTotal));
  }

  ASSERT_EQ(events.size(), kTotal);
  std::set<std::string> seen;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i > 0) {
      ASSERT_GT(events[i].kv.modRevision, events[i - 1].kv.modRevision);
    }
    ASSERT_TRUE(seen.insert(events[i].kv.key).second) << "duplicate " << events[i].kv.key;
    auto it = expected.find(events[i].kv.key);
    ASSERT_NE(it, expected.end());
    EXPECT_EQ(events[i].kv.modRevision, it->second);
  }
  SKIFF_ASSERT_OK_AND_ASSIGN(auto extra, watch->next(20ms));
  EXPECT_FALSE(extra.has_value());

  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult list, this->store_->list("/cc/"));
  ASSERT_EQ(list.items.size(), kTotal);
  for (const auto& kv : list.items) EXPECT_EQ(kv.modRevision, expected[kv.key]);
}

TYPED_TEST_P(StoreConformanceTest, CompareAndSwapCounterUnderContention) {
  constexpr int kThreads = 8;
  constexpr int kIncrements = 10;
  SKIFF_ASSERT_OK(this->store_->create("/counter", "0"));
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements;) {
        auto kv = this->store_->get("/counter");
        if (!kv.isOk()) {
          ++errors;
          return;
        }
        auto next = std::to_string(std::stoi(kv->value) + 1);
        auto rev = this->store_->update("/counter", next, kv->modRevision);
        if (rev.isOk()) {
          ++i;
        } else if (rev.status().code() != StatusCode::kConflict) {
          ++errors;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  SKIFF_ASSERT_OK_AND_ASSIGN(KeyValue kv, this->store_->get("/counter"));
  EXPECT_EQ(kv.value, std::to_string(kThreads * kIncrements));
}

// The informer pattern: list, then watch from the list's revision while writes continue; the
// list plus the events must reproduce the final state exactly.
TYPED_TEST_P(StoreConformanceTest, ListThenWatchReconstructsState) {
  constexpr int kKeys = 16;
  constexpr int kWrites = 300;
  std::atomic<std::int64_t> lastAck{0};
  std::atomic<int> errors{0};
  std::atomic<int> done{0};
  std::thread writer([&] {
    std::vector<bool> present(kKeys, false);
    for (int i = 0; i < kWrites; ++i) {
      int k = (i * 7 + i / 5) % kKeys;
      std::string key = "/rec/" + std::to_string(k);
      Result<std::int64_t> rev = std::int64_t{0};
      if (!present[k]) {
        rev = this->store_->create(key, "c" + std::to_string(i));
      } else if (i % 3 == 0) {
        auto removed = this->store_->remove(key, 0);
        rev = removed.isOk() ? Result<std::int64_t>(removed->modRevision) : removed.status();
      } else {
        rev = this->store_->update(key, "u" + std::to_string(i), 0);
      }
      if (!rev.isOk()) {
        ++errors;
        continue;
      }
      present[k] = !(present[k] && i % 3 == 0);
      lastAck = *rev;
      ++done;
    }
  });
  while (done.load() < kWrites / 3) std::this_thread::sleep_for(1ms);
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult initial, this->store_->list("/rec/"));
  SKIFF_ASSERT_OK_AND_ASSIGN(auto watch, this->store_->watch("/rec/", initial.revision));
  writer.join();
  ASSERT_EQ(errors.load(), 0);

  std::map<std::string, std::string> state;
  for (const auto& kv : initial.items) state[kv.key] = kv.value;
  std::int64_t last = initial.revision;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (last < lastAck.load() && std::chrono::steady_clock::now() < deadline) {
    SKIFF_ASSERT_OK_AND_ASSIGN(auto ev, watch->next(50ms));
    if (!ev) continue;
    ASSERT_GT(ev->kv.modRevision, last);
    last = ev->kv.modRevision;
    if (ev->type == WatchEvent::Type::kPut) {
      state[ev->kv.key] = ev->kv.value;
    } else {
      ASSERT_EQ(state.erase(ev->kv.key), 1u) << "delete of unknown " << ev->kv.key;
    }
  }
  EXPECT_EQ(last, lastAck.load());
  SKIFF_ASSERT_OK_AND_ASSIGN(ListResult final, this->store_->list("/rec/"));
  std::map<std::string, std::string> expected;
  for (const auto& kv : final.items) expected[kv.key] = kv.value;
  EXPECT_EQ(state, expected);
}

REGISTER_TYPED_TEST_SUITE_P(
    StoreConformanceTest, CreateThenGetReturnsValueAndRevisions, CreateOfExistingKeyIsAlreadyExists,
    MissingKeyIsNotFound, UpdateComparesModRevision,
    RemoveComparesModRevisionAndReturnsDeletedValue, RevisionsAdvanceOncePerSuccessfulWrite,
    PutManyCreatesReplacesAndDeletesEachWriteOnItsOwn,
    PutManyTakesLargeBatchesAndRepeatedKeysInOrder, ListPrefixIsExactOnBytes,
    ListIsSortedAndReportsRevision, ListPaginatesAtAFixedRevision,
    ListAtOlderRevisionShowsPastState, ListAtFutureRevisionIsInvalidArgument,
    WatchFromZeroDeliversOnlyLaterChanges, WatchFromPastRevisionReplaysInOrder,
    WatchFiltersByPrefix, WatchNextTimesOutWithNullopt, WatchCanBeDestroyedWhileWritesContinue,
    CompactedRevisionIsGone, BinaryValuesRoundTrip, EmptyValueIsAValue, OneMebibyteValue,
    UnicodeAndSlashKeys, ConcurrentWritersAreAllDurableAndObservedOnce,
    CompareAndSwapCounterUnderContention, ListThenWatchReconstructsState);

}  // namespace skiff::common::store::conformance
