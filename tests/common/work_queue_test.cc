// WorkQueue: client-go workqueue semantics (de-duplication, a key in processing re-queued once
// done, delayed adds in due order, per-key exponential backoff, shutDown unblocking get()).
#include "common/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace skiff::common {
namespace {

using namespace std::chrono_literals;

TEST(WorkQueueTest, AddDeduplicatesQueuedKeys) {
  WorkQueue q;
  q.add("a");
  q.add("a");
  q.add("b");
  q.add("a");
  EXPECT_EQ(q.length(), 2u);
  EXPECT_EQ(q.get(), "a");
  EXPECT_EQ(q.get(), "b");
  EXPECT_EQ(q.length(), 0u);
}

TEST(WorkQueueTest, KeyAddedWhileProcessingIsRequeuedOnlyAfterDone) {
  WorkQueue q;
  q.add("a");
  ASSERT_EQ(q.get(), "a");
  q.add("a");  // while processing: must not be handed to a second worker
  q.add("a");
  EXPECT_EQ(q.length(), 0u);
  q.done("a");
  EXPECT_EQ(q.length(), 1u);
  EXPECT_EQ(q.get(), "a");
  q.done("a");
  EXPECT_EQ(q.length(), 0u);
}

TEST(WorkQueueTest, DoneWithoutReAddDoesNotRequeue) {
  WorkQueue q;
  q.add("a");
  ASSERT_EQ(q.get(), "a");
  q.done("a");
  EXPECT_EQ(q.length(), 0u);
}

TEST(WorkQueueTest, AddAfterDeliversInDueOrder) {
  WorkQueue q;
  auto start = std::chrono::steady_clock::now();
  q.addAfter("late", 120ms);
  q.addAfter("early", 40ms);
  q.addAfter("now", 0ms);
  EXPECT_EQ(q.get(), "now");
  EXPECT_EQ(q.get(), "early");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 40ms);
  EXPECT_EQ(q.get(), "late");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 120ms);
}

TEST(WorkQueueTest, AddAfterOfAQueuedKeyDoesNotDuplicate) {
  WorkQueue q;
  q.add("a");
  q.addAfter("a", 10ms);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(q.get(), "a");
  q.done("a");
  EXPECT_EQ(q.length(), 0u);
}

TEST(WorkQueueTest, RateLimitedBackoffGrowsAndForgetResets) {
  WorkQueue q(20ms, 10s);
  auto timeGet = [&] {
    auto t0 = std::chrono::steady_clock::now();
    q.addRateLimited("k");
    auto k = q.get();
    EXPECT_EQ(k, "k");
    q.done("k");
    return std::chrono::steady_clock::now() - t0;
  };
  auto d1 = timeGet();  // 20ms
  auto d2 = timeGet();  // 40ms
  auto d3 = timeGet();  // 80ms
  EXPECT_GE(d1, 20ms);
  EXPECT_GE(d2, 40ms);
  EXPECT_GE(d3, 80ms);
  EXPECT_GT(d3, d1);
  q.forget("k");
  auto d4 = timeGet();
  EXPECT_GE(d4, 20ms);
  EXPECT_LT(d4, 80ms);
}

TEST(WorkQueueTest, BackoffIsCappedAtMaxDelay) {
  WorkQueue q(10ms, 30ms);
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    q.addRateLimited("k");
    ASSERT_EQ(q.get(), "k");
    q.done("k");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  }
}

TEST(WorkQueueTest, ShutDownUnblocksGet) {
  WorkQueue q;
  auto fut = std::async(std::launch::async, [&] { return q.get(); });
  EXPECT_EQ(fut.wait_for(50ms), std::future_status::timeout);
  q.shutDown();
  ASSERT_EQ(fut.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(fut.get(), std::nullopt);
}

TEST(WorkQueueTest, ShutDownUnblocksGetWaitingForADelayedKey) {
  WorkQueue q;
  q.addAfter("a", 10s);
  auto fut = std::async(std::launch::async, [&] { return q.get(); });
  std::this_thread::sleep_for(20ms);
  q.shutDown();
  ASSERT_EQ(fut.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(fut.get(), std::nullopt);
  q.add("b");  // ignored after shutdown
  EXPECT_EQ(q.get(), std::nullopt);
}

TEST(WorkQueueTest, InactiveQueueCollectsKeysButHandsOutNone) {
  WorkQueue q;
  q.setActive(false);
  q.add("a");
  q.add("b");
  q.add("a");
  auto fut = std::async(std::launch::async, [&] { return q.get(); });
  EXPECT_EQ(fut.wait_for(100ms), std::future_status::timeout);
  EXPECT_EQ(q.length(), 2u);
  q.setActive(true);
  ASSERT_EQ(fut.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(fut.get(), "a");
  EXPECT_EQ(q.get(), "b");
}

TEST(WorkQueueTest, ShutDownUnblocksAnInactiveQueue) {
  WorkQueue q;
  q.setActive(false);
  q.add("a");
  auto fut = std::async(std::launch::async, [&] { return q.get(); });
  std::this_thread::sleep_for(20ms);
  q.shutDown();
  ASSERT_EQ(fut.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(fut.get(), std::nullopt);
}

TEST(WorkQueueTest, ManyWorkersWaitingOnDelayedKeys) {
  // Workers sleep until the earliest delayed key is due while others promote it (ASan found a
  // waiter reading the promoted entry's time after it was erased).
  WorkQueue q;
  std::atomic<int> handled{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto key = q.get()) {
        ++handled;
        q.done(*key);
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    q.addAfter("k" + std::to_string(i), std::chrono::microseconds(100 + (i % 7) * 300));
    if (i % 10 == 0) std::this_thread::sleep_for(1ms);
  }
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (handled < 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  q.shutDown();
  for (auto& t : workers) t.join();
  EXPECT_EQ(handled.load(), 200);
}

TEST(WorkQueueTest, DeduplicatesAndNeverHandsOutAKeyTwice) {
  WorkQueue q(10ms, 100ms);
  q.add("a");
  q.add("a");
  q.add("b");
  EXPECT_EQ(q.length(), 2u);
  auto k = q.get();
  ASSERT_EQ(*k, "a");
  q.add("a");  // while processing: re-queued after done()
  EXPECT_EQ(q.length(), 1u);
  EXPECT_EQ(*q.get(), "b");
  q.done("b");
  q.done("a");
  EXPECT_EQ(*q.get(), "a");
  q.done("a");
  EXPECT_EQ(q.length(), 0u);
}

TEST(WorkQueueTest, UrgentKeysGoAheadOfWaitingOnes) {
  WorkQueue q;
  q.add("a");
  q.add("b");
  q.add("c", /*urgent=*/true);
  q.add("b", /*urgent=*/true);  // already queued: moved forward, not duplicated
  EXPECT_EQ(q.length(), 3u);
  EXPECT_EQ(*q.get(), "b");
  EXPECT_EQ(*q.get(), "c");
  EXPECT_EQ(*q.get(), "a");
}

TEST(WorkQueueTest, DelaysAndBacksOff) {
  WorkQueue q(20ms, 80ms);
  auto t0 = std::chrono::steady_clock::now();
  q.addAfter("x", 60ms);
  q.addAfter("x", 200ms);  // the earlier deadline wins
  ASSERT_EQ(*q.get(), "x");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 55ms);
  q.done("x");
  EXPECT_EQ(q.addRateLimited("y"), 20ms);
  EXPECT_EQ(q.addRateLimited("y"), 40ms);
  EXPECT_EQ(q.addRateLimited("y"), 80ms);
  EXPECT_EQ(q.addRateLimited("y"), 80ms);
  EXPECT_EQ(q.failures("y"), 4);
  q.forget("y");
  EXPECT_EQ(q.failures("y"), 0);
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    q.shutDown();
  });
  q.done("z");
  EXPECT_TRUE(q.get().has_value());   // y is due after 20 ms
  EXPECT_FALSE(q.get().has_value());  // woken by shutDown
  t.join();
}

}  // namespace
}  // namespace skiff::common
