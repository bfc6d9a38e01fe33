// The archiver on a real processed log: flush and commit, recovery of an uncommitted flush,
// compaction with "later delivery wins", retention by whole days, and Sync.
#include "archive/archiver.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <map>
#include <mutex>

#include "archive/archive_layout.h"
#include "common/batch_record.h"
#include "common/binary_value.h"
#include "common/file_util.h"
#include "common/temp_dir.h"
#include "common/time_bucket.h"
#include "common/time_format.h"
#include "log/local_log.h"

namespace vigil::archive {
namespace {

const int64_t kDay0 = DayStartMs(2026, 11, 1);

struct Ev {
  Ev(std::string i, int64_t t, EventType ty = EventType::kSessionStart, std::string n = "")
      : id(std::move(i)), ts(t), type(ty), note(std::move(n)) {}
  std::string id;
  int64_t ts;
  EventType type;
  std::string note;  // stored as fields.note
};

std::string Fields(const std::string& note) {
  std::string out;
  BinaryValueWriter w(&out);
  w.BeginObject();
  w.Key("note");
  w.String(note);
  w.EndObject();
  return out;
}

std::string Batch(const std::vector<Ev>& events, std::string_view version = "1.0") {
  std::string app, device;
  {
    BinaryValueWriter w(&app);
    w.BeginObject();
    w.Key("version");
    w.String(version);
    w.EndObject();
  }
  {
    BinaryValueWriter w(&device);
    w.BeginObject();
    w.Key("id");
    w.String("dev-1");
    w.Key("os");
    w.String("android");
    w.EndObject();
  }
  BatchHeader h;
  h.batch_id = "b";
  h.received_ms = kDay0;
  h.app = BinaryValue(app);
  h.device = BinaryValue(device);
  std::string out;
  BatchRecordBuilder b;
  b.Begin(h, &out);
  for (const Ev& e : events) b.AddEvent(e.id, e.type, e.ts, Fields(e.note));
  b.Finish();
  return out;
}

// Every row of an app's archive: id -> (ts, note), with duplicate ids counted.
struct Contents {
  std::map<std::string, std::pair<int64_t, std::string>> rows;
  size_t total = 0;
  size_t parts = 0;
};

class ArchiverTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenLog(); }
  void TearDown() override {
    archiver_.reset();
    log_.reset();
  }
  void OpenLog() {
    auto log = log::LocalLog::Open(dir_ + "/processed", {}, &clock_);
    ASSERT_TRUE(log.ok());
    log_ = std::move(*log);
  }
  void OpenArchiver(ArchiverOptions options = {}) {
    auto a = Archiver::Open(log_.get(), dir_ + "/archive", &clock_, options);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    archiver_ = std::move(*a);
  }
  void Append(const std::string& app, std::string payload) {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    ASSERT_TRUE(log_->Append(app, 0, 1, std::move(payload),
                             [&](const Status& st, const log::AppendResult&) {
                               EXPECT_TRUE(st.ok());
                               std::lock_guard<std::mutex> lock(mu);
                               done = true;
                               cv.notify_all();
                             })
                    .ok());
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  Contents Read(const std::string& app) {
    Contents c;
    for (const PartEntry& p : ListParts(dir_ + "/archive", app, INT64_MIN / 2, INT64_MAX / 2)) {
      Result<PartReader> r = PartReader::Open(p.path);
      EXPECT_TRUE(r.ok()) << p.path;
      if (!r.ok()) continue;
      EXPECT_EQ(r->info().source_first, p.source_first);
      EXPECT_EQ(r->info().source_end, p.source_end);
      EXPECT_EQ(r->info().hour_ms, p.hour_ms);
      PartColumns cols;
      EXPECT_TRUE(r->Read(kAllColumns, &cols).ok());
      for (size_t i = 0; i < cols.rows(); ++i) {
        BinaryValue fields(cols.str(kFields, i));
        c.rows[std::string(cols.str(kId, i))] = {cols.ts(i),
                                                 std::string(fields.Get("note").AsString())};
        EXPECT_EQ(cols.str(kVersion, i), "1.0");
        EXPECT_EQ(cols.str(kOs, i), "android");
        EXPECT_EQ(cols.str(kUser, i), "dev-1");
        BinaryValue context(cols.str(kContext, i));
        EXPECT_EQ(context.Get("batch_id").AsString(), "b");
        EXPECT_EQ(context.Get("received_ms").AsInt(), kDay0);
      }
      c.total += cols.rows();
      c.parts++;
    }
    return c;
  }

  TempDir temp_dir_;
  std::string dir_ = temp_dir_.path();
  FakeClock clock_{kDay0 + 2 * kDayMs};
  std::unique_ptr<log::LocalLog> log_;
  std::unique_ptr<Archiver> archiver_;
};

TEST_F(ArchiverTest, FlushWritesOnePartPerHourAndCommits) {
  OpenArchiver();
  Append("a1", Batch({{"e1", kDay0 + 10}, {"e2", kDay0 + kHourMs + 5}, {"e3", kDay0 + 20}}));
  Append("a1", Batch({{"e4", kDay0 + kDayMs + 7}}));
  Append("a2", Batch({{"x1", kDay0 + 1}}));
  ASSERT_TRUE(archiver_->Sync().ok());
  Contents c = Read("a1");
  EXPECT_EQ(c.total, 4u);
  EXPECT_EQ(c.parts, 3u);  // hours 00 and 01 of day 0, hour 00 of day 1
  EXPECT_EQ(c.rows["e2"].first, kDay0 + kHourMs + 5);
  EXPECT_EQ(Read("a2").total, 1u);
  EXPECT_EQ(archiver_->archived_rows("a1"), 4u);
  EXPECT_EQ(*log_->CommittedOffset("archive", "a1"), 2u);
  EXPECT_EQ(*log_->CommittedOffset("archive", "a2"), 1u);
  EXPECT_TRUE(
      FileExists(dir_ + "/archive/a1/2026-11-01/01/" + "0000000000000000-0000000000000002.vpart"));
  // Nothing new: a second sync writes nothing.
  ASSERT_TRUE(archiver_->Sync().ok());
  EXPECT_EQ(Read("a1").parts, 3u);
}

TEST_F(ArchiverTest, BufferedRowsFlushOnIntervalAndSurviveRestart) {
  ArchiverOptions o;
  o.flush_interval_ms = 1000;
  OpenArchiver(o);
  Append("a1", Batch({{"e1", kDay0 + 10}}));
  bool did = false;
  ASSERT_TRUE(archiver_->RunRound(&did).ok());
  EXPECT_TRUE(did);
  EXPECT_EQ(Read("a1").total, 0u);  // buffered, not yet due
  clock_.AdvanceMs(1000);
  ASSERT_TRUE(archiver_->RunRound(&did).ok());
  EXPECT_EQ(Read("a1").total, 1u);
  // Buffered at stop: flushed by Stop.
  Append("a1", Batch({{"e2", kDay0 + 11}}));
  ASSERT_TRUE(archiver_->RunRound(&did).ok());
  archiver_.reset();
  OpenArchiver(o);
  EXPECT_EQ(archiver_->archived_rows("a1"), 2u);
  ASSERT_TRUE(archiver_->Sync().ok());
  EXPECT_EQ(Read("a1").total, 2u);
}

// A flush that fails half way (one hour's part written, the next one's directory unusable, as
// on a full disk) is retried under the same part names, reading nothing more meanwhile: no row
// is archived twice, and a sync only succeeds once everything is archived.
TEST_F(ArchiverTest, AFailedFlushIsWrittenAgainUnderTheSameNames) {
  ArchiverOptions o;
  o.flush_interval_ms = 1000;
  OpenArchiver(o);
  Append("a1", Batch({{"e1", kDay0 + 10}, {"e2", kDay0 + kHourMs + 5}}));
  const std::string blocked = HourDir(dir_ + "/archive", "a1", kDay0 + kHourMs);
  ASSERT_TRUE(MakeDirs(blocked.substr(0, blocked.rfind('/'))).ok());
  ASSERT_TRUE(WriteFile(blocked, "not a directory").ok());  // hour 01 cannot be written
  bool did = false;
  clock_.AdvanceMs(1000);
  EXPECT_FALSE(archiver_->RunRound(&did).ok());  // hour 00's part written, then the failure
  EXPECT_EQ(Read("a1").total, 1u);
  Append("a1", Batch({{"e3", kDay0 + 20}}));
  clock_.AdvanceMs(1000);
  EXPECT_FALSE(archiver_->RunRound(&did).ok());  // still failing; e3 is not read meanwhile
  EXPECT_FALSE(archiver_->Sync().ok());
  EXPECT_EQ(*log_->CommittedOffset("archive", "a1"), 0u);
  ASSERT_EQ(::unlink(blocked.c_str()), 0);
  ASSERT_TRUE(archiver_->Sync().ok());
  Contents c = Read("a1");
  EXPECT_EQ(c.total, 3u);  // e1 once
  EXPECT_EQ(c.parts, 3u);  // [0, 1) in hours 00 and 01, then [1, 2) in hour 00
  EXPECT_TRUE(
      FileExists(dir_ + "/archive/a1/2026-11-01/00/" + "0000000000000000-0000000000000001.vpart"));
  EXPECT_EQ(*log_->CommittedOffset("archive", "a1"), 2u);
}

TEST_F(ArchiverTest, UncommittedFlushIsRemovedAndArchivedAgainOnce) {
  OpenArchiver();
  Append("a1", Batch({{"e1", kDay0 + 10}}));
  ASSERT_TRUE(archiver_->Sync().ok());
  archiver_.reset();
  // A crash after writing the next flush's part, before committing offset 2: the part covers
  // [1, 2) and the log still holds record 1.
  Append("a1", Batch({{"e2", kDay0 + 20}, {"e3", kDay0 + 30}}));
  {
    std::vector<ArchiveRow> rows(1);
    rows[0].id = "e2";
    rows[0].ts_ms = kDay0 + 20;
    PartInfo info;
    info.app = "a1";
    info.hour_ms = kDay0;
    info.source_first = 1;
    info.source_end = 2;
    ASSERT_TRUE(WritePart(PartPath(dir_ + "/archive", "a1", kDay0, 1, 2), rows, &info).ok());
  }
  OpenArchiver();
  ASSERT_TRUE(archiver_->Sync().ok());
  Contents c = Read("a1");
  EXPECT_EQ(c.total, 3u);
  EXPECT_EQ(c.rows.size(), 3u);
  EXPECT_EQ(c.rows["e2"].second, "");  // the re-archived row, with its fields
}

TEST_F(ArchiverTest, PartsOfAnotherLogAreNeverDeleted) {
  OpenArchiver();
  Append("a1", Batch({{"e1", kDay0 + 10}}));
  ASSERT_TRUE(archiver_->Sync().ok());
  archiver_.reset();
  log_.reset();
  // The log is wiped (a new data directory for the log, the same archive): committed offsets
  // are gone, but the log does not hold the part's records, so the part stays.
  (void)system(("rm -rf " + dir_ + "/processed").c_str());
  OpenLog();
  OpenArchiver();
  EXPECT_EQ(Read("a1").total, 1u);
}

TEST_F(ArchiverTest, CompactionMergesAnHourAndTheLaterDeliveryWins) {
  OpenArchiver();
  Append("a1", Batch({{"e1", kDay0 + 10, EventType::kCrash, "first"}, {"e2", kDay0 + 20}}));
  ASSERT_TRUE(archiver_->Sync().ok());
  Append("a1", Batch({{"e1", kDay0 + 10, EventType::kCrash, "reprocessed"}, {"e3", kDay0 + 5}}));
  ASSERT_TRUE(archiver_->Sync().ok());
  Append("a1", Batch({{"e2", kDay0 + 20}, {"e4", kDay0 + kHourMs}}));
  ASSERT_TRUE(archiver_->Sync().ok());
  EXPECT_EQ(Read("a1").parts, 4u);
  EXPECT_EQ(archiver_->archived_rows("a1"), 6u);
  // The hour ended long ago (the clock is two days later), but it just got its parts: it waits.
  ASSERT_TRUE(archiver_->RunMaintenance(false).ok());
  EXPECT_EQ(Read("a1").parts, 4u);
  // Quiet for compact_settle_ms: it settles and is merged.
  clock_.AdvanceMs(ArchiverOptions().compact_settle_ms);
  ASSERT_TRUE(archiver_->RunMaintenance(false).ok());
  Contents c = Read("a1");
  EXPECT_EQ(c.parts, 2u);
  EXPECT_EQ(c.total, 4u);
  EXPECT_EQ(c.rows["e1"].second, "reprocessed");
  EXPECT_EQ(archiver_->stats().duplicates_dropped, 2u);
  EXPECT_EQ(archiver_->archived_rows("a1"), 4u);
  EXPECT_TRUE(
      FileExists(dir_ + "/archive/a1/2026-11-01/00/" + "0000000000000000-0000000000000003.vpart"));
  // Idempotent: nothing more to merge.
  ASSERT_TRUE(archiver_->RunMaintenance(true).ok());
  EXPECT_EQ(archiver_->stats().compactions, 1u);
}

TEST_F(ArchiverTest, RecentHoursWaitUntilSettledUnlessTheyGatherManyParts) {
  ArchiverOptions o;
  o.compact_max_parts = 3;
  clock_.SetMs(kDay0 + 30 * kMinuteMs);
  OpenArchiver(o);
  for (int i = 0; i < 2; ++i) {
    Append("a1", Batch({{"e" + std::to_string(i), kDay0 + i}}));
    ASSERT_TRUE(archiver_->Sync().ok());
  }
  ASSERT_TRUE(archiver_->RunMaintenance(false).ok());
  EXPECT_EQ(Read("a1").parts, 2u);  // the hour is still open
  Append("a1", Batch({{"e2", kDay0 + 2}}));
  ASSERT_TRUE(archiver_->Sync().ok());
  ASSERT_TRUE(archiver_->RunMaintenance(false).ok());
  EXPECT_EQ(Read("a1").parts, 1u);  // three parts: merged now
  EXPECT_EQ(Read("a1").total, 3u);
}

TEST_F(ArchiverTest, AnOpenHourMergesOnlyItsNewestPartsAndSettlesIntoOne) {
  ArchiverOptions o;
  o.compact_max_parts = 3;
  clock_.SetMs(kDay0 + 30 * kMinuteMs);
  OpenArchiver(o);
  auto flush = [&](const std::string& prefix, int rows, const std::string& note) {
    std::vector<Ev> events;
    for (int i = 0; i < rows; ++i) events.push_back({prefix + std::to_string(i), kDay0 + i});
    events.back().note = note;
    Append("a1", Batch(events));
    ASSERT_TRUE(archiver_->Sync().ok());
  };
  // Three parts of 100 rows: all merged into one, records 0-2.
  for (int k = 0; k < 3; ++k) flush("big" + std::to_string(k) + "-", 100, "");
  ASSERT_TRUE(archiver_->RunMaintenance(false).ok());
  const std::string big =
      dir_ + "/archive/a1/2026-11-01/00/0000000000000000-0000000000000003.vpart";
  ASSERT_TRUE(FileExists(big));
  EXPECT_EQ(Read("a1").parts, 1u);
  // Two small parts more: three again. The big one, bigger than both together, stays as it is;
  // the two are merged (records 3-4). The last resends big0-99 with a new note.
  flush("small-a", 1, "");
  Append("a1", Batch({{"big0-99", kDay0 + 99, EventType::kCustom, "again"}}));
  ASSERT_TRUE(archiver_->Sync().ok());
  ASSERT_TRUE(archiver_->RunMaintenance(false).ok());
  Contents c = Read("a1");
  EXPECT_EQ(c.parts, 2u);
  EXPECT_EQ(c.total, 302u);  // the resent row is in both parts until the hour settles
  EXPECT_TRUE(FileExists(big));
  EXPECT_TRUE(
      FileExists(dir_ + "/archive/a1/2026-11-01/00/0000000000000003-0000000000000005.vpart"));
  EXPECT_EQ(archiver_->stats().compactions, 2u);
  // Once the hour settles, one part: the later delivery wins.
  clock_.SetMs(kDay0 + kHourMs + o.compact_settle_ms);
  ASSERT_TRUE(archiver_->RunMaintenance(false).ok());
  c = Read("a1");
  EXPECT_EQ(c.parts, 1u);
  EXPECT_EQ(c.total, 301u);
  EXPECT_EQ(c.rows["big0-99"].second, "again");
  EXPECT_EQ(archiver_->archived_rows("a1"), 301u);
}

// An hour that ended long ago but still gets late events (devices back online) is not rewritten
// whole at each maintenance: like an open hour it merges only its newest parts once it has
// compact_max_parts, and it settles into one part after compact_settle_ms without a new part.
TEST_F(ArchiverTest, AnOldHourStillGettingLateEventsSettlesOnlyOnceQuiet) {
  ArchiverOptions o;
  o.compact_max_parts = 3;
  OpenArchiver(o);  // the clock is two days after kDay0: hour 00 of kDay0 ended long ago
  auto flush = [&](const std::string& prefix, int rows) {
    std::vector<Ev> events;
    for (int i = 0; i < rows; ++i) events.push_back({prefix + std::to_string(i), kDay0 + i});
    Append("a1", Batch(events));
    ASSERT_TRUE(archiver_->Sync().ok());
  };
  flush("big-", 100);
  flush("late-a", 1);
  ASSERT_TRUE(archiver_->RunMaintenance(false).ok());
  EXPECT_EQ(Read("a1").parts, 2u);  // fewer than compact_max_parts, and not quiet: as it is
  EXPECT_EQ(archiver_->stats().compactions, 0u);
  clock_.AdvanceMs(o.compact_settle_ms / 2);
  flush("late-b", 1);
  ASSERT_TRUE(archiver_->RunMaintenance(false).ok());
  // Three parts: the big one stays, the two late ones are merged.
  Contents c = Read("a1");
  EXPECT_EQ(c.parts, 2u);
  EXPECT_EQ(c.total, 102u);
  EXPECT_TRUE(
      FileExists(dir_ + "/archive/a1/2026-11-01/00/0000000000000000-0000000000000001.vpart"));
  EXPECT_EQ(archiver_->stats().compactions, 1u);
  // compact_settle_ms after the first late part, but not after the last: still two.
  clock_.AdvanceMs(o.compact_settle_ms / 2);
  ASSERT_TRUE(archiver_->RunMaintenance(false).ok());
  EXPECT_EQ(Read("a1").parts, 2u);
  // Quiet for compact_settle_ms since the last: one part.
  clock_.AdvanceMs(o.compact_settle_ms / 2);
  ASSERT_TRUE(archiver_->RunMaintenance(false).ok());
  c = Read("a1");
  EXPECT_EQ(c.parts, 1u);
  EXPECT_EQ(c.total, 102u);
  EXPECT_EQ(archiver_->stats().compactions, 2u);
}

TEST_F(ArchiverTest, RetentionDeletesWholeDaysPerApp) {
  ArchiverOptions o;
  o.retention_days = 3;
  o.app_retention_days["a2"] = 10;
  clock_.SetMs(kDay0 + 5 * kDayMs + kHourMs);  // day 5
  OpenArchiver(o);
  for (int d = 0; d <= 5; ++d) {
    Append("a1", Batch({{"e" + std::to_string(d), kDay0 + d * kDayMs + 1}}));
    Append("a2", Batch({{"x" + std::to_string(d), kDay0 + d * kDayMs + 1}}));
  }
  ASSERT_TRUE(archiver_->Sync().ok());
  ASSERT_TRUE(archiver_->RunMaintenance(false).ok());
  // Three days kept for a1: days 3, 4 and 5 (today).
  std::vector<int64_t> days = ListArchivedDays(dir_ + "/archive", "a1");
  ASSERT_EQ(days.size(), 3u);
  EXPECT_EQ(days[0], kDay0 + 3 * kDayMs);
  EXPECT_EQ(ListArchivedDays(dir_ + "/archive", "a2").size(), 6u);
  EXPECT_EQ(archiver_->archived_rows("a1"), 3u);
  EXPECT_EQ(archiver_->stats().days_expired, 3u);
}

TEST_F(ArchiverTest, SyncWithAWorkerAndCorruptRecordsAreSkipped) {
  OpenArchiver();
  archiver_->Start();
  Append("a1", "not a batch record");
  Append("a1", Batch({{"e1", kDay0 + 10}}));
  ASSERT_TRUE(archiver_->Sync().ok());
  EXPECT_EQ(Read("a1").total, 1u);
  EXPECT_EQ(archiver_->stats().corrupt_records, 1u);
  EXPECT_EQ(*log_->CommittedOffset("archive", "a1"), 2u);
  archiver_->Stop();
}

}  // namespace
}  // namespace vigil::archive
