// Change notification for watchers (gRPC Watch* streams, Server-Sent Events). Producers call
// notify(kind, id) — cheap, and free when nobody subscribes; each subscription keeps a
// de-duplicated, ordered set of changed ids, so a slow consumer sees the latest state of every
// object it missed rather than a growing backlog, and memory stays bounded by the number of
// objects. Consumers read the current state of each id themselves. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace skiff::hub::fleet {

// kDeviceHeartbeat: only the device's metrics, last-seen time or report sequence changed (a
// metrics document, or a report that changes nothing else); kDevice: anything else about it.
enum class ChangeKind { kDevice, kDeployment, kEvent, kHub, kDeviceHeartbeat };

struct Change {
  ChangeKind kind;
  std::string id;  // device/deployment id; "" for kEvent (read new events) and kHub
};

class ChangeFeed {
 public:
  class Subscription {
   public:
    // Blocks until at least one change is pending or timeout; returns and clears the pending
    // changes in first-notified order. Empty on timeout or after close().
    std::vector<Change> wait(std::chrono::milliseconds timeout);
    void close();

   private:
    friend class ChangeFeed;
    void push(ChangeKind kind, const std::string& id);
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Change> order_;
    std::set<std::pair<int, std::string>> pending_;
    bool closed_ = false;
  };

  std::shared_ptr<Subscription> subscribe();
  void unsubscribe(const std::shared_ptr<Subscription>& s);
  void notify(ChangeKind kind, const std::string& id);
  bool hasSubscribers() const { return count_.load(std::memory_order_relaxed) > 0; }
  // Wakes every subscriber with nothing (shutdown).
  void closeAll();

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<Subscription>> subs_;
  std::atomic<int> count_{0};
};

}  // namespace skiff::hub::fleet
