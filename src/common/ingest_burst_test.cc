// The raw log writer's saturation signal, window by window, and the stages' bounded yield to it.
#include "common/ingest_burst.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

#include "common/clock.h"

namespace vigil {
namespace {

constexpr int64_t kMs = 1000000;

// The writer's clock in these tests: an hour behind SystemClock()'s monotonic time, so that every
// burst began long ago for YieldToIngestBurst, and forward only, across tests too (the signal
// keeps its window between calls, as the one writer's would).
int64_t Start() {
  static int64_t clock = SystemClock()->MonotonicNs() - 3600 * 1000 * kMs;
  clock += 10 * 1000 * kMs;
  return clock;
}

// Closes the open window with a long wait (`t` a whole window after it began): not saturated,
// and a fresh window from `t`.
void Calm(int64_t t) { NoteLogWriterWait(3600 * 1000 * kMs, t); }

// From `t`, a window in which the writer waited `waited_ms` of 260 ms.
void Window(int64_t t, int64_t waited_ms) {
  NoteLogWriterWait(waited_ms / 2 * kMs, t + 100 * kMs);  // under a window: no decision yet
  NoteLogWriterWait((waited_ms - waited_ms / 2) * kMs, t + 260 * kMs);
}

TEST(IngestBurstTest, SaturatedWhenTheWriterWaitedUnderAnEighthOfAWindow) {
  const int64_t t = Start();
  Calm(t);
  EXPECT_FALSE(IngestSaturated());
  Window(t, 20);  // 8 %
  EXPECT_TRUE(IngestSaturated());
  Window(t + 260 * kMs, 32);  // 12.3 %
  EXPECT_TRUE(IngestSaturated());
  Window(t + 520 * kMs, 33);  // 12.7 %
  EXPECT_FALSE(IngestSaturated());
  Window(t + 780 * kMs, 0);
  EXPECT_TRUE(IngestSaturated());
  Calm(t + 1300 * kMs);  // a whole window after the last decision
  EXPECT_FALSE(IngestSaturated());
}

TEST(IngestBurstTest, NoDecisionBeforeAWholeWindow) {
  const int64_t t = Start();
  Calm(t);
  NoteLogWriterWait(0, t + 200 * kMs);
  EXPECT_FALSE(IngestSaturated());  // 200 ms of work is not yet a window
  NoteLogWriterWait(0, t + kIngestBurstWindowMs * kMs);
  EXPECT_TRUE(IngestSaturated());
  Calm(t + 2 * kIngestBurstWindowMs * kMs);
}

TEST(IngestBurstTest, YieldReturnsAtOnceWithoutABurst) {
  SetBurstYieldLimitMs(30000);
  Calm(Start());
  int asked = 0;
  YieldToIngestBurst([&] { return ++asked, false; });
  EXPECT_EQ(asked, 0);
}

TEST(IngestBurstTest, YieldWaitsWhileSaturatedUntilTheStageIsStopped) {
  SetBurstYieldLimitMs(2 * 3600 * 1000);  // the burst began about an hour ago
  const int64_t t = Start();
  Calm(t);
  Window(t, 0);
  ASSERT_TRUE(IngestSaturated());
  int asked = 0;
  YieldToIngestBurst([&] { return ++asked == 3; });  // the stage is asked to stop at the third
  EXPECT_EQ(asked, 3);
  std::string metrics;
  RenderIngestBurstMetrics(&metrics);
  EXPECT_NE(metrics.find("\nvigil_ingest_saturated 1\n"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("\nvigil_ingest_burst_yield_seconds_total 0.000\n"), std::string::npos)
      << "two steps of 10 ms were yielded: " << metrics;
  Calm(Start());
  metrics.clear();
  RenderIngestBurstMetrics(&metrics);
  EXPECT_NE(metrics.find("\nvigil_ingest_saturated 0\n"), std::string::npos) << metrics;
}

TEST(IngestBurstTest, ABurstHoldsTheStagesNoLongerThanTheLimit) {
  const int64_t t = Start();
  Calm(t);
  Window(t, 0);  // began about an hour ago: long past a limit of 30 s
  ASSERT_TRUE(IngestSaturated());
  SetBurstYieldLimitMs(30000);
  int asked = 0;
  YieldToIngestBurst([&] { return ++asked, false; });
  EXPECT_EQ(asked, 0);      // over the limit: returned before asking anything
  SetBurstYieldLimitMs(0);  // off
  YieldToIngestBurst([&] { return ++asked, false; });
  EXPECT_EQ(asked, 0);
  SetBurstYieldLimitMs(30000);
  Calm(Start());
}

TEST(IngestBurstTest, TheWriterWaitsItsTurnWhileSaturatedAndPreemptsOtherwise) {
  int calm = -1, burst = -1, after = -1;
  std::thread([&] {  // the writer's thread: its policy changes, not the test's
    const int64_t t = Start();
    Calm(t);
    YieldWakeupsWhileSaturated();
    calm = ::sched_getscheduler(0);
    Window(t, 0);
    YieldWakeupsWhileSaturated();
    burst = ::sched_getscheduler(0);
    Calm(t + 1000 * kMs);
    YieldWakeupsWhileSaturated();
    after = ::sched_getscheduler(0);
  })
      .join();
  EXPECT_EQ(calm, SCHED_OTHER);
  EXPECT_EQ(burst, SCHED_BATCH);
  EXPECT_EQ(after, SCHED_OTHER);
  EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);
}

}  // namespace
}  // namespace vigil
