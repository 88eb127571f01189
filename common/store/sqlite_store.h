// SqliteStore: the Store seam on a single SQLite file, for a single-node control plane or hub
// that must not depend on an etcd cluster. It owns the file, a writer thread that group-commits
// concurrent writes (one transaction and one fsync per batch), a small pool of read connections,
// the fan-out of changes to watchers, and periodic compaction of the change log.
//
// Durability: WAL journal with synchronous=FULL; a write returns only after its transaction has
// committed, so an acknowledged write survives a process crash. Revisions are persisted with the
// data, so a reopened store continues the sequence and never reuses a revision.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/store/sqlite_db.h"
#include "common/store/store.h"

namespace skiff::common::store {

struct SqliteStoreOptions {
  std::string path;  // database file; created if missing, its directory must exist
  // How many past revisions the change log keeps for watch and list-at-revision.
  std::int64_t historyRevisions = 100000;
  // How often the newest historyRevisions revisions are kept and older history discarded;
  // 0 disables automatic compaction (compact() still works).
  std::chrono::milliseconds autoCompactInterval = std::chrono::seconds(60);
  // Most writes committed in one transaction.
  std::size_t maxBatch = 256;
  // Events buffered per watcher; a watcher that falls further behind gets Gone and must relist,
  // so a slow consumer never stalls the writer.
  std::size_t watchQueueLimit = 10000;
  // Read connections (get/list/watch replay); readers never wait for the writer.
  std::size_t readConnections = 4;
  // Largest accepted value; bigger writes fail with InvalidArgument before reaching SQLite.
  std::size_t maxValueBytes = 64 * 1024 * 1024;
  std::chrono::milliseconds busyTimeout = std::chrono::seconds(5);
  // Run PRAGMA quick_check on open so a damaged file is refused at startup rather than failing
  // some later write (cost: one pass over the file).
  bool verifyOnOpen = true;
};

struct SqliteStoreStats {
  std::uint64_t writes = 0;        // successful writes (each consumed one revision)
  std::uint64_t transactions = 0;  // committed write batches (one WAL fsync each)
};

class SqliteStore final : public Store, public Compactor {
 public:
  // Opens or creates the store. Internal with a clear message if the file is not a (healthy)
  // SQLite database or has an unknown schema version; NotFound/PermissionDenied for path errors.
  static Result<std::unique_ptr<SqliteStore>> open(const SqliteStoreOptions& options);

  // Finishes the queued writes, stops the writer thread and wakes every watcher (their next()
  // then returns Unavailable). Watches may outlive the store.
  ~SqliteStore() override;

  Result<KeyValue> get(std::string_view key) override;
  Result<ListResult> list(std::string_view prefix, const ListOptions& opts = {}) override;
  Result<std::int64_t> create(std::string_view key, std::string_view value) override;
  Result<std::int64_t> update(std::string_view key, std::string_view value,
                              std::int64_t expectedModRevision) override;
  Result<KeyValue> remove(std::string_view key, std::int64_t expectedModRevision) override;
  // Queues all writes at once, so the writer commits them in as few transactions as its batch
  // size allows.
  std::vector<Status> putMany(const std::vector<Put>& writes) override;
  Result<std::unique_ptr<Watch>> watch(std::string_view prefix, std::int64_t fromRevision) override;
  Result<std::int64_t> currentRevision() override;

  Status compact(std::int64_t revision) override;
  std::int64_t compactedRevision() override;

  // Counters since open. Thread-safe, cheap.
  SqliteStoreStats stats() const;

  // Defined in sqlite_store.cc; named here only so the class can hold them.
  struct Shared;
  struct WriteRequest;

 private:
  SqliteStore(SqliteStoreOptions options, SqliteDb writerDb, std::int64_t revision,
              std::int64_t compacted);

  // Queues a request for the writer thread and blocks until its batch committed (or failed).
  Result<KeyValue> submit(std::unique_ptr<WriteRequest> request);
  Status validateWrite(std::string_view key, std::string_view value) const;

  // Writer thread only.
  void writerLoop();
  void applyBatch(std::vector<std::unique_ptr<WriteRequest>>& batch);
  Status applyCompaction(std::int64_t revision);

  const SqliteStoreOptions options_;
  std::shared_ptr<Shared> shared_;  // read pool + watcher registry, shared with live watches
  SqliteDb writerDb_;               // used by the writer thread only

  std::mutex queueMu_;
  std::condition_variable queueCv_;
  std::deque<std::unique_ptr<WriteRequest>> queue_;  // guarded by queueMu_
  bool stopping_ = false;                            // guarded by queueMu_

  std::atomic<std::int64_t> revision_;   // last committed revision
  std::atomic<std::int64_t> compacted_;  // last committed compaction
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> transactions_{0};

  std::thread writer_;  // last member: starts after everything it uses is constructed
};

}  // namespace skiff::common::store
