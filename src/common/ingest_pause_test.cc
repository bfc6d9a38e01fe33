// When a stage behind the log steps off the CPU for ingest, and that it does so only then.
#include "common/ingest_pause.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace vigil {
namespace {

constexpr int64_t kUs = 1000;
constexpr int64_t kMs = 1000 * kUs;

int64_t Now() { return SystemClock()->MonotonicNs(); }

// Calls PauseForIngest for `ms` of wall-clock time; returns the pauses taken meanwhile.
uint64_t CallFor(int64_t ms) {
  const uint64_t before = IngestPauses();
  for (const int64_t end = Now() + ms * kMs; Now() < end;) PauseForIngest();
  return IngestPauses() - before;
}

TEST(IngestPauseTest, PausesOnlyAfterItsIntervalOfWorkWhileARequestIsRecent) {
  const int64_t t = 1000 * kMs;
  const int64_t every = kPauseEveryUs * kUs;
  // No request yet: never.
  EXPECT_FALSE(ShouldPauseForIngest(t + every, t, 0));
  // A request just now: once the interval since the last pause has passed, not before.
  EXPECT_FALSE(ShouldPauseForIngest(t + every - 1, t, t + every - 2));
  EXPECT_TRUE(ShouldPauseForIngest(t + every, t, t + every - 1));
  // The last request up to kIngestActiveMs ago still counts; older, ingest is idle.
  const int64_t now = t + every;
  EXPECT_TRUE(ShouldPauseForIngest(now, t, now - kIngestActiveMs * kMs + 1));
  EXPECT_FALSE(ShouldPauseForIngest(now, t, now - kIngestActiveMs * kMs));
}

TEST(IngestPauseTest, AStageRunsUnpausedWhileIngestIsIdle) {
  NoteIngestRequest(Now() - 10 * kIngestActiveMs * kMs);
  EXPECT_EQ(CallFor(5), 0u);
}

TEST(IngestPauseTest, AStageStepsAsideAboutOncePerIntervalWhileIngestIsActive) {
  // 20 ms of work with requests coming: a pause about every kPauseEveryUs of it (each pause's
  // own sleep and the clock's granularity stretch the intervals; a loaded machine more so).
  uint64_t pauses = 0;
  for (int ms = 0; ms < 20; ++ms) {
    NoteIngestRequest(Now());
    pauses += CallFor(1);
  }
  EXPECT_GE(pauses, 5u);
  EXPECT_LE(pauses, static_cast<uint64_t>(20 * 1000 / kPauseEveryUs));
}

}  // namespace
}  // namespace vigil
