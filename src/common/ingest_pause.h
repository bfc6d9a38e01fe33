// Ingest pauses: the stages behind the log step off the CPU every few hundred microseconds of
// their work while ingest is active, so that an HTTP loop or the raw log's writer that is ready
// to run never waits long behind them.
//
// Why: the stages run in SCHED_IDLE (thread_priority.h), and a thread that wakes preempts them,
// but under EEVDF a thread that is already runnable does not: once the scheduler has picked a
// stage (it had waited long enough to be owed some time), the stage runs until the next tick,
// 4 ms at HZ=250, while the loop or the writer waits. Traced at 20k req/s (half the peak, 2-core
// VM, perf sched, 3 s): stages ran 84-151 ms while a normal thread waited, in stretches up to
// 5.5 ms, 24-35 of them over 1 ms. With pauses in the per-row loops, 44-64 ms and 2 over 1 ms
// (the rest in a part's sort passes, column compression and file write); with pauses between
// those steps too, 34-42 ms and none over 1 ms. A sched_yield instead changed nothing (the
// kernel picks the stage again). wrk's p99 at 20k req/s, four alternating 12 s pairs: 3.0-3.8 ms
// against 3.9-5.2; requests the server took over 5 ms to answer 2-3x fewer. ~1k pauses a
// second, 2 % of a CPU asleep: under load the stages fall behind a little faster, and catch up
// after at full speed.
//
// How: PauseForIngest, called from the per-record and per-row loops of processing, the speed
// layer, the archive (its reads, part writes and compactions) and the batch layer, is a counter
// increment; every kPauseCheckCalls calls it reads the monotonic clock, and after
// kPauseEveryUs since the thread's last pause, if an ingest request was noted within
// kIngestActiveMs, it sleeps kPauseSleepUs (with a 1 us timer slack). While no request comes it
// never sleeps: a stage catching up on an idle machine runs at full speed.
//
// Threads: NoteIngestRequest from the HTTP loops; PauseForIngest from any thread (its state is
// per thread); IngestPauses from any thread.
#pragma once

#include <cstdint>
#include <string>

namespace vigil {

inline constexpr int kPauseCheckCalls = 16;
inline constexpr int64_t kPauseEveryUs = 500;
inline constexpr int64_t kPauseSleepUs = 20;
inline constexpr int64_t kIngestActiveMs = 50;

// An ingest request is being handled now (`now_ns`: SystemClock()->MonotonicNs()).
void NoteIngestRequest(int64_t now_ns);
// See above. Cheap enough for a loop over events (a few ns between clock reads).
void PauseForIngest();
// The same, reading the clock at once: between steps of work too big to count in calls (a
// column compressed, a piece of a file written).
void PauseForIngestAfterChunk();
// Whether a thread whose last pause ended at `last_pause_ns` should pause at `now_ns`, the
// last ingest request having been noted at `last_request_ns` (0: none yet).
bool ShouldPauseForIngest(int64_t now_ns, int64_t last_pause_ns, int64_t last_request_ns);
// Pauses taken since start, summed over the threads.
uint64_t IngestPauses();
// Appends vigil_stage_ingest_pauses_total (Prometheus text).
void RenderIngestPauseMetrics(std::string* out);

}  // namespace vigil
