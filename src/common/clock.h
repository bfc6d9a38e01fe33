// Clock: the one source of wall and monotonic time, so tests can fake it.
#pragma once

#include <atomic>
#include <cstdint>

namespace vigil {

// Safe from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (wall time: used for event and retention times).
  virtual int64_t NowMs() const = 0;
  // Nanoseconds on a monotonic clock (used for durations only).
  virtual int64_t MonotonicNs() const = 0;
};

// The real clock. Never destroyed.
Clock* SystemClock();

// A clock that moves only when told to; for tests.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  int64_t MonotonicNs() const override { return now_ms_.load() * 1000000; }
  void AdvanceMs(int64_t ms) { now_ms_ += ms; }
  void SetMs(int64_t ms) { now_ms_ = ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace vigil
