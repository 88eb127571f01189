// Key-only work queue for level-triggered controllers (client-go's workqueue semantics):
// a key is queued at most once; a key being processed is not handed to a second worker, and if
// it is added meanwhile it is re-queued when done(); failures back off exponentially per key.
// Thread-safe. get() blocks until a key is ready or the queue shuts down.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace skiff::common {

class WorkQueue {
 public:
  using Duration = std::chrono::steady_clock::duration;
  explicit WorkQueue(Duration baseDelay = std::chrono::milliseconds(5),
                     Duration maxDelay = std::chrono::seconds(60));

  void add(const std::string& key);
  void addAfter(const std::string& key, Duration delay);
  // add after this key's backoff (which doubles with each call until forget()).
  void addRateLimited(const std::string& key);
  void forget(const std::string& key);  // reset the key's backoff after a success
  // Next key, or nullopt once shut down (after draining nothing further).
  std::optional<std::string> get();
  void done(const std::string& key);
  void shutDown();
  // An inactive queue keeps collecting keys but get() hands none out until it is active again
  // (leader election: followers keep their queues warm and only leaders work). Default active.
  void setActive(bool active);
  std::size_t length() const;

 private:
  void promoteDueLocked(std::chrono::steady_clock::time_point now);
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::set<std::string> dirty_;
  std::set<std::string> processing_;
  std::multimap<std::chrono::steady_clock::time_point, std::string> delayed_;
  std::map<std::string, int> failures_;
  Duration baseDelay_;
  Duration maxDelay_;
  bool shutdown_ = false;
  bool active_ = true;
};

}  // namespace skiff::common
