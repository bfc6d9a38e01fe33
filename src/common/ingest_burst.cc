// The saturation signal of the raw log's writer, and the stages' bounded yield to it.
#include "common/ingest_burst.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "common/clock.h"
#include "common/prometheus_text.h"
#include "common/thread_priority.h"

namespace vigil {

namespace {
constexpr int64_t kWindowNs = kIngestBurstWindowMs * 1000000;
constexpr auto kYieldStep = std::chrono::milliseconds(10);

std::atomic<int64_t> limit_ms{30000};
std::atomic<bool> saturated{false};
std::atomic<int64_t> burst_start_ns{0};  // when the current saturation began
std::atomic<uint64_t> yielded_ns{0};     // summed over the stages that yielded
// The current window: the writer's thread only.
int64_t window_start_ns = 0;
int64_t window_waited_ns = 0;

int64_t NowNs() { return SystemClock()->MonotonicNs(); }
}  // namespace

void SetBurstYieldLimitMs(int64_t ms) { limit_ms.store(ms < 0 ? 0 : ms); }

void NoteLogWriterWait(int64_t waited_ns, int64_t now_ns) {
  if (window_start_ns == 0) window_start_ns = now_ns - waited_ns;
  window_waited_ns += waited_ns;
  const int64_t span = now_ns - window_start_ns;
  if (span < kWindowNs) return;
  const bool now_saturated = window_waited_ns * 8 < span;  // waited under an eighth of it
  if (now_saturated && !saturated.load(std::memory_order_relaxed)) {
    burst_start_ns.store(window_start_ns, std::memory_order_relaxed);
  }
  saturated.store(now_saturated, std::memory_order_release);
  window_start_ns = now_ns;
  window_waited_ns = 0;
}

bool IngestSaturated() { return saturated.load(std::memory_order_acquire); }

void YieldWakeupsWhileSaturated() {
  thread_local bool yielding = false;  // the policy this thread was last put in
  const bool now = IngestSaturated();
  if (now != yielding && SetWakeupPreempts(!now)) yielding = now;
}

void YieldToIngestBurst(const std::function<bool()>& stop) {
  const int64_t limit_ns = limit_ms.load(std::memory_order_relaxed) * 1000000;
  if (limit_ns <= 0) return;
  while (IngestSaturated()) {
    const int64_t now = NowNs();
    if (now - burst_start_ns.load(std::memory_order_relaxed) >= limit_ns || stop()) break;
    std::this_thread::sleep_for(kYieldStep);
    // Counted step by step, so that /metrics shows a yield still in progress.
    yielded_ns.fetch_add(static_cast<uint64_t>(NowNs() - now), std::memory_order_relaxed);
  }
}

void RenderIngestBurstMetrics(std::string* out) {
  AppendMetric(out, "vigil_ingest_saturated", "gauge",
               "1 while the raw log's writer is saturated (an ingest burst): the stages behind "
               "the log yield to it, for at most burst_yield_seconds per burst.",
               IngestSaturated() ? 1 : 0);
  AppendMetricHeader(out, "vigil_ingest_burst_yield_seconds_total", "counter",
                     "Time the stages behind the log spent yielding to ingest bursts, summed over "
                     "the stages.");
  char line[96];
  std::snprintf(line, sizeof line, "vigil_ingest_burst_yield_seconds_total %.3f\n",
                static_cast<double>(yielded_ns.load(std::memory_order_relaxed)) / 1e9);
  out->append(line);
}

}  // namespace vigil
