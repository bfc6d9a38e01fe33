// Ingest bursts: the stages behind the log step aside while the collector is saturated.
//
// Why: in SCHED_IDLE (thread_priority.h) the stages still took 25-50 % of a core at peak
// ingest, since they run whenever the HTTP loops wait for a group commit, and in cache, memory
// and the disk queue they cost the collector more than that: ingest peaked at 39-41k req/s with
// them against 44.6-47.3k with them stopped (2-core VM, fresh 10 s peaks). The log absorbs a
// burst anyway; what the stages have not read waits there, counted in vigil_log_consumer_lag.
//
// Signal: the raw log's writer reports how long it waited for work before each round
// (NoteLogWriterWait). Over each window of kIngestBurstWindowMs it is saturated when it waited
// less than an eighth of it. Measured on that VM, it waited 6 % of the time at peak, 25 % at 20k
// req/s (half the peak) and 37 % at 10k. The signal feeds back: while the stages run, the
// collector feeds the writer more slowly and the writer waits more. With a tenth as the bound,
// two of three peaks never tripped it and stayed at 35-36k req/s; with a fifth, three of three
// did, at 45.5-46.5k req/s (p99 3 ms). Later, with group commits of larger rounds, a fifth also
// tripped for ~1 s of 12 at 19.7k req/s (half the peak; the writer's wakeups then wait, and a
// spare's zeros go direct, log/segment_writer.h): p99 2.71 / 4.17 / 3.28 ms against
// 2.50 / 2.52 / 3.38 with an eighth, which never tripped there, and still tripped throughout
// 10 s peaks (42.0k req/s against 42.4k with a fifth, three pairs each).
//
// Who: processing, speed, the archive and crash groups before each round; a scheduled batch run
// before each archive part it reads (its first hourly run, a minute after start, used to land in
// the bench's second peak round: 30k req/s against 46k in the first).
//
// Bound: a stage yields (YieldToIngestBurst, before each round) for at most the configured limit
// per burst (burst_yield_seconds, default 30). A burst that lasts longer no longer holds the
// stages back: they run at background priority as they would without this, until the writer
// is no longer saturated and a new burst can start. So a sustained overload costs freshness of
// at most that limit, never an unbounded lag; 0 turns yielding off.
//
// The writer itself: while saturated, its wakeups (an fsync done, new batches queued) no longer
// preempt the HTTP loop on the CPU they land on (YieldWakeupsWhileSaturated, SCHED_BATCH); the
// loop goes on to its next wait for events, where the writer runs. Each preemption cost the loop
// two context switches: at peak, the loops were preempted 9.1k times/s (4.5k by the writer),
// 3.9k with it, the writer ran 4.5k rounds/s instead of 8.5k (larger group commits) and ingest
// peaked 5-7 % higher (2-core VM, 10 s fresh peaks, six A/B pairs: 34.6k -> 36.5k req/s on
// average). Unsaturated, the writer preempts as before: a writer that always waited its turn
// made the p99 at half the peak 8-9 ms instead of 5-6.
//
// Threads: SetBurstYieldLimitMs at start-up; NoteLogWriterWait and YieldWakeupsWhileSaturated
// from the raw log's writer only; the rest from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace vigil {

inline constexpr int64_t kIngestBurstWindowMs = 250;

void SetBurstYieldLimitMs(int64_t ms);
// The writer waited `waited_ns` for work just now (`now_ns`: SystemClock()->MonotonicNs()).
void NoteLogWriterWait(int64_t waited_ns, int64_t now_ns);
bool IngestSaturated();
// After NoteLogWriterWait: puts the calling thread (the writer) in SCHED_BATCH while ingest is
// saturated, back in SCHED_OTHER when it is not (common/thread_priority.h).
void YieldWakeupsWhileSaturated();
// Blocks while ingest is saturated, within the per-burst limit, checking `stop` every 10 ms
// (a stage stopping or asked for something returns at once).
void YieldToIngestBurst(const std::function<bool()>& stop);
// Appends vigil_ingest_saturated and vigil_ingest_burst_yield_seconds_total (Prometheus text).
void RenderIngestBurstMetrics(std::string* out);

}  // namespace vigil
