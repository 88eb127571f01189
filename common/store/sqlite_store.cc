// SqliteStore implementation. Over 800 lines on purpose: the whole Store contract (revisions,
// compare-and-swap, watch fan-out, compaction, restart recovery) over one SQLite connection is
// one adapter of one C library (docs/conventions.md #4); sqlite_db.h holds the statement RAII.
//
// Schema (PRAGMA user_version = 1):
//   kv(key TEXT PRIMARY KEY, value BLOB, create_rev, mod_rev)    current state
//   changes(rev INTEGER PRIMARY KEY, key, type, value, prev_value, prev_create_rev,
//           prev_mod_rev, create_rev)                            one row per revision
//   meta(id = 1, revision, compacted)                            counters, written with the data
// A changes row has prev_* NULL when it created its key; type 0 = put, 1 = delete (value NULL).
// Keys are TEXT compared with the BINARY collation (memcmp), so ordering and prefix ranges are
// byte-exact; values are BLOBs and may hold any bytes.
//
// Concurrency: writes go through one writer thread and connection (group commit); reads use a
// pool of other connections, each read a WAL snapshot, so they never wait for the writer. After
// a batch commits the writer publishes its events to the watch hub, then acknowledges the
// callers, so a watch opened after a write returned never reports that write as new.
#include "common/store/sqlite_store.h"

#include <algorithm>
#include <future>
#include <optional>
#include <unordered_map>
#include <utility>

#include "common/log.h"

namespace skiff::common::store {

namespace {

constexpr int kSchemaVersion = 1;
constexpr int kTypePut = 0;
constexpr int kTypeDelete = 1;
constexpr std::int64_t kReplayPageSize = 256;

// The smallest string greater than every string starting with prefix, or nullopt when there is
// none (empty prefix or all 0xff bytes).
std::optional<std::string> prefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last != 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::nullopt;
}

// "key >= ?lo AND key < ?hi" for a prefix. Parameters: ?1 = prefix, ?2 = prefix end (only when
// the prefix has one); the caller appends its own conditions after these.
std::string keyRangeSql(const std::string& column, bool hasEnd) {
  std::string sql = column + " >= ?1";
  if (hasEnd) sql += " AND " + column + " < ?2";
  return sql;
}

Status goneStatus(std::int64_t required, std::int64_t compacted) {
  return gone("required revision " + std::to_string(required) +
              " has been compacted; oldest available is " + std::to_string(compacted));
}

struct Meta {
  std::int64_t revision = 0;
  std::int64_t compacted = 0;
};

Result<Meta> readMeta(SqliteDb& db) {
  SKIFF_ASSIGN_OR_RETURN(ScopedStatement stmt,
                         db.cached("SELECT revision, compacted FROM meta WHERE id = 1"));
  SKIFF_ASSIGN_OR_RETURN(bool row, stmt->step());
  if (!row) return internalError("sqlite store: meta row missing");
  return Meta{stmt->columnInt64(0), stmt->columnInt64(1)};
}

// Builds the event for a changes row selected as
// rev, key, type, value, prev_value, prev_create_rev, prev_mod_rev, create_rev.
WatchEvent eventFromRow(const SqliteStatement& row) {
  WatchEvent ev;
  ev.type = row.columnInt64(2) == kTypeDelete ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
  ev.kv.key = row.columnText(1);
  ev.kv.modRevision = row.columnInt64(0);
  ev.kv.createRevision = row.columnInt64(7);
  if (!row.columnIsNull(6)) {
    ev.prevKv = KeyValue{ev.kv.key, row.columnBlob(4), row.columnInt64(5), row.columnInt64(6)};
  }
  if (ev.type == WatchEvent::Type::kPut) {
    ev.kv.value = row.columnBlob(3);
  } else if (ev.prevKv) {
    ev.kv.value = ev.prevKv->value;
  }
  return ev;
}

Status initializeSchema(SqliteDb& db, bool verify) {
  // The first statement to read the file: a file that is not a database fails here.
  {
    SKIFF_ASSIGN_OR_RETURN(SqliteStatement stmt, db.prepare("PRAGMA journal_mode = WAL"));
    SKIFF_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row || stmt.columnText(0) != "wal") {
      return unavailable("cannot enable WAL journal mode (got '" +
                         (row ? stmt.columnText(0) : std::string()) + "')");
    }
  }
  SKIFF_RETURN_IF_ERROR(db.exec("PRAGMA synchronous = FULL"));
  if (verify) {
    SKIFF_ASSIGN_OR_RETURN(SqliteStatement stmt, db.prepare("PRAGMA quick_check"));
    std::string problems;
    for (;;) {
      SKIFF_ASSIGN_OR_RETURN(bool row, stmt.step());
      if (!row) break;
      std::string line = stmt.columnText(0);
      if (line == "ok") continue;
      if (!problems.empty()) problems += "; ";
      problems += line;
    }
    if (!problems.empty()) return internalError("database file is damaged: " + problems);
  }

  SKIFF_ASSIGN_OR_RETURN(auto txn,
                         SqliteTransaction::begin(db, SqliteTransaction::Kind::kImmediate));
  std::int64_t version = 0;
  {
    SKIFF_ASSIGN_OR_RETURN(SqliteStatement stmt, db.prepare("PRAGMA user_version"));
    SKIFF_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (row) version = stmt.columnInt64(0);
  }
  if (version == kSchemaVersion) return txn.commit();
  if (version != 0) {
    return internalError("unsupported schema version " + std::to_string(version) +
                         " (this build reads version " + std::to_string(kSchemaVersion) + ")");
  }
  SKIFF_RETURN_IF_ERROR(db.exec(R"sql(
    CREATE TABLE kv (
      key TEXT PRIMARY KEY NOT NULL,
      value BLOB NOT NULL,
      create_rev INTEGER NOT NULL,
      mod_rev INTEGER NOT NULL
    );
    CREATE TABLE changes (
      rev INTEGER PRIMARY KEY,
      key TEXT NOT NULL,
      type INTEGER NOT NULL,
      value BLOB,
      prev_value BLOB,
      prev_create_rev INTEGER,
      prev_mod_rev INTEGER,
      create_rev INTEGER NOT NULL
    );
    CREATE INDEX changes_key_rev ON changes (key, rev);
    CREATE TABLE meta (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      revision INTEGER NOT NULL,
      compacted INTEGER NOT NULL
    );
    INSERT INTO meta (id, revision, compacted) VALUES (1, 0, 0);
    PRAGMA user_version = 1;
  )sql"));
  return txn.commit();
}

// Read connections, opened lazily up to a maximum and handed out one per reader.
class ReadPool {
 public:
  ReadPool(std::string path, std::size_t max, std::chrono::milliseconds busyTimeout)
      : path_(std::move(path)), max_(std::max<std::size_t>(1, max)), busyTimeout_(busyTimeout) {}

  // Returns its connection to the pool when destroyed.
  class Lease {
   public:
    Lease(ReadPool* pool, std::unique_ptr<SqliteDb> db) : pool_(pool), db_(std::move(db)) {}
    ~Lease() {
      if (db_) pool_->release(std::move(db_));
    }
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    SqliteDb& db() { return *db_; }

   private:
    ReadPool* pool_;
    std::unique_ptr<SqliteDb> db_;
  };

  // Blocks while all connections are in use. Unavailable once closed.
  Result<Lease> acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !idle_.empty() || open_ < max_; });
    if (closed_) return unavailable("sqlite store is closed");
    if (!idle_.empty()) {
      auto db = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(db));
    }
    ++open_;
    lock.unlock();
    auto db =
        SqliteDb::open(path_, {.create = false, .readOnly = true, .busyTimeout = busyTimeout_});
    if (!db.isOk()) {
      lock.lock();
      --open_;
      cv_.notify_one();
      return db.status();
    }
    return Lease(this, std::make_unique<SqliteDb>(std::move(db).value()));
  }

  // Closes idle connections now and leased ones when they come back.
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    idle_.clear();
    cv_.notify_all();
  }

 private:
  void release(std::unique_ptr<SqliteDb> db) {
    std::lock_guard lock(mu_);
    if (closed_) {
      --open_;
      return;  // db closes as it goes out of scope
    }
    idle_.push_back(std::move(db));
    cv_.notify_one();
  }

  const std::string path_;
  const std::size_t max_;
  const std::chrono::milliseconds busyTimeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<SqliteDb>> idle_;
  std::size_t open_ = 0;
  bool closed_ = false;
};

using EventPtr = std::shared_ptr<const WatchEvent>;

// One watcher's live-event queue, filled by the writer thread and drained by next().
struct WatcherState {
  explicit WatcherState(std::string p) : prefix(std::move(p)) {}
  const std::string prefix;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<EventPtr> queue;  // guarded by mu
  bool overflowed = false;     // guarded by mu
  bool closed = false;         // guarded by mu
};

// Registry of live watchers. subscribe() and publish() share one mutex, so a new watcher
// receives exactly the events of revisions after the one subscribe() returns.
class WatchHub {
 public:
  explicit WatchHub(std::size_t queueLimit, std::int64_t published)
      : queueLimit_(std::max<std::size_t>(1, queueLimit)), published_(published) {}

  // Returns the last revision already published (the watcher sees every later one).
  Result<std::int64_t> subscribe(std::shared_ptr<WatcherState> watcher) {
    std::lock_guard lock(mu_);
    if (closed_) return unavailable("sqlite store is closed");
    watchers_.push_back(std::move(watcher));
    return published_;
  }

  void unsubscribe(const WatcherState* watcher) {
    std::lock_guard lock(mu_);
    std::erase_if(watchers_, [&](const auto& w) { return w.get() == watcher; });
  }

  // Events in revision order, all with revisions <= revision.
  void publish(const std::vector<EventPtr>& events, std::int64_t revision) {
    std::lock_guard lock(mu_);
    for (const auto& w : watchers_) {
      bool pushed = false;
      std::lock_guard wlock(w->mu);
      if (w->overflowed) continue;
      for (const auto& ev : events) {
        if (!ev->kv.key.starts_with(w->prefix)) continue;
        if (w->queue.size() >= queueLimit_) {
          // Dropping the backlog frees memory now; the consumer must relist anyway.
          w->overflowed = true;
          w->queue.clear();
          pushed = true;
          break;
        }
        w->queue.push_back(ev);
        pushed = true;
      }
      if (pushed) w->cv.notify_all();
    }
    published_ = revision;
  }

  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (const auto& w : watchers_) {
      std::lock_guard wlock(w->mu);
      w->closed = true;
      w->cv.notify_all();
    }
    watchers_.clear();
  }

  std::size_t queueLimit() const { return queueLimit_; }

 private:
  const std::size_t queueLimit_;
  std::mutex mu_;
  std::vector<std::shared_ptr<WatcherState>> watchers_;
  std::int64_t published_;
  bool closed_ = false;
};

}  // namespace

struct SqliteStore::Shared {
  Shared(const SqliteStoreOptions& o, std::int64_t revision)
      : reads(o.path, o.readConnections, o.busyTimeout), hub(o.watchQueueLimit, revision) {}
  ReadPool reads;
  WatchHub hub;
};

struct SqliteStore::WriteRequest {
  enum class Op { kCreate, kUpdate, kPut, kRemove, kCompact };  // kPut: create or replace
  Op op = Op::kCreate;
  std::string key;
  std::string value;
  std::int64_t revision = 0;  // expected modRevision (0 = any), or the compaction target
  std::promise<Result<KeyValue>> done;
};

namespace {

// A watch: first replays the change log between its start revision and the revision at which
// it subscribed (page by page, so a long history never sits in memory), then live events.
class SqliteWatch final : public Watch {
 public:
  SqliteWatch(std::shared_ptr<SqliteStore::Shared> shared, std::shared_ptr<WatcherState> state,
              std::int64_t from, std::int64_t replayEnd)
      : shared_(std::move(shared)),
        state_(std::move(state)),
        end_(prefixEnd(state_->prefix)),
        cursor_(from),
        replayEnd_(replayEnd),
        lastDelivered_(from) {}

  ~SqliteWatch() override { shared_->hub.unsubscribe(state_.get()); }

  Result<std::optional<WatchEvent>> next(std::chrono::milliseconds timeout) override {
    if (replay_.empty() && cursor_ < replayEnd_) SKIFF_RETURN_IF_ERROR(fetchReplayPage());
    if (!replay_.empty()) {
      WatchEvent ev = std::move(replay_.front());
      replay_.pop_front();
      lastDelivered_ = ev.kv.modRevision;
      return std::optional<WatchEvent>(std::move(ev));
    }

    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(state_->mu);
    for (;;) {
      if (state_->overflowed) {
        return gone("watch fell more than " + std::to_string(shared_->hub.queueLimit()) +
                    " events behind; relist and watch again");
      }
      while (!state_->queue.empty()) {
        EventPtr ev = std::move(state_->queue.front());
        state_->queue.pop_front();
        // Defensive: live events never overlap the replay, but a duplicate must never escape.
        if (ev->kv.modRevision <= lastDelivered_) continue;
        lastDelivered_ = ev->kv.modRevision;
        return std::optional<WatchEvent>(*ev);
      }
      if (state_->closed) return unavailable("sqlite store is closed");
      if (state_->cv.wait_until(lock, deadline) == std::cv_status::timeout &&
          state_->queue.empty() && !state_->overflowed && !state_->closed) {
        return std::optional<WatchEvent>();
      }
    }
  }

 private:
  Status fetchReplayPage() {
    SKIFF_ASSIGN_OR_RETURN(auto lease, shared_->reads.acquire());
    SqliteDb& db = lease.db();
    // One snapshot for the compaction check and the page, so compaction cannot slip between.
    SKIFF_ASSIGN_OR_RETURN(auto txn,
                           SqliteTransaction::begin(db, SqliteTransaction::Kind::kDeferred));
    SKIFF_ASSIGN_OR_RETURN(Meta meta, readMeta(db));
    if (cursor_ < meta.compacted) return goneStatus(cursor_, meta.compacted);
    // "+key" keeps the planner on the rev range: a page then costs its rows, not a scan and
    // sort of every change under a broad prefix.
    std::string sql =
        "SELECT rev, key, type, value, prev_value, prev_create_rev, prev_mod_rev, create_rev "
        "FROM changes WHERE " +
        keyRangeSql("+key", end_.has_value()) + " AND rev > ?3 AND rev <= ?4 ORDER BY rev LIMIT ?5";
    SKIFF_ASSIGN_OR_RETURN(ScopedStatement stmt, db.cached(sql));
    stmt->bindText(1, state_->prefix);
    if (end_) stmt->bindText(2, *end_);
    stmt->bindInt64(3, cursor_);
    stmt->bindInt64(4, replayEnd_);
    stmt->bindInt64(5, kReplayPageSize);
    std::int64_t rows = 0;
    for (;;) {
      SKIFF_ASSIGN_OR_RETURN(bool row, stmt->step());
      if (!row) break;
      replay_.push_back(eventFromRow(*stmt));
      ++rows;
    }
    cursor_ = rows < kReplayPageSize ? replayEnd_ : replay_.back().kv.modRevision;
    return Status::ok();
  }

  std::shared_ptr<SqliteStore::Shared> shared_;
  std::shared_ptr<WatcherState> state_;
  const std::optional<std::string> end_;
  std::int64_t cursor_;           // replayed everything up to here
  const std::int64_t replayEnd_;  // revision at subscription; later ones arrive live
  std::int64_t lastDelivered_;
  std::deque<WatchEvent> replay_;
};

}  // namespace

// ---- open / close ----

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const SqliteStoreOptions& options) {
  if (options.path.empty()) return invalidArgument("sqlite store: path is empty");
  if (options.maxBatch == 0) return invalidArgument("sqlite store: maxBatch must be > 0");
  if (options.historyRevisions < 0) {
    return invalidArgument("sqlite store: historyRevisions must be >= 0");
  }
  auto context = "open sqlite store " + options.path;
  auto db = SqliteDb::open(options.path, {.create = true, .busyTimeout = options.busyTimeout});
  if (!db.isOk()) return db.status().withContext(context);
  if (Status s = initializeSchema(*db, options.verifyOnOpen); !s.isOk()) {
    return s.withContext(context);
  }
  auto meta = readMeta(*db);
  if (!meta.isOk()) return meta.status().withContext(context);
  return std::unique_ptr<SqliteStore>(
      new SqliteStore(options, std::move(db).value(), meta->revision, meta->compacted));
}

SqliteStore::SqliteStore(SqliteStoreOptions options, SqliteDb writerDb, std::int64_t revision,
                         std::int64_t compacted)
    : options_(std::move(options)),
      shared_(std::make_shared<Shared>(options_, revision)),
      writerDb_(std::move(writerDb)),
      revision_(revision),
      compacted_(compacted),
      writer_([this] { writerLoop(); }) {}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(queueMu_);
    stopping_ = true;
  }
  queueCv_.notify_all();
  writer_.join();  // drains the queue first
  shared_->hub.close();
  shared_->reads.close();
}

// ---- reads ----

Result<KeyValue> SqliteStore::get(std::string_view key) {
  SKIFF_ASSIGN_OR_RETURN(auto lease, shared_->reads.acquire());
  SKIFF_ASSIGN_OR_RETURN(
      ScopedStatement stmt,
      lease.db().cached("SELECT value, create_rev, mod_rev FROM kv WHERE key = ?1"));
  stmt->bindText(1, key);
  SKIFF_ASSIGN_OR_RETURN(bool row, stmt->step());
  if (!row) return notFound("key " + std::string(key) + " not found");
  return KeyValue{std::string(key), stmt->columnBlob(0), stmt->columnInt64(1),
                  stmt->columnInt64(2)};
}

Result<ListResult> SqliteStore::list(std::string_view prefix, const ListOptions& opts) {
  if (opts.revision < 0) return invalidArgument("list: negative revision");
  SKIFF_ASSIGN_OR_RETURN(auto lease, shared_->reads.acquire());
  SqliteDb& db = lease.db();
  SKIFF_ASSIGN_OR_RETURN(auto txn,
                         SqliteTransaction::begin(db, SqliteTransaction::Kind::kDeferred));
  SKIFF_ASSIGN_OR_RETURN(Meta meta, readMeta(db));
  std::int64_t at = opts.revision == 0 ? meta.revision : opts.revision;
  if (at > meta.revision) {
    return invalidArgument("too large resource version: requested " + std::to_string(at) +
                           ", current " + std::to_string(meta.revision));
  }
  if (at < meta.compacted) return goneStatus(at, meta.compacted);

  auto end = prefixEnd(prefix);
  // ?1 prefix, ?2 prefix end, ?3 startAfter, ?4 limit, ?5 revision.
  std::string range = keyRangeSql("key", end.has_value()) + " AND key > ?3";
  std::string sql;
  if (at == meta.revision) {
    sql =
        "SELECT key, value, create_rev, mod_rev FROM kv WHERE " + range + " ORDER BY key LIMIT ?4";
  } else {
    // Keys untouched since `at` are current; every other key is as the first change after
    // `at` found it (absent when that change created it).
    sql = "SELECT key, value, create_rev, mod_rev FROM kv WHERE " + range +
          " AND mod_rev <= ?5"
          " UNION ALL "
          "SELECT key, prev_value, prev_create_rev, prev_mod_rev FROM changes WHERE rev IN ("
          "SELECT MIN(rev) FROM changes WHERE " +
          range + " AND rev > ?5 GROUP BY key) AND prev_mod_rev IS NOT NULL ORDER BY 1 LIMIT ?4";
  }
  SKIFF_ASSIGN_OR_RETURN(ScopedStatement stmt, db.cached(sql));
  stmt->bindText(1, prefix);
  if (end) stmt->bindText(2, *end);
  stmt->bindText(3, opts.startAfter);
  // One extra row tells whether more remain; -1 is SQLite's "no limit".
  stmt->bindInt64(4, opts.limit == 0 ? -1 : static_cast<std::int64_t>(opts.limit) + 1);
  if (at != meta.revision) stmt->bindInt64(5, at);

  ListResult out;
  out.revision = at;
  for (;;) {
    SKIFF_ASSIGN_OR_RETURN(bool row, stmt->step());
    if (!row) break;
    if (opts.limit != 0 && out.items.size() == opts.limit) {
      out.more = true;
      break;
    }
    out.items.push_back(KeyValue{stmt->columnText(0), stmt->columnBlob(1), stmt->columnInt64(2),
                                 stmt->columnInt64(3)});
  }
  return out;
}

Result<std::int64_t> SqliteStore::currentRevision() { return revision_.load(); }

std::int64_t SqliteStore::compactedRevision() { return compacted_.load(); }

SqliteStoreStats SqliteStore::stats() const { return {writes_.load(), transactions_.load()}; }

Result<std::unique_ptr<Watch>> SqliteStore::watch(std::string_view prefix,
                                                  std::int64_t fromRevision) {
  if (fromRevision < 0) return invalidArgument("watch: negative revision");
  auto state = std::make_shared<WatcherState>(std::string(prefix));
  SKIFF_ASSIGN_OR_RETURN(std::int64_t published, shared_->hub.subscribe(state));
  // From here on the watch owns the subscription (its destructor unsubscribes).
  std::int64_t from = fromRevision == 0 ? published : fromRevision;
  auto watch = std::make_unique<SqliteWatch>(shared_, std::move(state), from, published);
  // Fail fast when already compacted; a compaction racing with this check is caught by the
  // first replay read, which checks again inside its snapshot.
  std::int64_t compacted = compacted_.load();
  if (from < compacted) return goneStatus(from, compacted);
  return std::unique_ptr<Watch>(std::move(watch));
}

// ---- writes ----

Status SqliteStore::validateWrite(std::string_view key, std::string_view value) const {
  if (key.empty()) return invalidArgument("key is empty");
  if (key.size() > options_.maxValueBytes) return invalidArgument("key is too large");
  if (value.size() > options_.maxValueBytes) {
    return invalidArgument("value of " + std::to_string(value.size()) +
                           " bytes exceeds the limit of " + std::to_string(options_.maxValueBytes));
  }
  return Status::ok();
}

Result<KeyValue> SqliteStore::submit(std::unique_ptr<WriteRequest> request) {
  auto done = request->done.get_future();
  {
    std::lock_guard lock(queueMu_);
    if (stopping_) return unavailable("sqlite store is closing");
    queue_.push_back(std::move(request));
  }
  queueCv_.notify_one();
  return done.get();
}

Result<std::int64_t> SqliteStore::create(std::string_view key, std::string_view value) {
  SKIFF_RETURN_IF_ERROR(validateWrite(key, value));
  auto req = std::make_unique<WriteRequest>();
  req->op = WriteRequest::Op::kCreate;
  req->key = key;
  req->value = value;
  SKIFF_ASSIGN_OR_RETURN(KeyValue kv, submit(std::move(req)));
  return kv.modRevision;
}

Result<std::int64_t> SqliteStore::update(std::string_view key, std::string_view value,
                                         std::int64_t expectedModRevision) {
  SKIFF_RETURN_IF_ERROR(validateWrite(key, value));
  auto req = std::make_unique<WriteRequest>();
  req->op = WriteRequest::Op::kUpdate;
  req->key = key;
  req->value = value;
  req->revision = expectedModRevision;
  SKIFF_ASSIGN_OR_RETURN(KeyValue kv, submit(std::move(req)));
  return kv.modRevision;
}

std::vector<Status> SqliteStore::putMany(const std::vector<Put>& writes) {
  std::vector<Status> out(writes.size());
  std::vector<std::pair<std::size_t, std::future<Result<KeyValue>>>> pending;
  pending.reserve(writes.size());
  {
    std::lock_guard lock(queueMu_);
    for (std::size_t i = 0; i < writes.size(); ++i) {
      const Put& w = writes[i];
      std::string_view value = w.value ? std::string_view(*w.value) : std::string_view();
      if (Status v = validateWrite(w.key, value); !v.isOk()) {
        out[i] = v;
        continue;
      }
      if (stopping_) {
        out[i] = unavailable("sqlite store is closing");
        continue;
      }
      auto req = std::make_unique<WriteRequest>();
      req->op = w.value ? WriteRequest::Op::kPut : WriteRequest::Op::kRemove;
      req->key = w.key;
      if (w.value) req->value = *w.value;
      pending.emplace_back(i, req->done.get_future());
      queue_.push_back(std::move(req));
    }
  }
  queueCv_.notify_one();
  for (auto& [i, done] : pending) {
    Result<KeyValue> r = done.get();
    bool absentDelete = !writes[i].value && !r.isOk() && r.status().code() == StatusCode::kNotFound;
    out[i] = r.isOk() || absentDelete ? Status::ok() : r.status();
  }
  return out;
}

Result<KeyValue> SqliteStore::remove(std::string_view key, std::int64_t expectedModRevision) {
  SKIFF_RETURN_IF_ERROR(validateWrite(key, {}));
  auto req = std::make_unique<WriteRequest>();
  req->op = WriteRequest::Op::kRemove;
  req->key = key;
  req->revision = expectedModRevision;
  return submit(std::move(req));
}

Status SqliteStore::compact(std::int64_t revision) {
  auto req = std::make_unique<WriteRequest>();
  req->op = WriteRequest::Op::kCompact;
  req->revision = revision;
  return submit(std::move(req)).status();
}

// ---- writer thread ----

void SqliteStore::writerLoop() {
  using Clock = std::chrono::steady_clock;
  const bool autoCompact = options_.autoCompactInterval.count() > 0;
  auto nextCompaction = Clock::now() + options_.autoCompactInterval;
  std::unique_lock lock(queueMu_);
  for (;;) {
    auto ready = [&] { return stopping_ || !queue_.empty(); };
    if (autoCompact) {
      queueCv_.wait_until(lock, nextCompaction, ready);
    } else {
      queueCv_.wait(lock, ready);
    }
    if (queue_.empty() && stopping_) return;

    if (autoCompact && Clock::now() >= nextCompaction) {
      lock.unlock();
      std::int64_t target = revision_.load() - options_.historyRevisions;
      if (target > compacted_.load()) {
        if (Status s = applyCompaction(target); !s.isOk()) {
          log::warn("sqlite store: auto-compaction failed",
                    {{"path", options_.path}, {"error", s.toString()}});
        }
      }
      nextCompaction = Clock::now() + options_.autoCompactInterval;
      lock.lock();
      continue;
    }
    if (queue_.empty()) continue;

    // A compaction runs alone; writes are batched up to maxBatch or the next compaction.
    std::vector<std::unique_ptr<WriteRequest>> batch;
    if (queue_.front()->op == WriteRequest::Op::kCompact) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    } else {
      while (!queue_.empty() && batch.size() < options_.maxBatch &&
             queue_.front()->op != WriteRequest::Op::kCompact) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    lock.unlock();
    if (batch.front()->op == WriteRequest::Op::kCompact) {
      Status s = applyCompaction(batch.front()->revision);
      if (s.isOk()) {
        batch.front()->done.set_value(KeyValue{});
      } else {
        batch.front()->done.set_value(s);
      }
    } else {
      applyBatch(batch);
    }
    lock.lock();
  }
}

namespace {

// Statements the writer runs per request; cached on the writer connection.
constexpr const char* kSelectKv = "SELECT value, create_rev, mod_rev FROM kv WHERE key = ?1";
constexpr const char* kUpsertKv =
    "INSERT INTO kv (key, value, create_rev, mod_rev) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, create_rev = excluded.create_rev, "
    "mod_rev = excluded.mod_rev";
constexpr const char* kDeleteKv = "DELETE FROM kv WHERE key = ?1";
constexpr const char* kInsertChange =
    "INSERT INTO changes (rev, key, type, value, prev_value, prev_create_rev, prev_mod_rev, "
    "create_rev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

Result<std::optional<KeyValue>> loadKey(SqliteDb& db, const std::string& key) {
  SKIFF_ASSIGN_OR_RETURN(ScopedStatement stmt, db.cached(kSelectKv));
  stmt->bindText(1, key);
  SKIFF_ASSIGN_OR_RETURN(bool row, stmt->step());
  if (!row) return std::optional<KeyValue>();
  return std::optional<KeyValue>(
      KeyValue{key, stmt->columnBlob(0), stmt->columnInt64(1), stmt->columnInt64(2)});
}

Status recordChange(SqliteDb& db, const WatchEvent& ev) {
  SKIFF_ASSIGN_OR_RETURN(ScopedStatement stmt, db.cached(kInsertChange));
  stmt->bindInt64(1, ev.kv.modRevision);
  stmt->bindText(2, ev.kv.key);
  if (ev.type == WatchEvent::Type::kPut) {
    stmt->bindInt64(3, kTypePut);
    stmt->bindBlob(4, ev.kv.value);
  } else {
    stmt->bindInt64(3, kTypeDelete);
    stmt->bindNull(4);
  }
  if (ev.prevKv) {
    stmt->bindBlob(5, ev.prevKv->value);
    stmt->bindInt64(6, ev.prevKv->createRevision);
    stmt->bindInt64(7, ev.prevKv->modRevision);
  } else {
    stmt->bindNull(5);
    stmt->bindNull(6);
    stmt->bindNull(7);
  }
  stmt->bindInt64(8, ev.kv.createRevision);
  return stmt->run();
}

// The change a write request makes to `current` (the key's state including the batch's earlier
// writes), or the request's own error when its precondition fails.
Result<WatchEvent> planWrite(const SqliteStore::WriteRequest& req,
                             const std::optional<KeyValue>& current, std::int64_t revision) {
  using Op = SqliteStore::WriteRequest::Op;
  WatchEvent ev;
  ev.prevKv = current;
  if (req.op == Op::kCreate) {
    if (current) return alreadyExists("key " + req.key + " already exists");
    ev.kv = KeyValue{req.key, req.value, revision, revision};
    return ev;
  }
  if (req.op == Op::kPut) {
    ev.kv = KeyValue{req.key, req.value, current ? current->createRevision : revision, revision};
    return ev;
  }
  if (!current) return notFound("key " + req.key + " not found");
  if (req.revision != 0 && current->modRevision != req.revision) {
    return conflict("key " + req.key + " has modRevision " + std::to_string(current->modRevision) +
                    ", expected " + std::to_string(req.revision));
  }
  if (req.op == Op::kUpdate) {
    ev.kv = KeyValue{req.key, req.value, current->createRevision, revision};
  } else {
    ev.type = WatchEvent::Type::kDelete;
    ev.kv = KeyValue{req.key, current->value, current->createRevision, revision};
  }
  return ev;
}

// Writes a planned change: the key's current row and its change-log row.
Status persistWrite(SqliteDb& db, const WatchEvent& ev) {
  if (ev.type == WatchEvent::Type::kPut) {
    SKIFF_ASSIGN_OR_RETURN(ScopedStatement stmt, db.cached(kUpsertKv));
    stmt->bindText(1, ev.kv.key);
    stmt->bindBlob(2, ev.kv.value);
    stmt->bindInt64(3, ev.kv.createRevision);
    stmt->bindInt64(4, ev.kv.modRevision);
    SKIFF_RETURN_IF_ERROR(stmt->run());
  } else {
    SKIFF_ASSIGN_OR_RETURN(ScopedStatement stmt, db.cached(kDeleteKv));
    stmt->bindText(1, ev.kv.key);
    SKIFF_RETURN_IF_ERROR(stmt->run());
  }
  return recordChange(db, ev);
}

}  // namespace

void SqliteStore::applyBatch(std::vector<std::unique_ptr<WriteRequest>>& batch) {
  std::vector<std::optional<Result<KeyValue>>> results(batch.size());
  std::vector<EventPtr> events;
  std::int64_t revision = revision_.load();

  Status status = [&]() -> Status {
    SKIFF_ASSIGN_OR_RETURN(
        auto txn, SqliteTransaction::begin(writerDb_, SqliteTransaction::Kind::kImmediate));
    // State of the keys this batch already wrote, which the database rows also reflect, kept
    // here so repeated keys are not re-read.
    std::unordered_map<std::string, std::optional<KeyValue>> touched;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const WriteRequest& req = *batch[i];
      auto it = touched.find(req.key);
      if (it == touched.end()) {
        SKIFF_ASSIGN_OR_RETURN(std::optional<KeyValue> loaded, loadKey(writerDb_, req.key));
        it = touched.emplace(req.key, std::move(loaded)).first;
      }
      Result<WatchEvent> planned = planWrite(req, it->second, revision + 1);
      if (!planned.isOk()) {
        // A failed precondition fails only this request and consumes no revision.
        results[i] = planned.status();
        continue;
      }
      SKIFF_RETURN_IF_ERROR(persistWrite(writerDb_, *planned));
      ++revision;
      auto ev = std::make_shared<const WatchEvent>(std::move(planned).value());
      if (ev->type == WatchEvent::Type::kPut) {
        it->second = ev->kv;
      } else {
        it->second.reset();
      }
      results[i] = ev->kv;
      events.push_back(std::move(ev));
    }
    if (events.empty()) return Status::ok();  // the transaction rolls back: nothing to write
    SKIFF_ASSIGN_OR_RETURN(ScopedStatement meta,
                           writerDb_.cached("UPDATE meta SET revision = ?1 WHERE id = 1"));
    meta->bindInt64(1, revision);
    SKIFF_RETURN_IF_ERROR(meta->run());
    return txn.commit();
  }();

  if (!status.isOk()) {
    // Nothing of this batch is durable: every request fails (precondition failures keep their
    // more specific error) and the revision counter stays where it was.
    log::warn("sqlite store: write batch failed",
              {{"path", options_.path}, {"writes", batch.size()}, {"error", status.toString()}});
    for (auto& r : results) {
      if (!r || r->isOk()) r = status;
    }
    events.clear();
  } else if (!events.empty()) {
    revision_.store(revision);
    writes_ += events.size();
    ++transactions_;
    // Publish before acknowledging: a watch opened after a write returned must not see it as new.
    shared_->hub.publish(events, revision);
  }
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->done.set_value(std::move(*results[i]));
}

Status SqliteStore::applyCompaction(std::int64_t revision) {
  if (revision <= compacted_.load()) return Status::ok();
  if (revision > revision_.load()) {
    return invalidArgument("compact: revision " + std::to_string(revision) +
                           " is newer than the current revision " +
                           std::to_string(revision_.load()));
  }
  SKIFF_ASSIGN_OR_RETURN(auto txn,
                         SqliteTransaction::begin(writerDb_, SqliteTransaction::Kind::kImmediate));
  {
    SKIFF_ASSIGN_OR_RETURN(ScopedStatement del,
                           writerDb_.cached("DELETE FROM changes WHERE rev <= ?1"));
    del->bindInt64(1, revision);
    SKIFF_RETURN_IF_ERROR(del->run());
  }
  {
    SKIFF_ASSIGN_OR_RETURN(ScopedStatement meta,
                           writerDb_.cached("UPDATE meta SET compacted = ?1 WHERE id = 1"));
    meta->bindInt64(1, revision);
    SKIFF_RETURN_IF_ERROR(meta->run());
  }
  SKIFF_RETURN_IF_ERROR(txn.commit());
  compacted_.store(revision);
  log::debug("sqlite store: compacted", {{"path", options_.path}, {"revision", revision}});
  return Status::ok();
}

}  // namespace skiff::common::store
