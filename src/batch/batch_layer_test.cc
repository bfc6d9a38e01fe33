// The batch layer over a real archive: exact counts with repeated ids dropped, idempotent
// reruns that write nothing when the cells come out the same, stale cells deleted, sealing only
// after a day ended, and scheduled runs that skip unchanged sealed days.
#include "batch/batch_layer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "archive/archive_layout.h"
#include "archive/part_file.h"
#include "batch/day_cell_keys.h"
#include "common/binary_value.h"
#include "common/file_util.h"
#include "common/temp_dir.h"
#include "common/time_format.h"
#include "serve/rocksdb_store.h"

namespace vigil::batch {
namespace {

const int64_t kDay0 = 1'800'000'000'000 - 1'800'000'000'000 % kDayMs;

class BatchLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = serve::RocksDbStore::Open(dir_ + "/aggregates");
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    batch_ = std::make_unique<BatchLayer>(dir_ + "/archive", nullptr, store_.get(), &clock_);
  }
  void TearDown() override {
    batch_.reset();
    store_.reset();
  }
  // One part of `ids` (session starts of user "u<i % 3>") in the hour of `hour_ms`.
  void WritePartOf(int64_t hour_ms, uint64_t first, const std::vector<std::string>& ids) {
    std::vector<archive::ArchiveRow> rows;
    for (size_t i = 0; i < ids.size(); ++i) {
      archive::ArchiveRow r;
      r.id = ids[i];
      r.ts_ms = hour_ms + static_cast<int64_t>(i);
      r.type = EventType::kSessionStart;
      r.version = "1.0";
      r.user = "u" + std::to_string(i % 3);
      BinaryValueWriter w(&r.fields);
      w.BeginObject();
      w.EndObject();
      rows.push_back(std::move(r));
    }
    WriteRows(hour_ms, first, rows);
  }
  // One part of crashes, each (id, crash group as processing assigned it), user "u<i>".
  void WriteCrashPart(int64_t hour_ms, uint64_t first,
                      const std::vector<std::pair<std::string, std::string>>& id_groups) {
    std::vector<archive::ArchiveRow> rows;
    for (size_t i = 0; i < id_groups.size(); ++i) {
      archive::ArchiveRow r;
      r.id = id_groups[i].first;
      r.ts_ms = hour_ms + static_cast<int64_t>(i);
      r.type = EventType::kCrash;
      r.version = "1.0";
      r.user = "u" + std::to_string(i);
      BinaryValueWriter w(&r.fields);
      w.BeginObject();
      w.Key("processed");
      w.BeginObject();
      w.Key("group_id");
      w.String(id_groups[i].second);
      w.EndObject();
      w.EndObject();
      rows.push_back(std::move(r));
    }
    WriteRows(hour_ms, first, rows);
  }
  void WriteRows(int64_t hour_ms, uint64_t first, const std::vector<archive::ArchiveRow>& rows) {
    ASSERT_TRUE(MakeDirs(archive::HourDir(dir_ + "/archive", "app", hour_ms)).ok());
    archive::PartInfo info;
    info.app = "app";
    info.hour_ms = hour_ms;
    info.source_first = first;
    info.source_end = first + 1;
    Status st = archive::WritePart(
        archive::PartPath(dir_ + "/archive", "app", hour_ms, first, first + 1), rows, &info);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  // The batch cell of (metric, subject, version, every OS) at `g` and `bucket`, if stored.
  std::optional<aggregate::RollupCell> Cell(std::string metric, std::string subject,
                                            std::string version, Granularity g, int64_t bucket) {
    aggregate::RollupKey k;
    k.app = "app";
    k.metric = std::move(metric);
    k.subject = std::move(subject);
    k.version = std::move(version);
    k.granularity = g;
    k.bucket_ms = bucket;
    auto v = store_->GetCell(serve::Layer::kBatch, k);
    EXPECT_TRUE(v.ok());
    if (!v.ok() || !v->has_value()) return std::nullopt;
    aggregate::RollupCell c;
    EXPECT_TRUE(aggregate::RollupCell::Decode(**v, &c).ok());
    return c;
  }
  uint64_t Count(Granularity g, int64_t bucket, std::string version = "") {
    std::optional<aggregate::RollupCell> c = Cell("app_loads", "", std::move(version), g, bucket);
    return c ? c->count : 0;
  }
  BatchRunResult Run(bool only_changed = false) {
    BatchRunRequest r;
    r.from_ms = kDay0 - 10 * kDayMs;
    r.to_ms = kDay0 + 10 * kDayMs;
    r.only_changed = only_changed;
    Result<BatchRunResult> res = batch_->Run(r);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    return res.ok() ? *res : BatchRunResult{};
  }

  TempDir temp_dir_;
  std::string dir_ = temp_dir_.path();
  FakeClock clock_{kDay0 + kDayMs + kHourMs};  // day 1, 01:00
  std::unique_ptr<serve::RocksDbStore> store_;
  std::unique_ptr<BatchLayer> batch_;
};

TEST_F(BatchLayerTest, ExactCountsWithRepeatedIdsDroppedAndSealing) {
  WritePartOf(kDay0, 0, {"a", "b", "c"});
  WritePartOf(kDay0, 1, {"b", "d"});           // "b" delivered twice
  WritePartOf(kDay0 + 5 * kHourMs, 2, {"a"});  // "a" again, in another hour
  WritePartOf(kDay0 + kDayMs, 3, {"x", "y"});  // today: not sealed
  BatchRunResult r = Run();
  EXPECT_EQ(r.days, 2u);
  EXPECT_EQ(r.events, 6u);
  EXPECT_EQ(r.duplicates, 2u);
  EXPECT_EQ(Count(Granularity::kDay, kDay0), 4u);
  EXPECT_EQ(Count(Granularity::kDay, kDay0, "1.0"), 4u);
  EXPECT_EQ(Count(Granularity::kHour, kDay0) + Count(Granularity::kHour, kDay0 + 5 * kHourMs), 4u);
  EXPECT_EQ(Count(Granularity::kDay, kDay0 + kDayMs), 2u);
  EXPECT_EQ(batch_->SealedDays("app", kDay0 - kDayMs, kDay0 + 5 * kDayMs),
            (std::set<int64_t>{kDay0}));
  EXPECT_EQ(batch_->SealedUntil("app"), kDay0 + kDayMs);
}

TEST_F(BatchLayerTest, RerunsAreIdempotentAndScheduledRunsSkipUnchangedDays) {
  WritePartOf(kDay0, 0, {"a", "b"});
  WritePartOf(kDay0 + kDayMs, 1, {"x"});
  Run();
  EXPECT_EQ(Run().days, 2u);                       // a forced rerun recomputes...
  EXPECT_EQ(Count(Granularity::kDay, kDay0), 2u);  // ...to the same values
  // Scheduled: day 0 is sealed and unchanged; day 1 is not over, unchanged: nothing to do.
  EXPECT_EQ(Run(true).days, 0u);
  // A late event lands in day 0: its signature changes and it is recomputed.
  WritePartOf(kDay0 + 3 * kHourMs, 2, {"late"});
  EXPECT_EQ(Run(true).days, 1u);
  EXPECT_EQ(Count(Granularity::kDay, kDay0), 3u);
  // Day 1 ends: the next scheduled run seals it.
  clock_.AdvanceMs(kDayMs);
  EXPECT_EQ(Run(true).days, 1u);
  EXPECT_EQ(batch_->SealedUntil("app"), kDay0 + 2 * kDayMs);
}

TEST_F(BatchLayerTest, ARerunThatComputesTheStoredCellsWritesNoneOfThem) {
  WritePartOf(kDay0, 0, {"a", "b"});
  WritePartOf(kDay0 + kDayMs, 1, {"x"});
  EXPECT_EQ(Run().unchanged_days, 0u);
  // Forced rerun: both days computed again, to the cells stored; nothing is written (the
  // generation, which grows with every write, stays).
  const uint64_t generation = batch_->generation();
  BatchRunResult r = Run();
  EXPECT_EQ(r.days, 2u);
  EXPECT_EQ(r.unchanged_days, 2u);
  EXPECT_EQ(batch_->generation(), generation);
  EXPECT_EQ(Count(Granularity::kDay, kDay0), 2u);
  // Day 0's parts change but not its events (a delivery again, in a new part): recomputed,
  // same cells, and only the new signature is written: the next scheduled run skips the day.
  WritePartOf(kDay0, 2, {"a"});  // the same event: same time, same user
  r = Run(true);
  EXPECT_EQ(r.days, 1u);
  EXPECT_EQ(r.unchanged_days, 1u);
  EXPECT_EQ(r.duplicates, 1u);
  EXPECT_EQ(batch_->generation(), generation + 1);
  EXPECT_EQ(Run(true).days, 0u);
  // Day 1 ends: the scheduled run computes the same cells and seals the day.
  clock_.AdvanceMs(kDayMs);
  r = Run(true);
  EXPECT_EQ(r.days, 1u);
  EXPECT_EQ(r.unchanged_days, 1u);
  EXPECT_EQ(batch_->SealedUntil("app"), kDay0 + 2 * kDayMs);
  EXPECT_EQ(Run(true).days, 0u);
  // A late event: day 0's cells change, and are written.
  WritePartOf(kDay0 + 3 * kHourMs, 3, {"late"});
  r = Run(true);
  EXPECT_EQ(r.days, 1u);
  EXPECT_EQ(r.unchanged_days, 0u);
  EXPECT_EQ(Count(Granularity::kDay, kDay0), 3u);
  // A damaged digest only costs a rewrite.
  serve::WriteSet damage;
  damage.PutMeta("batch/digest/app/" + FormatDay(kDay0), "not a digest");
  ASSERT_TRUE(store_->Apply(damage, true).ok());
  r = Run();
  EXPECT_EQ(r.unchanged_days, 1u);  // day 1 only
  EXPECT_EQ(Count(Granularity::kDay, kDay0), 3u);
  EXPECT_EQ(Run().unchanged_days, 2u);
}

TEST_F(BatchLayerTest, ARerunDeletesTheCellsItNoLongerProduces) {
  const int64_t hour = kDay0 + 2 * kHourMs;
  WriteCrashPart(hour, 0, {{"c1", "sentinel"}, {"c2", "sentinel"}, {"c3", "real"}});
  Run();
  ASSERT_TRUE(Cell("crash_group", "sentinel", "", Granularity::kDay, kDay0).has_value());
  EXPECT_EQ(Cell("crash_group", "sentinel", "", Granularity::kDay, kDay0)->count, 2u);
  // Symbols arrived: processing moved c1 and c2 to their real group, and the archive holds
  // their new version under the same ids, in a later part.
  WriteCrashPart(hour, 1, {{"c1", "real"}, {"c2", "real"}});
  BatchRunResult r = Run();
  EXPECT_EQ(r.duplicates, 2u);
  // The sentinel group's series at (every version, 1.0) × (every OS, unknown OS) × (hour, day).
  EXPECT_EQ(r.stale_cells, 8u);
  for (const char* version : {"", "1.0"}) {
    for (auto [g, bucket] : {std::pair{Granularity::kHour, hour}, {Granularity::kDay, kDay0}}) {
      EXPECT_FALSE(Cell("crash_group", "sentinel", version, g, bucket).has_value()) << version;
      ASSERT_TRUE(Cell("crash_group", "real", version, g, bucket).has_value()) << version;
      EXPECT_EQ(Cell("crash_group", "real", version, g, bucket)->count, 3u) << version;
      EXPECT_EQ(Cell("crashes", "", version, g, bucket)->count, 3u) << version;
    }
  }
  // Nothing more is stale on the next rerun.
  EXPECT_EQ(Run().stale_cells, 0u);
  EXPECT_EQ(Cell("crash_group", "real", "", Granularity::kDay, kDay0)->count, 3u);
}

TEST_F(BatchLayerTest, ADamagedCellListDeletesNothingAndIsReplaced) {
  WritePartOf(kDay0, 0, {"a", "b"});
  Run();
  serve::WriteSet damage;
  damage.PutMeta("batch/cells/app/" + FormatDay(kDay0), "K\x01\x05truncated");
  ASSERT_TRUE(store_->Apply(damage, true).ok());
  BatchRunResult r = Run();
  EXPECT_EQ(r.days, 1u);
  EXPECT_EQ(r.stale_cells, 0u);
  EXPECT_EQ(Count(Granularity::kDay, kDay0), 2u);
  // The list was rewritten whole: a rerun reads it again.
  auto stored = store_->GetMeta("batch/cells/app/" + FormatDay(kDay0));
  ASSERT_TRUE(stored.ok() && stored->has_value());
  std::vector<std::string> keys;
  EXPECT_TRUE(DecodeDayCellKeys(**stored, &keys).ok());
  EXPECT_FALSE(keys.empty());
}

TEST(BatchScheduleTest, ANewStoreWaitsAnIntervalAndARestartRunsOnlyWhatCameDue) {
  BatchOptions o;  // hourly every hour, daily every day
  const int64_t now = 1'700'000'000'000;
  // Nothing stored (or not readable as a schedule): both passes an hourly interval from now.
  for (std::string_view stored : {"", "garbage", "1 2 3", "12"}) {
    BatchSchedule s = ScheduleAtStart(stored, now, o);
    EXPECT_EQ(s.next_hourly_ms, now + 3'600'000) << stored;
    EXPECT_EQ(s.next_daily_ms, now + 3'600'000) << stored;
  }
  // Stored and still ahead: kept, so a restart runs no pass that was not due.
  BatchSchedule ahead{now + 1'000'000, now + 50'000'000};
  BatchSchedule s = ScheduleAtStart(FormatBatchSchedule(ahead), now, o);
  EXPECT_EQ(s.next_hourly_ms, now + 1'000'000);
  EXPECT_EQ(s.next_daily_ms, now + 50'000'000);
  // Came due while the server was down (or within its first minute): a minute after the start.
  BatchSchedule past{now - 7'200'000, now + 30'000};
  s = ScheduleAtStart(FormatBatchSchedule(past), now, o);
  EXPECT_EQ(s.next_hourly_ms, now + 60'000);
  EXPECT_EQ(s.next_daily_ms, now + 60'000);
  // Further ahead than an interval (the interval was shortened, or a clock ran ahead): one
  // interval from now.
  BatchSchedule far{now + 10 * 3'600'000LL, now + 3 * 86'400'000LL};
  s = ScheduleAtStart(FormatBatchSchedule(far), now, o);
  EXPECT_EQ(s.next_hourly_ms, now + 3'600'000);
  EXPECT_EQ(s.next_daily_ms, now + 86'400'000);
  s = ScheduleAtStart("18446744073709551615 18446744073709551615", now, o);
  EXPECT_EQ(s.next_hourly_ms, now + 3'600'000);
  EXPECT_EQ(s.next_daily_ms, now + 86'400'000);
}

}  // namespace
}  // namespace vigil::batch
