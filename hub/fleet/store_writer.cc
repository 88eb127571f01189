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
  if (order_.size() == 1) cv_.notify_one();  // a writer takes it, and more with it
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
  if (order_.size() == 1) cv_.notify_one();
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

void StoreWriter::loop() {
  // Up to this many keys go to the store in one putMany (one SQLite commit, not one per key).
  constexpr std::size_t kBatch = 128;
  constexpr std::chrono::milliseconds kGather{5};
  using Put = common::store::Store::Put;
  std::unique_lock lock(mu_);
  int backoffMs = 0;
  std::vector<Put> batch;
  std::vector<std::uint64_t> seqs;
  while (true) {
    // Writes trickle in one by one (a PUBACK, a report): gather for a moment, so one commit
    // carries many of them instead of a writer waking per key.
    if (!stopping_ && !order_.empty() && order_.size() < kBatch) {
      cv_.wait_for(lock, kGather, [this] { return stopping_ || order_.size() >= kBatch; });
    }
    // The first queued keys nobody is writing now (a key in flight waits for its writer).
    batch.clear();
    seqs.clear();
    for (auto it = order_.begin(); it != order_.end() && batch.size() < kBatch;) {
      if (busy_.contains(*it)) {
        ++it;
        continue;
      }
      std::string key = std::move(*it);
      it = order_.erase(it);
      auto vit = values_.find(key);
      batch.push_back(Put{key, std::move(vit->second)});
      values_.erase(vit);
      auto sit = seqOf_.find(key);
      seqs.push_back(sit->second);
      seqOf_.erase(sit);
      busy_.insert(std::move(key));
    }
    if (batch.empty()) {
      if (stopping_) return;
      cv_.wait(lock);
      continue;
    }
    if (!order_.empty()) cv_.notify_one();  // more for another writer
    lock.unlock();
    std::vector<common::Status> results = store_.putMany(batch);
    lock.lock();
    std::int64_t failed = 0;
    for (std::size_t i = batch.size(); i-- > 0;) {  // backwards: requeued keys keep their order
      Put& w = batch[i];
      busy_.erase(w.key);
      const common::Status& s = results[i];
      if (s.isOk()) {
        outstanding_.erase(seqs[i]);
        continue;
      }
      if (failed++ == 0) {  // one line per batch (a store outage fails them all alike)
        common::log::warn("store write-behind failed; retrying",
                          {{"key", w.key}, {"error", s.toString()}});
      }
      ++failures_;
      // Requeue unless a newer value arrived meanwhile.
      if (!seqOf_.contains(w.key)) {
        values_.emplace(w.key, std::move(w.value));
        seqOf_.emplace(w.key, seqs[i]);
        order_.push_front(w.key);
      } else {
        outstanding_.erase(seqs[i]);
      }
    }
    if (failed > 0) {
      if (failed > 1) {
        common::log::warn("store write-behind: more writes of the batch failed",
                          {{"count", failed - 1}});
      }
      if (stopping_) {
        outstanding_.clear();
        doneCv_.notify_all();
        return;
      }
      backoffMs = std::min(5000, backoffMs == 0 ? 50 : backoffMs * 2);
      cv_.wait_for(lock, std::chrono::milliseconds(backoffMs));
    } else {
      backoffMs = 0;
    }
    doneCv_.notify_all();
    cv_.notify_one();
  }
}

}  // namespace skiff::hub::fleet
