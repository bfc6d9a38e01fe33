// Status and Result<T>: how every fallible function in Vigil reports failure.
//
// Exceptions never cross a module boundary; a function that can fail returns a Status (or a
// Result<T> holding either a value or a non-OK Status), marked [[nodiscard]]. The code says what
// kind of failure it is, so the stage boundary can decide: bad input is rejected and counted,
// environment failures (disk, network) are retried, bugs are CHECKed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace vigil {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input from outside: never retried as is
  kNotFound,
  kAlreadyExists,
  kCorruption,   // stored bytes fail their checks
  kIoError,      // the environment failed (disk, network): may succeed later
  kUnavailable,  // temporarily cannot take more (backlog bound, disk full): retry later
  kTooLarge,     // input over a size cap
  kUnsupported,
  kPermissionDenied,
  kInternal,  // a bug
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status TooLarge(std::string m) { return {StatusCode::kTooLarge, std::move(m)}; }
  static Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
  static Status PermissionDenied(std::string m) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  // An IoError naming `what` and the current errno's text.
  static Status FromErrno(std::string_view what, int err);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

const char* StatusCodeName(StatusCode code);

}  // namespace vigil

#define VIGIL_RETURN_IF_ERROR(expr) \
  do {                              \
    ::vigil::Status _st = (expr);   \
    if (!_st.ok()) return _st;      \
  } while (0)

// A broken invariant: a bug in Vigil, never reachable from input alone.
#define VIGIL_CHECK(cond)                                                   \
  do {                                                                      \
    if (!(cond)) ::vigil::internal::CheckFailed(__FILE__, __LINE__, #cond); \
  } while (0)

namespace vigil::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond);
}
