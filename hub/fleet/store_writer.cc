// Write-behind pool over the Store.
#include "hub/fleet/store_writer.h"

#include "common/log.h"

namespace skiff::hub::fleet {

StoreWriter::StoreWriter(common::store::Store& store, int threads) : store_(store) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { loop(); });
}

StoreWriter::~StoreWriter() { stop(); }

void StoreWriter::put(const std::string& key, std::string value) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  auto [it, inserted] = values_.insert_or_assign(key, std::move(value));
  (void)it;
  std::uint64_t seq = ++enqueued_;
  auto old = seqOf_.find(key);
  if (old != seqOf_.end()) {
    outstanding_.erase(old->second);
    old->second = seq;
  } else {
    seqOf_.emplace(key, seq);
    order_.push_back(key);
  }
  outstanding_.insert(seq);
  (void)inserted;
  cv_.notify_one();
}

void StoreWriter::remove(const std::string& key) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  values_.insert_or_assign(key, std::nullopt);
  std::uint64_t seq = ++enqueued_;
  auto old = seqOf_.find(key);
  if (old != seqOf_.end()) {
    outstanding_.erase(old->second);
    old->second = seq;
  } else {
    seqOf_.emplace(key, seq);
    order_.push_back(key);
  }
  outstanding_.insert(seq);
  cv_.notify_one();
}

bool StoreWriter::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  std::uint64_t upTo = enqueued_;
  return doneCv_.wait_for(lock, timeout,
                          [&] { return outstanding_.empty() || *outstanding_.begin() > upTo; });
}

void StoreWriter::stop(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mu_);
    if (threads_.empty()) return;
  }
  if (!flush(timeout)) {
    common::log::warn("store write-behind: not everything was written before shutdown",
                      {{"queued", static_cast<std::int64_t>(queued())}});
  }
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

std::size_t StoreWriter::queued() const {
  std::lock_guard lock(mu_);
  return outstanding_.size();
}

std::uint64_t StoreWriter::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

common::Status StoreWriter::write(const std::string& key, const std::optional<std::string>& value) {
  if (!value) {
    auto r = store_.remove(key, 0);
    if (!r.isOk() && r.status().code() != common::StatusCode::kNotFound) return r.status();
    return common::Status::ok();
  }
  auto r = store_.update(key, *value, 0);
  if (r.isOk()) return common::Status::ok();
  if (r.status().code() != common::StatusCode::kNotFound) return r.status();
  auto c = store_.create(key, *value);
  if (c.isOk()) return common::Status::ok();
  if (c.status().code() == common::StatusCode::kAlreadyExists) {
    return store_.update(key, *value, 0).status();
  }
  return c.status();
}

void StoreWriter::loop() {
  std::unique_lock lock(mu_);
  int backoffMs = 0;
  while (true) {
    // The first queued key nobody is writing now (a key in flight waits for its writer).
    auto pick = order_.end();
    for (auto it = order_.begin(); it != order_.end(); ++it) {
      if (!busy_.contains(*it)) {
        pick = it;
        break;
      }
    }
    if (pick == order_.end()) {
      if (stopping_) return;
      cv_.wait(lock);
      continue;
    }
    std::string key = *pick;
    order_.erase(pick);
    auto vit = values_.find(key);
    std::optional<std::string> value = std::move(vit->second);
    values_.erase(vit);
    std::uint64_t seq = seqOf_[key];
    seqOf_.erase(key);
    busy_.insert(key);
    lock.unlock();
    common::Status s = write(key, value);
    lock.lock();
    busy_.erase(key);
    if (s.isOk()) {
      backoffMs = 0;
      outstanding_.erase(seq);
    } else {
      ++failures_;
      common::log::warn("store write-behind failed; retrying",
                        {{"key", key}, {"error", s.toString()}});
      // Requeue unless a newer value arrived meanwhile.
      if (!seqOf_.contains(key)) {
        values_.emplace(key, std::move(value));
        seqOf_.emplace(key, seq);
        order_.push_front(key);
      } else {
        outstanding_.erase(seq);
      }
      if (stopping_) {
        outstanding_.clear();
        doneCv_.notify_all();
        return;
      }
      backoffMs = std::min(5000, backoffMs == 0 ? 50 : backoffMs * 2);
      cv_.wait_for(lock, std::chrono::milliseconds(backoffMs));
    }
    doneCv_.notify_all();
    cv_.notify_one();
  }
}

}  // namespace skiff::hub::fleet
