// Per-thread nice values and scheduling policies (see thread_priority.h).
#include "common/thread_priority.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace vigil {

namespace {
std::atomic<int> background_nice{19};
}  // namespace

void SetBackgroundNice(int nice) {
  background_nice.store(nice < 0 ? 0 : nice > 19 ? 19 : nice, std::memory_order_relaxed);
}

int BackgroundNice() { return background_nice.load(std::memory_order_relaxed); }

void EnterBackgroundPriority() {
  int nice = BackgroundNice();
  if (nice == 0) return;
  // On Linux, PRIO_PROCESS with a thread id sets the nice value of that one thread.
  // The value is added to the thread's current one, so `nice vigil serve` keeps its meaning.
  id_t tid = static_cast<id_t>(::syscall(SYS_gettid));
  errno = 0;
  int current = ::getpriority(PRIO_PROCESS, tid);
  if (current == -1 && errno != 0) return;
  int target = current + nice > 19 ? 19 : current + nice;
  (void)::setpriority(PRIO_PROCESS, tid, target);
  if (target == 19) {
    // The least CPU a nice value can ask for is still a share, and a timeslice: at half the
    // peak ingest rate with the stages behind on a backlog, acknowledgements waited on them
    // (p50 1.4-1.7 ms; in SCHED_IDLE, which any runnable thread preempts, 0.65-0.69 ms).
    sched_param param{};
    param.sched_priority = 0;
    (void)::sched_setscheduler(static_cast<pid_t>(tid), SCHED_IDLE, &param);
  }
}

bool SetWakeupPreempts(bool preempts) {
  const int policy = ::sched_getscheduler(0);
  if (policy == -1) return false;
  if (policy != SCHED_OTHER && policy != SCHED_BATCH) return policy == SCHED_IDLE;
  const int target = preempts ? SCHED_OTHER : SCHED_BATCH;
  if (policy == target) return true;
  sched_param param{};
  param.sched_priority = 0;
  return ::sched_setscheduler(0, target, &param) == 0;
}

}  // namespace vigil
