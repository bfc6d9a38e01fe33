// The speed layer on a real processed log and store: micro-batches, the window (late and future
// events), reprocessed crashes, and restarts that resume exactly where the stored cells end.
#include "speed/speed_layer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>

#include "common/binary_value.h"
#include "common/temp_dir.h"
#include "log/local_log.h"
#include "serve/rocksdb_store.h"

namespace vigil::speed {
namespace {

const int64_t kNow = 1'800'000'000'000 - 1'800'000'000'000 % kDayMs + 12 * kHourMs;

std::string Record(const std::vector<std::pair<std::string, int64_t>>& sessions,
                   bool reprocessed_crash = false) {
  std::string user;
  {
    BinaryValueWriter w(&user);
    w.BeginObject();
    w.Key("id");
    w.String("u1");
    w.EndObject();
  }
  std::string empty, reprocessed;
  {
    BinaryValueWriter w(&empty);
    w.BeginObject();
    w.EndObject();
  }
  {
    BinaryValueWriter w(&reprocessed);
    w.BeginObject();
    w.Key("processing");
    w.BeginObject();
    w.Key("reprocessed");
    w.Bool(true);
    w.EndObject();
    w.EndObject();
  }
  BatchHeader h;
  h.batch_id = "b";
  h.user = BinaryValue(user);
  std::string out;
  BatchRecordBuilder b;
  b.Begin(h, &out);
  for (const auto& [id, ts] : sessions) b.AddEvent(id, EventType::kSessionStart, ts, empty);
  if (reprocessed_crash) b.AddEvent("c1", EventType::kCrash, kNow, reprocessed);
  b.Finish();
  return out;
}

class SpeedLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = log::LocalLog::Open(dir_ + "/processed", {}, &clock_);
    ASSERT_TRUE(log.ok());
    log_ = std::move(*log);
    OpenStoreAndSpeed();
  }
  void TearDown() override {
    speed_.reset();
    store_.reset();
    log_.reset();
  }
  void OpenStoreAndSpeed() {
    speed_.reset();
    store_.reset();
    auto store = serve::RocksDbStore::Open(dir_ + "/aggregates");
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    auto speed = SpeedLayer::Open(log_.get(), store_.get(), &clock_);
    ASSERT_TRUE(speed.ok());
    speed_ = std::move(*speed);
  }
  void Append(std::string payload) {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    ASSERT_TRUE(log_->Append("app", 0, 1, std::move(payload),
                             [&](const Status&, const log::AppendResult&) {
                               std::lock_guard<std::mutex> lock(mu);
                               done = true;
                               cv.notify_all();
                             })
                    .ok());
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  uint64_t Count(Granularity g, int64_t bucket, const char* metric = "app_loads") {
    aggregate::RollupKey k;
    k.app = "app";
    k.metric = metric;
    k.granularity = g;
    k.bucket_ms = bucket;
    auto v = store_->GetCell(serve::Layer::kSpeed, k);
    if (!v.ok() || !v->has_value()) return 0;
    aggregate::RollupCell c;
    EXPECT_TRUE(aggregate::RollupCell::Decode(**v, &c).ok());
    return c.count;
  }
  void Drain() {
    bool did = true;
    for (int i = 0; did && i < 100; ++i) ASSERT_TRUE(speed_->RunMicroBatch(&did).ok());
  }

  TempDir temp_dir_;
  std::string dir_ = temp_dir_.path();
  FakeClock clock_{kNow};
  std::unique_ptr<log::LocalLog> log_;
  std::unique_ptr<serve::RocksDbStore> store_;
  std::unique_ptr<SpeedLayer> speed_;
};

TEST_F(SpeedLayerTest, CountsEveryGranularityAndTheWindow) {
  Append(Record({{"a", kNow - 30 * 1000},
                 {"b", kNow - 90 * 1000},
                 {"c", kNow - 3 * kHourMs},
                 {"old", kNow - 49 * kHourMs},
                 {"future", kNow + 2 * kHourMs}},
                /*reprocessed_crash=*/true));
  Drain();
  EXPECT_EQ(Count(Granularity::kMinute, BucketStart(kNow - 30 * 1000, Granularity::kMinute)), 1u);
  EXPECT_EQ(Count(Granularity::kHour, BucketStart(kNow, Granularity::kHour) - kHourMs),
            2u);  // "a" and "b", both in 11:00
  // Minute cells only for the last two hours: "c" has no minute cell.
  EXPECT_EQ(Count(Granularity::kMinute, BucketStart(kNow - 3 * kHourMs, Granularity::kMinute)), 0u);
  EXPECT_EQ(Count(Granularity::kDay, BucketStart(kNow, Granularity::kDay)), 3u);
  EXPECT_EQ(Count(Granularity::kDay, BucketStart(kNow, Granularity::kDay), "crashes"), 0u);
  SpeedStats s = speed_->stats();
  EXPECT_EQ(s.late, 1u);
  EXPECT_EQ(s.future, 1u);
  EXPECT_EQ(s.reprocessed, 1u);
  EXPECT_EQ(speed_->events_processed("app"), 3u);
  EXPECT_EQ(speed_->lag_ms(), 0);
}

TEST_F(SpeedLayerTest, RestartResumesWithoutCountingTwice) {
  const int64_t day = BucketStart(kNow, Granularity::kDay);
  Append(Record({{"a", kNow}, {"b", kNow}}));
  Drain();
  EXPECT_EQ(Count(Granularity::kDay, day), 2u);
  // A restart (the store and offsets reopened) reads nothing twice...
  OpenStoreAndSpeed();
  Drain();
  EXPECT_EQ(Count(Granularity::kDay, day), 2u);
  EXPECT_EQ(speed_->events_processed("app"), 2u);
  // ...and adds to the stored cells, not to empty ones.
  Append(Record({{"c", kNow}}));
  Drain();
  EXPECT_EQ(Count(Granularity::kDay, day), 3u);
  EXPECT_EQ(speed_->events_processed("app"), 3u);
}

TEST_F(SpeedLayerTest, OffsetsAreCommittedInTheLogEveryIntervalSoRetentionCanGo) {
  auto committed = [&] {
    Result<uint64_t> c = log_->CommittedOffset("speed", "app");
    EXPECT_TRUE(c.ok());
    return c.ok() ? *c : 0;
  };
  Append(Record({{"a", kNow}}));
  Drain();
  EXPECT_EQ(committed(), 1u);  // the first micro-batch commits
  Append(Record({{"b", kNow}}));
  Drain();
  EXPECT_EQ(committed(), 1u);  // within the interval: in the store only
  clock_.AdvanceMs(SpeedOptions{}.log_commit_interval_ms);
  Append(Record({{"c", kNow}}));
  Drain();
  EXPECT_EQ(committed(), 3u);
  EXPECT_EQ(speed_->events_processed("app"), 3u);
  // A micro-batch within the interval, then nothing more: once the interval passes, the idle
  // speed layer commits it (before, its offset stayed in the store until the app sent again).
  Append(Record({{"d", kNow}}));
  Drain();
  ASSERT_TRUE(speed_->CommitWhileIdle().ok());
  EXPECT_EQ(committed(), 3u);  // within the interval
  clock_.AdvanceMs(SpeedOptions{}.log_commit_interval_ms);
  ASSERT_TRUE(speed_->CommitWhileIdle().ok());
  EXPECT_EQ(committed(), 4u);
  // What it committed is what a restart resumes from: nothing is counted twice.
  OpenStoreAndSpeed();
  Drain();
  EXPECT_EQ(speed_->events_processed("app"), 4u);
  EXPECT_EQ(Count(Granularity::kDay, BucketStart(kNow, Granularity::kDay)), 4u);
}

TEST_F(SpeedLayerTest, AnAppsLagIsTheAgeOfItsOldestRecordNotYetAggregated) {
  EXPECT_EQ(speed_->lag_ms("app"), 0);  // nothing in the log
  Append(Record({{"a", kNow}}));
  // Appended at kNow, not aggregated yet: seen at once, whatever the last micro-batch said.
  EXPECT_EQ(speed_->lag_ms(), 0);
  EXPECT_EQ(speed_->lag_ms("app"), 1);  // at least 1 ms while behind
  clock_.AdvanceMs(2500);
  EXPECT_EQ(speed_->lag_ms("app"), 2500);
  Drain();
  EXPECT_EQ(speed_->lag_ms("app"), 0);
  Append(Record({{"b", kNow}}));  // appended at kNow + 2500
  clock_.AdvanceMs(700);
  EXPECT_EQ(speed_->lag_ms("app"), 700);
  // After a restart it measures from the offset speed stored.
  OpenStoreAndSpeed();
  EXPECT_EQ(speed_->lag_ms("app"), 700);
  Drain();
  EXPECT_EQ(speed_->lag_ms("app"), 0);
  EXPECT_EQ(speed_->lag_ms("other"), 0);
}

TEST_F(SpeedLayerTest, SweepDropsCellsPastTheWindow) {
  Append(Record({{"a", kNow - 40 * kHourMs}, {"b", kNow}}));
  Drain();
  const int64_t old_hour = BucketStart(kNow - 40 * kHourMs, Granularity::kHour);
  EXPECT_EQ(Count(Granularity::kHour, old_hour), 1u);
  clock_.AdvanceMs(10 * kHourMs);
  ASSERT_TRUE(speed_->Sweep().ok());
  EXPECT_EQ(Count(Granularity::kHour, old_hour), 0u);
  EXPECT_EQ(Count(Granularity::kHour, BucketStart(kNow, Granularity::kHour)), 1u);
}

// A crash record as processing writes it: in `group`, sentinel or not, first pass or again.
std::string CrashRecord(const std::string& event_id, const std::string& group, bool sentinel,
                        bool reprocessed) {
  std::string fields;
  {
    BinaryValueWriter w(&fields);
    w.BeginObject();
    w.Key("processed");
    w.BeginObject();
    w.Key("group_id");
    w.String(group);
    w.Key("sentinel");
    w.Bool(sentinel);
    w.EndObject();
    w.Key("processing");
    w.BeginObject();
    w.Key("reprocessed");
    w.Bool(reprocessed);
    w.EndObject();
    w.EndObject();
  }
  const std::string batch_id = "b-" + event_id + (reprocessed ? "-again" : "");
  BatchHeader h;
  h.batch_id = batch_id;
  std::string out;
  BatchRecordBuilder b;
  b.Begin(h, &out);
  b.AddEvent(event_id, EventType::kCrash, kNow, fields);
  b.Finish();
  return out;
}

TEST_F(SpeedLayerTest, ReprocessedCrashesMoveOutOfTheirSentinelGroupOnce) {
  auto group = [&](const char* id) {
    aggregate::RollupKey k;
    k.app = "app";
    k.metric = "crash_group";
    k.subject = id;
    k.granularity = Granularity::kDay;
    k.bucket_ms = BucketStart(kNow, Granularity::kDay);
    aggregate::RollupCell c;
    auto v = store_->GetCell(serve::Layer::kSpeed, k);
    if (v.ok() && v->has_value()) {
      EXPECT_TRUE(aggregate::RollupCell::Decode(**v, &c).ok());
    }
    return std::pair<uint64_t, uint64_t>(c.count, c.errors);  // counted, moved out
  };
  using P = std::pair<uint64_t, uint64_t>;
  Append(CrashRecord("e1", "sentinel-1", true, false));
  Append(CrashRecord("e2", "sentinel-1", true, false));
  Drain();
  EXPECT_EQ(group("sentinel-1"), P(2, 0));
  // e1 comes back in its real group (in a later micro-batch, after a restart)...
  OpenStoreAndSpeed();
  Append(CrashRecord("e1", "real", false, true));
  Drain();
  EXPECT_EQ(group("sentinel-1"), P(2, 1));
  EXPECT_EQ(group("real"), P(1, 0));
  // ...a second reprocessing of e1 finds no mark and is skipped; e2, marked and moved in the same
  // micro-batch as its first pass would be, moves once as well.
  Append(CrashRecord("e1", "real", false, true));
  Append(CrashRecord("e3", "sentinel-1", true, false));
  Append(CrashRecord("e3", "real", false, true));
  Drain();
  EXPECT_EQ(group("sentinel-1"), P(3, 2));
  EXPECT_EQ(group("real"), P(2, 0));
  EXPECT_EQ(Count(Granularity::kDay, BucketStart(kNow, Granularity::kDay), "crashes"), 3u);
  EXPECT_EQ(speed_->stats().regrouped, 2u);  // e1 once, e3
  // Marks leave with the window.
  clock_.AdvanceMs(49 * kHourMs);
  ASSERT_TRUE(speed_->Sweep().ok());
  int marks = 0;
  ASSERT_TRUE(store_->ScanMeta("speed/sentinel/", [&](auto, auto) { ++marks; }).ok());
  EXPECT_EQ(marks, 0);
}

TEST(MicroBatchIntervalTest, QuickBatchesKeepTheMinimumSlowOnesAreSpacedWithinTheFreshnessBudget) {
  SpeedOptions o;  // 250 ms at least, 4 times a batch's time, 900 ms less its time at most
  EXPECT_EQ(MicroBatchInterval(o, 0), 250);
  EXPECT_EQ(MicroBatchInterval(o, 62), 250);
  EXPECT_EQ(MicroBatchInterval(o, 63), 252);
  EXPECT_EQ(MicroBatchInterval(o, 150), 600);  // spacing: 600 + 150 within the budget
  EXPECT_EQ(MicroBatchInterval(o, 180), 720);
  EXPECT_EQ(MicroBatchInterval(o, 200), 700);  // the budget: an event waits 700 + 200 at most
  EXPECT_EQ(MicroBatchInterval(o, 500), 400);
  EXPECT_EQ(MicroBatchInterval(o, 650), 250);  // the budget spent: the minimum
  EXPECT_EQ(MicroBatchInterval(o, 5000), 250);
  o.batch_spacing = 1;  // spacing off: the minimum alone
  EXPECT_EQ(MicroBatchInterval(o, 200), 250);
}

}  // namespace
}  // namespace vigil::speed
