// QuotaLimiter: token-bucket admission of batches, with a fake clock; every expected number is
// worked out by hand from the rule in quota_limiter.h.
#include "ingest/quota_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace vigil::ingest {
namespace {

App AppWith(std::string id, uint64_t rate, uint64_t burst = 0) {
  App app;
  app.id = std::move(id);
  app.quota.events_per_second = rate;
  app.quota.burst_events = burst;
  return app;
}

class QuotaLimiterTest : public ::testing::Test {
 protected:
  FakeClock clock_{1700000000000};
  QuotaLimiter limiter_{&clock_};
};

TEST_F(QuotaLimiterTest, AnAppWithoutAQuotaIsAlwaysAdmittedAndNotTracked) {
  App app = AppWith("free", 0);
  for (int i = 0; i < 1000; ++i) {
    QuotaLimiter::Admission a = limiter_.Take(app, 10000);
    ASSERT_TRUE(a.admitted);
    EXPECT_EQ(a.bucket, nullptr);
  }
  std::string out;
  limiter_.Render(&out);
  EXPECT_EQ(out.find("app=\"free\""), std::string::npos);
}

// 100 events/s, bursts of 200: the bucket starts full.
TEST_F(QuotaLimiterTest, BatchesAreAdmittedWhileTheBucketHoldsThem) {
  App app = AppWith("a", 100, 200);
  EXPECT_TRUE(limiter_.Take(app, 80).admitted);  // 120 left
  EXPECT_TRUE(limiter_.Take(app, 80).admitted);  // 40 left
  QuotaLimiter::Admission refused = limiter_.Take(app, 80);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry_after_s, 1);  // 40 missing at 100/s: 0.4 s, rounded up
  clock_.AdvanceMs(399);                // 79.9 tokens
  EXPECT_FALSE(limiter_.Take(app, 80).admitted);
  clock_.AdvanceMs(1);  // 80
  EXPECT_TRUE(limiter_.Take(app, 80).admitted);
  EXPECT_TRUE(limiter_.Take(app, 0).admitted);
  // Idle for a minute: the bucket holds the burst, not 6,000.
  clock_.AdvanceMs(60000);
  EXPECT_TRUE(limiter_.Take(app, 200).admitted);
  EXPECT_FALSE(limiter_.Take(app, 1).admitted);
  std::string out;
  limiter_.Render(&out);
  EXPECT_NE(out.find("vigil_ingest_quota_refused_batches_total{app=\"a\"} 3\n"), std::string::npos)
      << out;
}

TEST_F(QuotaLimiterTest, RetryAfterIsTheWholeSecondsUntilTheBatchFits) {
  App app = AppWith("a", 10, 100);
  EXPECT_TRUE(limiter_.Take(app, 100).admitted);
  QuotaLimiter::Admission a = limiter_.Take(app, 35);
  EXPECT_FALSE(a.admitted);
  EXPECT_EQ(a.retry_after_s, 4);  // 35 at 10/s: 3.5 s
  clock_.AdvanceMs(3500);
  EXPECT_TRUE(limiter_.Take(app, 35).admitted);
}

// The default burst is ten seconds of the rate.
TEST_F(QuotaLimiterTest, TheDefaultBurstIsTenSecondsWorth) {
  App app = AppWith("a", 5);
  EXPECT_EQ(app.quota.burst(), 50u);
  EXPECT_TRUE(limiter_.Take(app, 50).admitted);
  EXPECT_FALSE(limiter_.Take(app, 1).admitted);
}

// A batch larger than the burst is admitted from a full bucket, and leaves a debt that the
// rate pays back before anything else is admitted.
TEST_F(QuotaLimiterTest, ABatchLargerThanTheBurstPassesFromAFullBucketAndLeavesADebt) {
  App app = AppWith("a", 10, 20);
  QuotaLimiter::Admission a = limiter_.Take(app, 50);  // 20 -> -30
  EXPECT_TRUE(a.admitted);
  a = limiter_.Take(app, 1);
  EXPECT_FALSE(a.admitted);
  EXPECT_EQ(a.retry_after_s, 4);  // from -30 to 1: 3.1 s
  EXPECT_FALSE(limiter_.Check(app).admitted);
  clock_.AdvanceMs(3000);  // 0
  EXPECT_FALSE(limiter_.Check(app).admitted);
  clock_.AdvanceMs(100);  // 1
  EXPECT_TRUE(limiter_.Check(app).admitted);
  clock_.AdvanceMs(1900);                        // 20, full again
  EXPECT_TRUE(limiter_.Take(app, 21).admitted);  // min(21, 20) = 20 are there
}

TEST_F(QuotaLimiterTest, CheckTakesNothing) {
  App app = AppWith("a", 10, 10);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(limiter_.Check(app).admitted);
  EXPECT_TRUE(limiter_.Take(app, 10).admitted);
  QuotaLimiter::Admission a = limiter_.Check(app);
  EXPECT_FALSE(a.admitted);
  EXPECT_EQ(a.retry_after_s, 1);
}

TEST_F(QuotaLimiterTest, ARefundGivesBackWhatWasTakenUpToTheBurst) {
  App app = AppWith("a", 1, 10);
  QuotaLimiter::Admission a = limiter_.Take(app, 10);
  ASSERT_TRUE(a.admitted);
  EXPECT_FALSE(limiter_.Take(app, 1).admitted);
  QuotaLimiter::Refund(a.bucket, 10);
  EXPECT_TRUE(limiter_.Take(app, 10).admitted);
  QuotaLimiter::Refund(a.bucket, 1000);  // capped at the burst
  EXPECT_TRUE(limiter_.Take(app, 10).admitted);
  EXPECT_FALSE(limiter_.Take(app, 1).admitted);
  QuotaLimiter::Refund(nullptr, 5);  // an app without a quota: nothing to do
}

// Buckets are per app, and follow a quota change at once.
TEST_F(QuotaLimiterTest, BucketsArePerAppAndFollowQuotaChanges) {
  App a = AppWith("a", 10, 10), b = AppWith("b", 10, 10);
  EXPECT_TRUE(limiter_.Take(a, 10).admitted);
  EXPECT_FALSE(limiter_.Take(a, 1).admitted);
  EXPECT_TRUE(limiter_.Take(b, 10).admitted);  // b's flood is b's
  a.quota = {1000, 1000};
  clock_.AdvanceMs(100);  // 100 ms at the new rate: 100 events
  EXPECT_TRUE(limiter_.Take(a, 100).admitted);
  EXPECT_FALSE(limiter_.Take(a, 1).admitted);
  a.quota = {1, 5};  // lowered: whatever the bucket held is cut to the new burst
  clock_.AdvanceMs(60000);
  EXPECT_TRUE(limiter_.Take(a, 5).admitted);
  EXPECT_FALSE(limiter_.Take(a, 1).admitted);
  a.quota = {};  // removed
  EXPECT_TRUE(limiter_.Take(a, 1000000).admitted);
}

TEST_F(QuotaLimiterTest, RetryAfterIsCappedAtAnHour) {
  App app = AppWith("a", 1, 1'000'000);
  ASSERT_TRUE(limiter_.Take(app, 1'000'000).admitted);
  QuotaLimiter::Admission a = limiter_.Take(app, 1'000'000);
  EXPECT_FALSE(a.admitted);
  EXPECT_EQ(a.retry_after_s, 3600);
}

// Two threads taking from one bucket take exactly what it holds.
TEST_F(QuotaLimiterTest, ConcurrentTakesNeverOverdrawTheBucket) {
  App app = AppWith("a", 1, 100000);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50000; ++i) {
        if (limiter_.Take(app, 1).admitted) admitted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 100000);
}

}  // namespace
}  // namespace vigil::ingest
