// RateLimitedLog: the error lines of a loop that may fail every round, printed to stderr at most
// once per interval.
//
// Why: a condition that lasts (a full disk, a read-only filesystem) fails a background loop every
// round, up to hundreds of times a second; printed each time, it buries everything else the
// server says. A printed line says how many were left out since the one before it.
//
// Thread-safety: none; each loop owns its own.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string_view>

namespace vigil {

class RateLimitedLog {
 public:
  explicit RateLimitedLog(int64_t interval_ms = 10'000, std::FILE* out = stderr)
      : interval_ms_(interval_ms), out_(out) {}

  // Prints `line` and a newline, unless a line was printed less than interval_ms before
  // `now_ms` (any monotonic clock, in ms): then it only counts it. Returns whether it printed.
  bool Print(std::string_view line, int64_t now_ms);
  // The same at the process's monotonic time.
  bool Print(std::string_view line);

 private:
  const int64_t interval_ms_;
  std::FILE* const out_;
  bool printed_ = false;
  int64_t last_ms_ = 0;
  uint64_t left_out_ = 0;
};

}  // namespace vigil
