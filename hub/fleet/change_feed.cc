// Change feed: per-subscriber de-duplicated queues.
#include "hub/fleet/change_feed.h"

#include <algorithm>

namespace skiff::hub::fleet {

std::vector<Change> ChangeFeed::Subscription::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return closed_ || !order_.empty(); });
  std::vector<Change> out(std::make_move_iterator(order_.begin()),
                          std::make_move_iterator(order_.end()));
  order_.clear();
  pending_.clear();
  return out;
}

void ChangeFeed::Subscription::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

void ChangeFeed::Subscription::push(ChangeKind kind, const std::string& id) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  if (!pending_.emplace(static_cast<int>(kind), id).second) return;
  order_.push_back(Change{kind, id});
  cv_.notify_all();
}

std::shared_ptr<ChangeFeed::Subscription> ChangeFeed::subscribe() {
  auto s = std::make_shared<Subscription>();
  std::lock_guard lock(mu_);
  subs_.push_back(s);
  count_.store(static_cast<int>(subs_.size()));
  return s;
}

void ChangeFeed::unsubscribe(const std::shared_ptr<Subscription>& s) {
  std::lock_guard lock(mu_);
  subs_.erase(std::remove(subs_.begin(), subs_.end(), s), subs_.end());
  count_.store(static_cast<int>(subs_.size()));
}

void ChangeFeed::notify(ChangeKind kind, const std::string& id) {
  if (!hasSubscribers()) return;
  std::vector<std::shared_ptr<Subscription>> subs;
  {
    std::lock_guard lock(mu_);
    subs = subs_;
  }
  for (const auto& s : subs) s->push(kind, id);
}

void ChangeFeed::closeAll() {
  std::lock_guard lock(mu_);
  for (const auto& s : subs_) s->close();
}

}  // namespace skiff::hub::fleet
