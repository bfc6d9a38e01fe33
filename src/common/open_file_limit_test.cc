// RaiseOpenFileLimit: the soft limit ends at the hard one.
#include "common/open_file_limit.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace vigil {
namespace {

TEST(OpenFileLimitTest, TheSoftLimitIsRaisedToTheHardOne) {
  struct rlimit before;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  struct rlimit lowered = before;
  lowered.rlim_cur = before.rlim_max < 256 ? before.rlim_max : 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  OpenFileLimit limit = RaiseOpenFileLimit();
  struct rlimit after;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_max);
  EXPECT_EQ(limit.soft, static_cast<uint64_t>(before.rlim_max));
  EXPECT_EQ(limit.hard, static_cast<uint64_t>(before.rlim_max));
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &before), 0);
}

}  // namespace
}  // namespace vigil
