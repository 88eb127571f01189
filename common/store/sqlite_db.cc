// SQLite adapter: result codes → Status, statement/connection lifetimes, transactions.
#include "common/store/sqlite_db.h"

#include <sqlite3.h>

#include <cerrno>
#include <utility>

namespace skiff::common::store {

namespace {

// Maps a SQLite (extended) result code to our codes: retryable conditions become Unavailable,
// a damaged file Internal (an operator must act), resource limits ResourceExhausted.
Status sqliteStatus(sqlite3* db, int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_PROTOCOL:
      return unavailable(std::move(msg));
    case SQLITE_CANTOPEN: {
      int err = db != nullptr ? sqlite3_system_errno(db) : 0;
      if (err == ENOENT) return notFound(std::move(msg));
      if (err == EACCES || err == EPERM) return permissionDenied(std::move(msg));
      return unavailable(std::move(msg));
    }
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return permissionDenied(std::move(msg));
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return resourceExhausted(std::move(msg));
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return invalidArgument(std::move(msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return internalError(std::move(msg) + " (database file is damaged)");
    default:
      return internalError(std::move(msg));
  }
}

}  // namespace

// ---- SqliteStatement ----

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bindError_(std::move(other.bindError_)) {}

SqliteStatement& SqliteStatement::operator=(SqliteStatement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    bindError_ = std::move(other.bindError_);
  }
  return *this;
}

void SqliteStatement::bindInt64(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bindError_.isOk()) bindError_ = sqliteStatus(db_, rc, "bind");
}

void SqliteStatement::bindText(int index, std::string_view value) {
  // A null data pointer would bind NULL, not the empty string.
  const char* data = value.data() != nullptr ? value.data() : "";
  int rc = sqlite3_bind_text64(stmt_, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bindError_.isOk()) bindError_ = sqliteStatus(db_, rc, "bind");
}

void SqliteStatement::bindBlob(int index, std::string_view value) {
  int rc = value.empty()
               ? sqlite3_bind_zeroblob(stmt_, index, 0)
               : sqlite3_bind_blob64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bindError_.isOk()) bindError_ = sqliteStatus(db_, rc, "bind");
}

void SqliteStatement::bindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bindError_.isOk()) bindError_ = sqliteStatus(db_, rc, "bind");
}

Result<bool> SqliteStatement::step() {
  if (!bindError_.isOk()) return bindError_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return sqliteStatus(db_, rc, "step");
}

Status SqliteStatement::run() {
  for (;;) {
    SKIFF_ASSIGN_OR_RETURN(bool row, step());
    if (!row) return Status::ok();
  }
}

void SqliteStatement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bindError_ = Status::ok();
}

bool SqliteStatement::columnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t SqliteStatement::columnInt64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string SqliteStatement::columnText(int column) const {
  // Pointer first, then size: that is the order SQLite documents as conversion-safe.
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  int size = sqlite3_column_bytes(stmt_, column);
  return data != nullptr ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::string SqliteStatement::columnBlob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  int size = sqlite3_column_bytes(stmt_, column);
  return data != nullptr ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

// ---- SqliteDb ----

Result<SqliteDb> SqliteDb::open(const std::string& path, const SqliteOpenOptions& options) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (options.create) flags |= SQLITE_OPEN_CREATE;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // Even a failed open may allocate a handle, which then owns the error message.
  SqliteDb db(raw);
  if (rc != SQLITE_OK) return sqliteStatus(raw, rc, "open " + path);
  sqlite3_busy_timeout(raw, static_cast<int>(options.busyTimeout.count()));
  if (options.readOnly) SKIFF_RETURN_IF_ERROR(db.exec("PRAGMA query_only = ON"));
  return db;
}

SqliteDb::~SqliteDb() { close(); }

SqliteDb::SqliteDb(SqliteDb&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), cache_(std::move(other.cache_)) {}

SqliteDb& SqliteDb::operator=(SqliteDb&& other) noexcept {
  if (this != &other) {
    close();
    db_ = std::exchange(other.db_, nullptr);
    cache_ = std::move(other.cache_);
  }
  return *this;
}

void SqliteDb::close() {
  cache_.clear();
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

Status SqliteDb::exec(std::string_view sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);  // the same text is available from sqlite3_errmsg
  if (rc != SQLITE_OK) return sqliteStatus(db_, rc, sql);
  return Status::ok();
}

Result<SqliteStatement> SqliteDb::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return sqliteStatus(db_, rc, "prepare");
  }
  return SqliteStatement(db_, stmt);
}

Result<ScopedStatement> SqliteDb::cached(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    SKIFF_ASSIGN_OR_RETURN(SqliteStatement stmt, prepare(sql));
    it = cache_.emplace(sql, std::make_unique<SqliteStatement>(std::move(stmt))).first;
  }
  it->second->reset();
  return ScopedStatement(it->second.get());
}

std::int64_t SqliteDb::maxLength() const { return sqlite3_limit(db_, SQLITE_LIMIT_LENGTH, -1); }

// ---- SqliteTransaction ----

Result<SqliteTransaction> SqliteTransaction::begin(SqliteDb& db, Kind kind) {
  SKIFF_RETURN_IF_ERROR(db.exec(kind == Kind::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN"));
  return SqliteTransaction(&db);
}

SqliteTransaction::~SqliteTransaction() {
  // A failed COMMIT may or may not have ended the transaction; only roll back an open one.
  if (db_ != nullptr && sqlite3_get_autocommit(db_->db_) == 0) {
    (void)db_->exec("ROLLBACK");
  }
}

SqliteTransaction::SqliteTransaction(SqliteTransaction&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)) {}

Status SqliteTransaction::commit() {
  SKIFF_RETURN_IF_ERROR(db_->exec("COMMIT"));
  db_ = nullptr;
  return Status::ok();
}

}  // namespace skiff::common::store
