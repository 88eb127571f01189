// A key-only work queue with de-duplication, delayed adds and per-key exponential backoff: the
// shape of client-go's rate-limited workqueue (CONVENTIONS.md 5). A key is handed to at most one
// worker at a time; adding a key while it is being processed re-queues it once done() is called;
// adding a key that is already queued does nothing.
//
// Threading: thread-safe. get() blocks until a key is due or shutDown() is called.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace skiff::edge_agent {

class WorkQueue {
 public:
  using Duration = std::chrono::milliseconds;
  explicit WorkQueue(Duration baseDelay = Duration(500), Duration maxDelay = Duration(300000))
      : baseDelay_(baseDelay), maxDelay_(maxDelay) {}

  // Queues key now (no-op if already queued). urgent puts it ahead of the keys already waiting
  // (moving it forward if it was queued): a changed desired module must not wait behind a
  // periodic recheck of every module.
  void add(const std::string& key, bool urgent = false);
  // Queues key once delay has passed; an earlier pending deadline for the key wins.
  void addAfter(const std::string& key, Duration delay);
  // Queues key after its backoff: baseDelay doubling with every call, up to maxDelay, until
  // forget(key). Returns the delay used.
  Duration addRateLimited(const std::string& key);
  // Resets key's backoff (call after a successful reconcile).
  void forget(const std::string& key);
  // Next due key; nullopt once shut down.
  std::optional<std::string> get();
  // Marks key as processed; re-queues it if it was added meanwhile.
  void done(const std::string& key);
  // Wakes every get() with nullopt; later adds are ignored.
  void shutDown();
  // Keys queued now (not counting delayed ones or ones being processed).
  std::size_t length() const;
  // Failures recorded for key since its last forget().
  int failures(const std::string& key) const;

 private:
  using Clock = std::chrono::steady_clock;
  void addLocked(const std::string& key, bool urgent = false);

  const Duration baseDelay_;
  const Duration maxDelay_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::set<std::string> dirty_;       // queued (in queue_) or re-add pending while processing
  std::set<std::string> processing_;  // handed out by get(), not yet done()
  std::map<std::string, Clock::time_point> delayed_;
  std::map<std::string, int> failures_;
  bool shuttingDown_ = false;
};

}  // namespace skiff::edge_agent
