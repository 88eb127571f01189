// Thin RAII adapter over the SQLite C API: a connection (sqlite3*), its prepared statements
// (sqlite3_stmt*) and transactions, with every SQLite error turned into a Status. No raw SQLite
// handle leaves this file pair; the store above it speaks only SQL and Status.
//
// Threading: a SqliteDb and its statements belong to one thread at a time (the connection is
// opened in SQLite's multi-thread mode, so the caller provides the exclusion).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace skiff::common::store {

class SqliteDb;

// One prepared statement. Parameters are 1-based, columns 0-based (as in SQLite). A bind error
// (out-of-range index, value too big) is remembered and returned by the next step(), so call
// sites can bind several parameters without checking each.
class SqliteStatement {
 public:
  ~SqliteStatement();
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&& other) noexcept;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  void bindInt64(int index, std::int64_t value);
  // Text is compared byte-wise (BINARY collation); SQLite does not validate its encoding.
  void bindText(int index, std::string_view value);
  // An empty blob is stored as a zero-length BLOB, never as NULL.
  void bindBlob(int index, std::string_view value);
  void bindNull(int index);

  // Advances: true when a row is available, false when the statement is done.
  Result<bool> step();
  // Runs a statement that returns no rows (or ignores them) to completion.
  Status run();
  // Rewinds and clears the bindings. Also ends the implicit read transaction a partially
  // stepped statement holds, which would otherwise pin an old WAL snapshot.
  void reset();

  bool columnIsNull(int column) const;
  std::int64_t columnInt64(int column) const;
  std::string columnText(int column) const;
  std::string columnBlob(int column) const;

 private:
  friend class SqliteDb;
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  Status bindError_;
};

// A statement borrowed from SqliteDb's cache; it is reset when the borrow ends so a cached
// statement never keeps a read snapshot open between uses.
class ScopedStatement {
 public:
  explicit ScopedStatement(SqliteStatement* stmt) : stmt_(stmt) {}
  ~ScopedStatement() {
    if (stmt_ != nullptr) stmt_->reset();
  }
  ScopedStatement(ScopedStatement&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
  ScopedStatement& operator=(ScopedStatement&&) = delete;
  ScopedStatement(const ScopedStatement&) = delete;
  ScopedStatement& operator=(const ScopedStatement&) = delete;

  SqliteStatement* operator->() const { return stmt_; }
  SqliteStatement& operator*() const { return *stmt_; }

 private:
  SqliteStatement* stmt_;
};

struct SqliteOpenOptions {
  bool create = true;     // create the file if missing
  bool readOnly = false;  // refuse writes on this connection (PRAGMA query_only)
  std::chrono::milliseconds busyTimeout{5000};
};

class SqliteDb {
 public:
  // Opens (and optionally creates) a database file. The file's contents are only read on the
  // first statement, so a caller wanting to reject a corrupt file must run one.
  static Result<SqliteDb> open(const std::string& path, const SqliteOpenOptions& options = {});

  ~SqliteDb();
  SqliteDb(SqliteDb&& other) noexcept;
  SqliteDb& operator=(SqliteDb&& other) noexcept;
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs one or more ';'-separated statements that return no rows.
  Status exec(std::string_view sql);
  Result<SqliteStatement> prepare(std::string_view sql);
  // Prepares sql once per connection and reuses it afterwards.
  Result<ScopedStatement> cached(const std::string& sql);

  // The largest string/blob SQLite accepts on this connection (SQLITE_LIMIT_LENGTH).
  std::int64_t maxLength() const;

 private:
  friend class SqliteTransaction;
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  void close();

  sqlite3* db_ = nullptr;
  // Finalized before the connection closes (see close()).
  std::unordered_map<std::string, std::unique_ptr<SqliteStatement>> cache_;
};

// A transaction that rolls back unless commit() succeeded, so an early error return can never
// leave a transaction open on the connection.
class SqliteTransaction {
 public:
  enum class Kind {
    kDeferred,   // reads: the snapshot is taken at the first read
    kImmediate,  // writes: takes the write lock up front, so the commit cannot hit SQLITE_BUSY
  };
  static Result<SqliteTransaction> begin(SqliteDb& db, Kind kind);

  ~SqliteTransaction();
  SqliteTransaction(SqliteTransaction&& other) noexcept;
  SqliteTransaction& operator=(SqliteTransaction&&) = delete;
  SqliteTransaction(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(const SqliteTransaction&) = delete;

  // Durable once this returns Ok (given the connection's synchronous setting).
  Status commit();

 private:
  explicit SqliteTransaction(SqliteDb* db) : db_(db) {}
  SqliteDb* db_;
};

}  // namespace skiff::common::store
