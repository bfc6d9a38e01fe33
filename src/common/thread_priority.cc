// Per-thread nice values for background stages (see thread_priority.h).
#include "common/thread_priority.h"

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
}

}  // namespace vigil
