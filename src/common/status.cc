// Status formatting and the CHECK failure path.
#include "common/status.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vigil {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kInvalidArgument:
      return "InvalidArgument";
    case StatusCode::kNotFound:
      return "NotFound";
    case StatusCode::kAlreadyExists:
      return "AlreadyExists";
    case StatusCode::kCorruption:
      return "Corruption";
    case StatusCode::kIoError:
      return "IoError";
    case StatusCode::kUnavailable:
      return "Unavailable";
    case StatusCode::kTooLarge:
      return "TooLarge";
    case StatusCode::kUnsupported:
      return "Unsupported";
    case StatusCode::kPermissionDenied:
      return "PermissionDenied";
    case StatusCode::kInternal:
      return "Internal";
  }
  return "Unknown";
}

Status Status::FromErrno(std::string_view what, int err) {
  std::string m(what);
  m += ": ";
  m += std::strerror(err);
  // Running out of space is a condition to wait out, not a broken disk.
  if (err == ENOSPC || err == EDQUOT) return Status::Unavailable(std::move(m));
  return Status::IoError(std::move(m));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

namespace internal {
void CheckFailed(const char* file, int line, const char* cond) {
  std::fprintf(stderr, "vigil: CHECK failed at %s:%d: %s (this is a bug in vigil)\n", file, line,
               cond);
  std::abort();
}
}  // namespace internal

}  // namespace vigil
