// Errors as values: Status (code + message) and Result<T> (a value or a non-OK Status).
// Codes follow docs/conventions.md #3; adapters map them to HTTP/Kubernetes Status and
// grpc::StatusCode.
#pragma once

#include <cassert>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace skiff::common {

enum class StatusCode {
  kOk = 0,
  kNotFound,
  kAlreadyExists,
  kConflict,
  kInvalidArgument,
  kUnauthenticated,
  kPermissionDenied,
  kUnavailable,
  kInternal,
  kDeadlineExceeded,
  kResourceExhausted,
  kGone,
};

std::string_view statusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool isOk() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "InvalidArgument: selector: expected ..." — for logs and CLI errors.
  std::string toString() const;

  // Returns a copy whose message is "<context>: <message>"; code unchanged.
  Status withContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

std::ostream& operator<<(std::ostream& os, const Status& s);

Status notFound(std::string msg);
Status alreadyExists(std::string msg);
Status conflict(std::string msg);
Status invalidArgument(std::string msg);
Status unauthenticated(std::string msg);
Status permissionDenied(std::string msg);
Status unavailable(std::string msg);
Status internalError(std::string msg);
Status deadlineExceeded(std::string msg);
Status resourceExhausted(std::string msg);
Status gone(std::string msg);

// Result<T>: either a T or a non-OK Status. Accessing value() of an error is a programming error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).isOk() && "Result constructed from an OK Status");
  }

  bool isOk() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return isOk(); }

  const T& value() const& {
    assert(isOk());
    return std::get<T>(v_);
  }
  T& value() & {
    assert(isOk());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(isOk());
    return std::get<T>(std::move(v_));
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  Status status() const { return isOk() ? Status::ok() : std::get<Status>(v_); }

  T valueOr(T fallback) const& { return isOk() ? std::get<T>(v_) : std::move(fallback); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace skiff::common

// Propagates a non-OK Status from an expression returning Status.
#define SKIFF_RETURN_IF_ERROR(expr)                  \
  do {                                               \
    ::skiff::common::Status skiff_status_ = (expr);  \
    if (!skiff_status_.isOk()) return skiff_status_; \
  } while (0)

#define SKIFF_CONCAT_INNER_(a, b) a##b
#define SKIFF_CONCAT_(a, b) SKIFF_CONCAT_INNER_(a, b)
// SKIFF_ASSIGN_OR_RETURN(auto x, expr): binds the value of a Result or returns its Status.
#define SKIFF_ASSIGN_OR_RETURN(lhs, expr) \
  SKIFF_ASSIGN_OR_RETURN_IMPL_(SKIFF_CONCAT_(skiff_result_, __LINE__), lhs, expr)
#define SKIFF_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.isOk()) return tmp.status();              \
  lhs = std::move(tmp).value()
