// WakeupBatch: deferred wakeups run once per target, in first-deferred order, when the
// outermost batch on the thread closes; without a batch nothing is deferred.
#include "common/wakeup_batch.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace vigil {
namespace {

thread_local std::string flushed;  // targets flushed on this thread, in order

void Record(void* target) { flushed += *static_cast<const char*>(target); }

TEST(WakeupBatchTest, WithoutABatchNothingIsDeferred) {
  char a = 'a';
  EXPECT_FALSE(WakeupBatch::Defer(&a, &Record));
  EXPECT_EQ(flushed, "");
}

TEST(WakeupBatchTest, EachTargetIsFlushedOnceInFirstDeferredOrderWhenTheBatchCloses) {
  flushed.clear();
  char a = 'a', b = 'b', c = 'c';
  {
    WakeupBatch batch;
    EXPECT_TRUE(WakeupBatch::Defer(&b, &Record));
    EXPECT_TRUE(WakeupBatch::Defer(&a, &Record));
    EXPECT_TRUE(WakeupBatch::Defer(&b, &Record));
    EXPECT_TRUE(WakeupBatch::Defer(&c, &Record));
    EXPECT_TRUE(WakeupBatch::Defer(&a, &Record));
    EXPECT_EQ(flushed, "");  // nothing before the batch closes
  }
  EXPECT_EQ(flushed, "bac");
  EXPECT_FALSE(WakeupBatch::Defer(&a, &Record));  // closed
}

TEST(WakeupBatchTest, OnlyTheOutermostBatchFlushes) {
  flushed.clear();
  char a = 'a', b = 'b';
  {
    WakeupBatch outer;
    {
      WakeupBatch inner;
      EXPECT_TRUE(WakeupBatch::Defer(&a, &Record));
    }
    EXPECT_EQ(flushed, "");
    EXPECT_TRUE(WakeupBatch::Defer(&b, &Record));
    EXPECT_TRUE(WakeupBatch::Defer(&a, &Record));
  }
  EXPECT_EQ(flushed, "ab");
}

TEST(WakeupBatchTest, ABatchBelongsToItsThread) {
  flushed.clear();
  char a = 'a';
  bool deferred_elsewhere = true;
  {
    WakeupBatch batch;
    std::thread([&] { deferred_elsewhere = WakeupBatch::Defer(&a, &Record); }).join();
  }
  EXPECT_FALSE(deferred_elsewhere);
  EXPECT_EQ(flushed, "");
}

void DeferAgain(void* target) {
  // A flush that defers more work runs after the batch closed: the caller must wake at once.
  flushed += WakeupBatch::Defer(target, &Record) ? "deferred" : "now";
}

TEST(WakeupBatchTest, AFlushSeesTheBatchClosed) {
  flushed.clear();
  char a = 'a';
  {
    WakeupBatch batch;
    EXPECT_TRUE(WakeupBatch::Defer(&a, &DeferAgain));
  }
  EXPECT_EQ(flushed, "now");
}

}  // namespace
}  // namespace vigil
