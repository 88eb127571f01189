// Write-behind for state that may lag the in-memory truth by a moment (published desired
// records, twins, last-seen shards): put()/remove() return at once; a small pool of threads
// writes to the Store concurrently, each up to 128 keys per Store::putMany (the SQLite store
// commits them in one transaction; etcd takes them one by one, the threads pipelining them). Writes
// to one key are coalesced (only the newest value is written) and never reordered. flush() waits
// until everything queued so far is durable. Thread-safe. A failed write is retried with backoff
// until stop().
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/store/store.h"

namespace skiff::hub::fleet {

class StoreWriter {
 public:
  StoreWriter(common::store::Store& store, int threads);
  ~StoreWriter();
  void put(const std::string& key, std::string value);
  void remove(const std::string& key);
  // Blocks until every write queued before the call committed, or timeout (false).
  bool flush(std::chrono::milliseconds timeout);
  // Flushes (up to timeout) and stops the threads. Idempotent.
  void stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::size_t queued() const;
  std::uint64_t failures() const;

 private:
  void loop();

  common::store::Store& store_;
  mutable std::mutex mu_;
  std::condition_variable cv_;                                // work available / stopping
  std::condition_variable doneCv_;                            // a write finished
  std::map<std::string, std::optional<std::string>> values_;  // nullopt: delete
  std::deque<std::string> order_;
  std::set<std::string> busy_;  // keys being written now
  std::uint64_t enqueued_ = 0;  // sequence numbers: queue positions handed out
  std::uint64_t completed_ = 0;
  std::map<std::string, std::uint64_t> seqOf_;  // newest sequence per queued key
  std::set<std::uint64_t> outstanding_;
  std::uint64_t failures_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace skiff::hub::fleet
