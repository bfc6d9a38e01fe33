// UTC day and RFC 3339 formatting and parsing, checked against dates computed by hand and by
// timegm for every day of four centuries.
#include "common/time_format.h"

#include <gtest/gtest.h>
#include <time.h>

namespace vigil {
namespace {

TEST(TimeFormatTest, KnownDates) {
  EXPECT_EQ(DayStartMs(1970, 1, 1), 0);
  EXPECT_EQ(DayStartMs(2026, 11, 22), 1795305600000);
  EXPECT_EQ(FormatDay(1795305600000 + 86399999), "2026-11-22");
  EXPECT_EQ(FormatDay(-1), "1969-12-31");
  EXPECT_EQ(FormatRfc3339(1795305600000 + 3723000), "2026-11-22T01:02:03Z");
  EXPECT_EQ(FormatRfc3339(1795305600000 + 3723045), "2026-11-22T01:02:03.045Z");
  EXPECT_EQ(FormatDay(DayStartMs(2024, 2, 29)), "2024-02-29");
}

TEST(TimeFormatTest, EveryDayAgreesWithTimegm) {
  for (int64_t day = -40000; day < 110000; day += 7) {
    int64_t ms = day * 86400000;
    time_t t = static_cast<time_t>(day * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
    ASSERT_EQ(FormatDay(ms), buf);
    ASSERT_EQ(*ParseTime(buf), ms);
  }
}

TEST(TimeFormatTest, ParsesEveryAcceptedForm) {
  const int64_t d = DayStartMs(2026, 11, 22);
  EXPECT_EQ(*ParseTime("2026-11-22"), d);
  EXPECT_EQ(*ParseTime("2026-11-22T10:00:00Z"), d + 36000000);
  EXPECT_EQ(*ParseTime("2026-11-22t10:00:00.5z"), d + 36000500);
  EXPECT_EQ(*ParseTime("2026-11-22T10:00:00.123456789Z"), d + 36000123);
  EXPECT_EQ(*ParseTime("2026-11-22T10:00:00+02:00"), d + 28800000);
  EXPECT_EQ(*ParseTime("2026-11-22T10:00:00-01:30"), d + 41400000);
  EXPECT_EQ(*ParseTime("1795305600000"), d);
  EXPECT_EQ(*ParseTime("-5"), -5);
}

TEST(TimeFormatTest, RejectsMalformedTimes) {
  for (const char* bad :
       {"", "2026-13-01", "2026-02-30", "2026-11-22T25:00:00Z", "2026-11-22T10:00Z",
        "2026-11-22T10:00:00", "2026-11-22T10:00:00+0200", "2026/11/22", "12a", "-",
        "2026-11-22T10:00:00.Z", "99999999999999999", "2026-11-22T10:00:00ZZ"}) {
    Result<int64_t> r = ParseTime(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("RFC 3339"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace vigil
