// RateLimitedLog: one line per interval, and the count of those left out in the next one.
#include "common/rate_limited_log.h"

#include <gtest/gtest.h>

#include <string>

namespace vigil {
namespace {

// What was written to `f` since it was opened.
std::string Contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[256];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  return out;
}

TEST(RateLimitedLogTest, PrintsOncePerIntervalAndCountsWhatItLeftOut) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  RateLimitedLog log(10'000, f);
  EXPECT_TRUE(log.Print("vigil: archive: disk full", 5'000));
  EXPECT_FALSE(log.Print("vigil: archive: disk full", 5'200));
  EXPECT_FALSE(log.Print("vigil: archive: disk full", 14'999));
  EXPECT_TRUE(log.Print("vigil: archive: disk full", 15'000));
  EXPECT_TRUE(log.Print("vigil: archive: disk full again", 40'000));  // nothing left out
  EXPECT_EQ(Contents(f),
            "vigil: archive: disk full\n"
            "vigil: archive: disk full (2 more like it in the last 10 s)\n"
            "vigil: archive: disk full again\n");
  std::fclose(f);
}

TEST(RateLimitedLogTest, TheFirstLinePrintsWhateverTheClockSays) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  RateLimitedLog log(10'000, f);
  EXPECT_TRUE(log.Print("first", 0));
  EXPECT_FALSE(log.Print("second", 1));
  EXPECT_EQ(Contents(f), "first\n");
  std::fclose(f);
}

}  // namespace
}  // namespace vigil
