// Thread-local batches of deferred wakeups (see wakeup_batch.h).
#include "common/wakeup_batch.h"

namespace vigil {

namespace {
thread_local WakeupBatch* current_batch = nullptr;
}  // namespace

WakeupBatch::WakeupBatch() : outer_(current_batch) {
  if (outer_ == nullptr) current_batch = this;
}

WakeupBatch::~WakeupBatch() {
  if (outer_ != nullptr) return;
  current_batch = nullptr;  // a flush that completes more work wakes its targets at once
  for (const Deferred& d : deferred_) d.flush(d.target);
}

bool WakeupBatch::Defer(void* target, Flush flush) {
  WakeupBatch* batch = current_batch;
  if (batch == nullptr) return false;
  for (const Deferred& d : batch->deferred_) {
    if (d.target == target && d.flush == flush) return true;
  }
  batch->deferred_.push_back({target, flush});
  return true;
}

}  // namespace vigil
