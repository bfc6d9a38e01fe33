// Background stages' threads get the configured nice value added to their own; others keep theirs.
#include "common/thread_priority.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

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
