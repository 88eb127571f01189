// The Store seam: a revisioned key-value store with compare-and-swap and watch, the single
// durable state of the control plane and the hub (docs/architecture.md "Seams").
//
// Model (the same as etcd v3's, so both implementations behave alike):
// - One global revision counter, incremented by every successful write (create, update,
//   delete). It is the Kubernetes resourceVersion.
// - Each key carries createRevision (revision of its creation) and modRevision (of its last
//   write). Compare-and-swap compares modRevision.
// - A watch from revision R delivers, in revision order, every change with revision > R under
//   its prefix, then live changes. If R is older than the retained history (compaction), the
//   watch fails with Gone (HTTP 410 at the API server).
//
// Threading: all methods are thread-safe and may be called concurrently. Writes block until
// the change is durable (acknowledged = survives a crash). No method throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace skiff::common::store {

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t createRevision = 0;
  std::int64_t modRevision = 0;
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  // For kPut: the new value. For kDelete: key, and value as it was before deletion;
  // modRevision is the revision of the delete.
  KeyValue kv;
  // The value before this change (kPut of an existing key, or kDelete); absent on creation.
  std::optional<KeyValue> prevKv;
};

struct ListOptions {
  std::size_t limit = 0;      // 0 = no limit
  std::string startAfter;     // continue token: return keys > startAfter
  std::int64_t revision = 0;  // 0 = latest; else read as of this revision (Gone if compacted)
};

struct ListResult {
  std::vector<KeyValue> items;  // sorted by key
  std::int64_t revision = 0;    // store revision the list reflects
  bool more = false;            // more keys after items.back()
};

// A live watch. next() blocks up to timeout; returns std::nullopt on timeout.
// Gone: the watcher fell too far behind (history compacted) and must relist.
// Unavailable: the store is shutting down or the connection was lost.
// Not thread-safe: one consumer thread per Watch. Destroying it cancels the watch.
class Watch {
 public:
  virtual ~Watch() = default;
  virtual Result<std::optional<WatchEvent>> next(std::chrono::milliseconds timeout) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // NotFound if absent. Blocking read.
  virtual Result<KeyValue> get(std::string_view key) = 0;

  // Keys with the given prefix, sorted. Consistent snapshot at result.revision.
  virtual Result<ListResult> list(std::string_view prefix, const ListOptions& opts = {}) = 0;

  // Creates key. AlreadyExists if present. Returns the new revision. Not idempotent.
  virtual Result<std::int64_t> create(std::string_view key, std::string_view value) = 0;

  // Replaces key's value if its modRevision == expectedModRevision (0 = unconditional).
  // NotFound if absent; Conflict if the revision differs. Returns the new revision.
  virtual Result<std::int64_t> update(std::string_view key, std::string_view value,
                                      std::int64_t expectedModRevision) = 0;

  // Deletes key if modRevision == expectedModRevision (0 = unconditional). Returns the deleted
  // value with modRevision set to the delete's revision. NotFound / Conflict as update.
  virtual Result<KeyValue> remove(std::string_view key, std::int64_t expectedModRevision) = 0;

  // Watches keys under prefix for changes after fromRevision (0 = from now).
  // Gone if fromRevision is older than the retained history.
  virtual Result<std::unique_ptr<Watch>> watch(std::string_view prefix,
                                               std::int64_t fromRevision) = 0;

  // Current revision (the last committed write). Cheap.
  virtual Result<std::int64_t> currentRevision() = 0;

  // An unconditional write for putMany: the value to store, or nullopt to delete the key.
  struct Put {
    std::string key;
    std::optional<std::string> value;
  };
  // Applies unconditional writes — a put creates or replaces the key, a delete of an absent key
  // is no error — in order, and returns one status per write. Callers may not rely on atomicity
  // across them; a store may commit several together (then they may share one revision), which
  // is the point: write-behind of many keys costs one commit, not one per key. The default makes
  // one call per write.
  virtual std::vector<Status> putMany(const std::vector<Put>& writes) {
    std::vector<Status> out;
    out.reserve(writes.size());
    for (const auto& w : writes) out.push_back(putOne(w));
    return out;
  }

 private:
  Status putOne(const Put& w) {
    if (!w.value) {
      auto r = remove(w.key, 0);
      return r.isOk() || r.status().code() == StatusCode::kNotFound ? Status::ok() : r.status();
    }
    auto r = update(w.key, *w.value, 0);
    if (r.isOk() || r.status().code() != StatusCode::kNotFound) return r.status();
    auto c = create(w.key, *w.value);
    if (c.isOk() || c.status().code() != StatusCode::kAlreadyExists) return c.status();
    return update(w.key, *w.value, 0).status();  // created meanwhile by another writer
  }
};

// Optional capability of a Store (query it with dynamic_cast): discarding old history so the
// change log does not grow without bound. After compact(R), list at R and watch from R still
// work; older revisions fail with Gone (a watch from R - 1 may still succeed where the backend
// keeps revision R's change, as etcd does). Thread-safe like Store.
class Compactor {
 public:
  virtual ~Compactor() = default;
  // Blocks until the history before R is discarded. Idempotent: compacting at or below
  // compactedRevision() is Ok. InvalidArgument if R > currentRevision().
  virtual Status compact(std::int64_t revision) = 0;
  // The oldest revision list/watch still accept (0 if never compacted). Cheap, non-blocking.
  virtual std::int64_t compactedRevision() = 0;
};

}  // namespace skiff::common::store
