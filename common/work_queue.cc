// WorkQueue implementation (see work_queue.h).
#include "common/work_queue.h"

#include <algorithm>

namespace skiff::common {

WorkQueue::WorkQueue(Duration baseDelay, Duration maxDelay)
    : baseDelay_(baseDelay), maxDelay_(maxDelay) {}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mu_);
  if (shutdown_ || dirty_.contains(key)) return;
  dirty_.insert(key);
  if (processing_.contains(key)) return;  // re-queued by done()
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::addAfter(const std::string& key, Duration delay) {
  if (delay <= Duration::zero()) return add(key);
  std::lock_guard lock(mu_);
  if (shutdown_) return;
  delayed_.emplace(std::chrono::steady_clock::now() + delay, key);
  cv_.notify_one();
}

void WorkQueue::addRateLimited(const std::string& key) {
  Duration delay;
  {
    std::lock_guard lock(mu_);
    int n = failures_[key]++;
    delay = baseDelay_ * (1LL << std::min(n, 30));
    if (delay > maxDelay_ || delay < Duration::zero()) delay = maxDelay_;
  }
  addAfter(key, delay);
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

void WorkQueue::promoteDueLocked(std::chrono::steady_clock::time_point now) {
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    std::string key = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    if (dirty_.contains(key)) continue;
    dirty_.insert(key);
    if (!processing_.contains(key)) queue_.push_back(key);
  }
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock lock(mu_);
  for (;;) {
    promoteDueLocked(std::chrono::steady_clock::now());
    if (shutdown_) return std::nullopt;
    if (!queue_.empty() && active_) break;
    if (delayed_.empty() || !active_) {
      cv_.wait(lock);
    } else {
      // A copy: another worker may promote (erase) that entry while this one waits.
      auto due = delayed_.begin()->first;
      cv_.wait_until(lock, due);
    }
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  return key;
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  processing_.erase(key);
  if (dirty_.contains(key)) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::shutDown() {
  std::lock_guard lock(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

void WorkQueue::setActive(bool active) {
  std::lock_guard lock(mu_);
  active_ = active;
  cv_.notify_all();
}

std::size_t WorkQueue::length() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace skiff::common
