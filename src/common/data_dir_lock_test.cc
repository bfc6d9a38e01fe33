// DataDirLock: one holder at a time, the holder's pid in the refusal, and release on destruction.
#include "common/data_dir_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "common/temp_dir.h"

namespace vigil {
namespace {

TEST(DataDirLockTest, OneHolderAtATimeAndTheRefusalNamesIt) {
  TempDir dir;
  std::optional<Result<DataDirLock>> first(DataDirLock::Acquire(dir.path()));
  ASSERT_TRUE(first->ok()) << first->status().ToString();
  // flock belongs to the open file: a second open, even in this process, is refused.
  Result<DataDirLock> second = DataDirLock::Acquire(dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(second.status().message(), "another vigil serve (pid " + std::to_string(::getpid()) +
                                           ") is using the data directory " + dir.path() +
                                           ": stop it first, or give this one another --data");
  first.reset();  // released
  Result<DataDirLock> third = DataDirLock::Acquire(dir.path());
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

TEST(DataDirLockTest, AMissingDirectoryIsAnError) {
  Result<DataDirLock> lock = DataDirLock::Acquire("/nonexistent-vigil-dir/x");
  ASSERT_FALSE(lock.ok());
  EXPECT_NE(lock.status().message().find("open /nonexistent-vigil-dir/x/vigil.lock"),
            std::string::npos);
}

}  // namespace
}  // namespace vigil
