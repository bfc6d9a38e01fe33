// Background stages' threads get the configured nice value added to their own (at 19, the idle
// policy as well); others keep theirs.
#include "common/thread_priority.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

namespace vigil {
namespace {

int ThreadNice() { return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid))); }

TEST(ThreadPriorityTest, BackgroundThreadIsNicerAndOthersAreNot) {
  const int before = BackgroundNice();
  const int base = ThreadNice();
  SetBackgroundNice(7);
  int background = -100, foreground = -100;
  std::thread([&] {
    EnterBackgroundPriority();
    background = ThreadNice();
  }).join();
  std::thread([&] { foreground = ThreadNice(); }).join();
  EXPECT_EQ(background, std::min(19, base + 7));
  EXPECT_EQ(foreground, base);  // the nice value is per thread, not per process
  EXPECT_EQ(ThreadNice(), base);
  SetBackgroundNice(before);
}

TEST(ThreadPriorityTest, ANiceOfNineteenIsAlsoTheIdlePolicy) {
  const int before = BackgroundNice();
  int policy_19 = -1, policy_7 = -1, policy_other = -1;
  SetBackgroundNice(19);
  std::thread([&] {
    EnterBackgroundPriority();
    policy_19 = ::sched_getscheduler(0);
  }).join();
  std::thread([&] { policy_other = ::sched_getscheduler(0); }).join();
  if (ThreadNice() + 7 < 19) {
    SetBackgroundNice(7);
    std::thread([&] {
      EnterBackgroundPriority();
      policy_7 = ::sched_getscheduler(0);
    }).join();
    EXPECT_EQ(policy_7, SCHED_OTHER);
  }
  EXPECT_EQ(policy_19, SCHED_IDLE);
  EXPECT_EQ(policy_other, SCHED_OTHER);  // the policy is per thread too
  EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);
  SetBackgroundNice(before);
}

TEST(ThreadPriorityTest, WakeupPreemptionSwitchesBetweenOtherAndBatchAndKeepsTheNiceValue) {
  const int before = BackgroundNice();
  int batch = -1, other = -1, nice_batch = -100, nice_base = -100, untouched = -1;
  std::thread([&] {
    ASSERT_EQ(::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)),
                            std::min(19, ThreadNice() + 3)),
              0);
    nice_base = ThreadNice();
    EXPECT_TRUE(SetWakeupPreempts(false));
    batch = ::sched_getscheduler(0);
    nice_batch = ThreadNice();
    EXPECT_TRUE(SetWakeupPreempts(false));  // already there
    EXPECT_TRUE(SetWakeupPreempts(true));
    other = ::sched_getscheduler(0);
  }).join();
  EXPECT_EQ(batch, SCHED_BATCH);
  EXPECT_EQ(other, SCHED_OTHER);
  EXPECT_EQ(nice_batch, nice_base);
  // A background stage in the idle policy stays there.
  SetBackgroundNice(19);
  std::thread([&] {
    EnterBackgroundPriority();
    EXPECT_TRUE(SetWakeupPreempts(true));
    untouched = ::sched_getscheduler(0);
  }).join();
  EXPECT_EQ(untouched, SCHED_IDLE);
  EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);  // per thread: this one never changed
  SetBackgroundNice(before);
}

TEST(ThreadPriorityTest, ZeroLeavesThePriorityAndRangeIsClamped) {
  const int before = BackgroundNice();
  const int base = ThreadNice();
  SetBackgroundNice(0);
  int nice = -100;
  std::thread([&] {
    EnterBackgroundPriority();
    nice = ThreadNice();
  }).join();
  EXPECT_EQ(nice, base);
  SetBackgroundNice(40);
  EXPECT_EQ(BackgroundNice(), 19);
  SetBackgroundNice(-3);
  EXPECT_EQ(BackgroundNice(), 0);
  SetBackgroundNice(before);
}

}  // namespace
}  // namespace vigil
