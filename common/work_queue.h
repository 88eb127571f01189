// The one work queue of Skiff's level-triggered loops (the controllers, the scheduler, the virtual
// node's pod controller, the agent's reconciler), with client-go's workqueue semantics:
//   - a key is queued at most once; adding a queued key does nothing (an urgent add moves it to
//     the front);
//   - a key handed out by get() is not handed to a second worker until done(); added meanwhile,
//     it is queued again by done();
//   - addAfter keeps one pending deadline per key, the earliest; a plain add does not cancel it
//     (the key is then processed twice, which a level-triggered loop shrugs off);
//   - addRateLimited waits baseDelay doubling with each failure of the key, up to maxDelay, until
//     forget(key).
// Thread-safe. get() blocks until a key is due, or returns nullopt once shut down.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace skiff::common {

class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;
  using Duration = Clock::duration;
  explicit WorkQueue(Duration baseDelay = std::chrono::milliseconds(5),
                     Duration maxDelay = std::chrono::seconds(60));

  // Queues key now. urgent puts it ahead of the keys already waiting (moving it forward if it
  // was queued): a changed desired pod must not wait behind periodic rechecks of every pod.
  void add(const std::string& key, bool urgent = false);
  // Queues key once delay has passed; an earlier pending deadline for the key wins.
  void addAfter(const std::string& key, Duration delay);
  // Queues key after its backoff; returns the delay used.
  Duration addRateLimited(const std::string& key);
  // Resets the key's backoff (after a success).
  void forget(const std::string& key);
  // Failures recorded for key since its last forget().
  int failures(const std::string& key) const;
  // Next key, or nullopt once shut down.
  std::optional<std::string> get();
  // Marks key as processed; queues it again if it was added meanwhile.
  void done(const std::string& key);
  // Wakes every get() with nullopt; later adds are ignored.
  void shutDown();
  // An inactive queue keeps collecting keys but get() hands none out until it is active again
  // (leader election: followers keep their queues warm and only leaders work). Default active.
  void setActive(bool active);
  // Keys queued now (not counting delayed ones or ones being processed).
  std::size_t length() const;

 private:
  void addLocked(const std::string& key, bool urgent);
  void promoteDueLocked(Clock::time_point now);

  const Duration baseDelay_;
  const Duration maxDelay_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::set<std::string> dirty_;                         // queued, or to be queued again by done()
  std::set<std::string> processing_;                    // handed out by get(), not yet done()
  std::map<std::string, Clock::time_point> deadlines_;  // one per delayed key
  std::set<std::pair<Clock::time_point, std::string>> due_;  // the same, by time
  std::map<std::string, int> failures_;
  bool shutdown_ = false;
  bool active_ = true;
};

}  // namespace skiff::common
