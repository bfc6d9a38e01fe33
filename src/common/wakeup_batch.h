// WakeupBatch: one wakeup per waiting thread for a burst of completions, not one per completion.
//
// The log's writer acknowledges a round of appends in a row: tens of HTTP replies, each bound
// for one of a few event loops. Waking a loop per reply cost a pipe write on the writer and a
// wakeup, an epoll_wait and a pipe read on the loop, per request. Inside a WakeupBatch, code
// that would wake a thread defers the wakeup to the batch's end, once per target.
//
// Threads: a batch belongs to the thread that opened it; Defer() sees only that thread's batch.
// Batches nest; only the outermost one flushes.
#pragma once

#include <vector>

namespace vigil {

class WakeupBatch {
 public:
  // Called once per target when the outermost batch closes, on the batch's thread.
  using Flush = void (*)(void* target);

  WakeupBatch();
  ~WakeupBatch();  // calls each deferred target's flush, in the order first deferred
  WakeupBatch(const WakeupBatch&) = delete;
  WakeupBatch& operator=(const WakeupBatch&) = delete;

  // False if no batch is open on this thread: the caller wakes `target` itself, now. Else
  // true, and `flush(target)` runs when the batch closes, once however often it is deferred.
  static bool Defer(void* target, Flush flush);

 private:
  struct Deferred {
    void* target;
    Flush flush;
  };
  WakeupBatch* outer_;
  std::vector<Deferred> deferred_;  // few targets (event loops): a linear search is cheapest
};

}  // namespace vigil
