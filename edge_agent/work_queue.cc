// Work queue (see work_queue.h).
#include "edge_agent/work_queue.h"

#include <algorithm>

namespace skiff::edge_agent {

void WorkQueue::addLocked(const std::string& key, bool urgent) {
  if (shuttingDown_) return;
  if (dirty_.count(key) != 0) {
    if (urgent && processing_.count(key) == 0) {
      auto it = std::find(queue_.begin(), queue_.end(), key);
      if (it != queue_.end()) {
        queue_.erase(it);
        queue_.push_front(key);
      }
    }
    return;
  }
  dirty_.insert(key);
  if (processing_.count(key) != 0) return;  // re-queued by done()
  if (urgent) {
    queue_.push_front(key);
  } else {
    queue_.push_back(key);
  }
  cv_.notify_one();
}

void WorkQueue::add(const std::string& key, bool urgent) {
  std::lock_guard lock(mu_);
  delayed_.erase(key);
  addLocked(key, urgent);
}

void WorkQueue::addAfter(const std::string& key, Duration delay) {
  if (delay <= Duration::zero()) {
    add(key);
    return;
  }
  std::lock_guard lock(mu_);
  if (shuttingDown_) return;
  auto due = Clock::now() + delay;
  auto it = delayed_.find(key);
  if (it == delayed_.end() || due < it->second) delayed_[key] = due;
  cv_.notify_all();  // a waiting get() may need to wake earlier
}

WorkQueue::Duration WorkQueue::addRateLimited(const std::string& key) {
  Duration delay;
  {
    std::lock_guard lock(mu_);
    int n = failures_[key]++;
    double d =
        static_cast<double>(baseDelay_.count()) * static_cast<double>(1ULL << std::min(n, 30));
    delay =
        Duration(static_cast<std::int64_t>(std::min(d, static_cast<double>(maxDelay_.count()))));
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

std::optional<std::string> WorkQueue::get() {
  std::unique_lock lock(mu_);
  while (true) {
    if (shuttingDown_) return std::nullopt;
    auto now = Clock::now();
    std::optional<Clock::time_point> next;
    for (auto it = delayed_.begin(); it != delayed_.end();) {
      if (it->second <= now) {
        std::string key = it->first;
        it = delayed_.erase(it);
        addLocked(key);
      } else {
        if (!next || it->second < *next) next = it->second;
        ++it;
      }
    }
    if (!queue_.empty()) {
      std::string key = std::move(queue_.front());
      queue_.pop_front();
      dirty_.erase(key);
      processing_.insert(key);
      return key;
    }
    if (next) {
      cv_.wait_until(lock, *next);
    } else {
      cv_.wait(lock);
    }
  }
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  processing_.erase(key);
  if (dirty_.count(key) != 0 && !shuttingDown_) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::shutDown() {
  std::lock_guard lock(mu_);
  shuttingDown_ = true;
  cv_.notify_all();
}

std::size_t WorkQueue::length() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace skiff::edge_agent
