// Ingest pauses of the stages behind the log (see ingest_pause.h).
#include "common/ingest_pause.h"

#include <sys/prctl.h>
#include <time.h>

#include <atomic>

#include "common/clock.h"
#include "common/prometheus_text.h"

namespace vigil {

namespace {
std::atomic<int64_t> latest_request_ns{0};
std::atomic<uint64_t> pauses{0};

int64_t MonotonicNs() { return SystemClock()->MonotonicNs(); }

thread_local int calls = 0;

void CheckAndPause() {
  thread_local int64_t last_pause_ns = 0;
  thread_local bool slack_set = false;
  calls = 0;
  const int64_t now = MonotonicNs();
  if (last_pause_ns == 0) last_pause_ns = now;
  if (!ShouldPauseForIngest(now, last_pause_ns,
                            latest_request_ns.load(std::memory_order_relaxed))) {
    return;
  }
  if (!slack_set) {
    // The default slack, 50 us, would more than triple each pause.
    (void)::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    slack_set = true;
  }
  timespec sleep{0, kPauseSleepUs * 1000};
  (void)::nanosleep(&sleep, nullptr);  // an interruption only shortens the pause
  pauses.fetch_add(1, std::memory_order_relaxed);
  last_pause_ns = MonotonicNs();
}
}  // namespace

void NoteIngestRequest(int64_t now_ns) {
  // Two loops storing 40k times a second: the relaxed store is all it costs.
  latest_request_ns.store(now_ns, std::memory_order_relaxed);
}

bool ShouldPauseForIngest(int64_t now_ns, int64_t last_pause_ns, int64_t last_request_ns) {
  return last_request_ns != 0 && now_ns - last_pause_ns >= kPauseEveryUs * 1000 &&
         now_ns - last_request_ns < kIngestActiveMs * 1000000;
}

void PauseForIngest() {
  if (++calls >= kPauseCheckCalls) CheckAndPause();
}

void PauseForIngestAfterChunk() { CheckAndPause(); }

uint64_t IngestPauses() { return pauses.load(std::memory_order_relaxed); }

void RenderIngestPauseMetrics(std::string* out) {
  AppendMetric(out, "vigil_stage_ingest_pauses_total", "counter",
               "Times a stage behind the log stepped off the CPU for a moment while ingest was "
               "active, so that an HTTP loop or the log's writer waiting for the CPU got it.",
               IngestPauses());
}

}  // namespace vigil
