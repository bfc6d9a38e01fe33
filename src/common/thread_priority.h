// CPU priority of background stages.
//
// The collector's answers wait on the HTTP loops and the raw log's writer; everything after the
// log (processing, archive, speed, batch, crash groups) only has to keep up on average, because
// the log holds what they have not read yet. When the CPUs are saturated, those background
// threads run at a higher nice value, so a burst of ingest is acknowledged at full speed and the
// stages behind the log catch up when it passes (their lag is in /metrics). On an idle or
// lightly loaded machine the nice value changes nothing.
//
// Measured (2-core VM, Linux 6.18 with PREEMPT_NONE, bench/ingest): the kernel still gives
// SCHED_IDLE threads 25-45 % of a core while the HTTP loops wait for a CPU 76 % of the time, and
// ingest peaks ~20 % lower than with the stages stopped. Neither pinning them to one CPU, nor
// sched_yield every 200 us of their work, nor pausing between their rounds changed that without
// also stopping them from keeping up: the remedy is their cost per event, not their priority.
// What does hold them back is pausing only while ingest is saturated (common/ingest_burst.h).
//
// Syncs: an fdatasync holds kernel I/O state that another file's fdatasync can wait behind, and
// at SCHED_IDLE on busy CPUs it holds it for milliseconds. So the log writers, whose work is
// mostly writes and syncs, stay at the process's priority even for a background stage's log.
//
// Wakeups: a thread of the normal policy that wakes on a CPU where another runs usually preempts
// it. SetWakeupPreempts(false) puts the calling thread in SCHED_BATCH instead, whose wakeups wait
// for the running thread's turn to end (its nice value is kept); common/ingest_burst.h does that
// for the raw log's writer while the HTTP loops are saturated.
//
// Threads: SetBackgroundNice once at start-up, before background threads start;
// EnterBackgroundPriority and SetWakeupPreempts from the thread they change (Linux nice values and
// policies are per thread).
#pragma once

namespace vigil {

// 0..19, added to the process's own nice value (capped at 19); 0 runs background stages at the
// same priority as the collector. Default 19: they run on the CPU the collector leaves. A thread
// whose nice value reaches 19 is also put in SCHED_IDLE, so that it runs only when no other
// thread wants the CPU: under load, its stage falls behind (on the log, not in memory) and
// catches up when load eases, and a waking HTTP loop never waits out its timeslice.
void SetBackgroundNice(int nice);
int BackgroundNice();

// Lowers the calling thread's CPU priority to the background nice value. Failure (e.g. a
// sandbox that forbids setpriority) is ignored: it only costs ingest headroom.
void EnterBackgroundPriority();

// Puts the calling thread in SCHED_OTHER (true) or SCHED_BATCH (false). A thread in SCHED_IDLE
// (a background stage) is left there. Returns false if the kernel refused.
bool SetWakeupPreempts(bool preempts);

}  // namespace vigil
