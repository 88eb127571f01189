// WorkQueue implementation (see work_queue.h).
#include "common/work_queue.h"

#include <algorithm>

namespace skiff::common {

WorkQueue::WorkQueue(Duration baseDelay, Duration maxDelay)
    : baseDelay_(baseDelay), maxDelay_(maxDelay) {}

void WorkQueue::addLocked(const std::string& key, bool urgent) {
  if (dirty_.contains(key)) {
    if (urgent && !processing_.contains(key)) {
      auto it = std::find(queue_.begin(), queue_.end(), key);
      if (it != queue_.end()) {
        queue_.erase(it);
        queue_.push_front(key);
      }
    }
    return;
  }
  dirty_.insert(key);
  if (processing_.contains(key)) return;  // queued again by done()
  if (urgent) {
    queue_.push_front(key);
  } else {
    queue_.push_back(key);
  }
  cv_.notify_one();
}

void WorkQueue::add(const std::string& key, bool urgent) {
  std::lock_guard lock(mu_);
  if (shutdown_) return;
  addLocked(key, urgent);
}

void WorkQueue::addAfter(const std::string& key, Duration delay) {
  if (delay <= Duration::zero()) return add(key);
  std::lock_guard lock(mu_);
  if (shutdown_) return;
  auto due = Clock::now() + delay;
  auto [it, inserted] = deadlines_.try_emplace(key, due);
  if (!inserted) {
    if (it->second <= due) return;
    due_.erase({it->second, key});
    it->second = due;
  }
  due_.emplace(due, key);
  cv_.notify_all();  // a waiting get() may need to wake earlier
}

WorkQueue::Duration WorkQueue::addRateLimited(const std::string& key) {
  Duration delay;
  {
    std::lock_guard lock(mu_);
    int n = failures_[key]++;
    delay = baseDelay_ * (1LL << std::min(n, 30));
    if (delay > maxDelay_ || delay < Duration::zero()) delay = maxDelay_;
  }
  addAfter(key, delay);
  return delay;
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

int WorkQueue::failures(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

void WorkQueue::promoteDueLocked(Clock::time_point now) {
  while (!due_.empty() && due_.begin()->first <= now) {
    std::string key = due_.begin()->second;
    due_.erase(due_.begin());
    deadlines_.erase(key);
    addLocked(key, false);
  }
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock lock(mu_);
  for (;;) {
    promoteDueLocked(Clock::now());
    if (shutdown_) return std::nullopt;
    if (!queue_.empty() && active_) break;
    if (due_.empty() || !active_) {
      cv_.wait(lock);
    } else {
      // A copy: another worker may promote (erase) that entry while this one waits.
      auto due = due_.begin()->first;
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
  if (dirty_.contains(key) && !shutdown_) {
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
