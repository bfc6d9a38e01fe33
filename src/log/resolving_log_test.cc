// ResolvingLog: references read as their base records, and base-log commits that keep what a
// reader still needs (through two real LocalLogs, as vigil serve wires the processed and raw logs).
#include "log/resolving_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <future>

#include "common/clock.h"
#include "common/temp_dir.h"
#include "log/local_log.h"

namespace vigil::log {
namespace {

class ResolvingLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<LocalLog> OpenLog(const std::string& name, LocalLogOptions options = {}) {
    auto log = LocalLog::Open(dir_ + "/" + name, std::move(options), &clock_);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return std::move(log).value();
  }

  // Appends and waits for durability; returns the offset.
  static uint64_t Append(LogStore* log, std::string_view part, std::string payload) {
    std::promise<std::pair<Status, AppendResult>> done;
    Status st =
        log->Append(part, 0, 1, std::move(payload), [&](const Status& s, const AppendResult& r) {
          done.set_value({s, r});
        });
    EXPECT_TRUE(st.ok()) << st.ToString();
    auto [result, appended] = done.get_future().get();
    EXPECT_TRUE(result.ok()) << result.ToString();
    return appended.offset;
  }

  static std::vector<std::string> Payloads(LogStore* log, std::string_view part, uint64_t from,
                                           size_t max) {
    std::vector<LogRecord> records;
    Status st = log->Read(part, from, max, &records);
    EXPECT_TRUE(st.ok()) << st.ToString();
    std::vector<std::string> out;
    for (LogRecord& r : records) out.push_back(std::move(r.payload));
    return out;
  }

  static uint64_t Committed(LogStore* log, std::string_view consumer, std::string_view part) {
    Result<uint64_t> r = log->CommittedOffset(consumer, part);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : 0;
  }

  // Commits `next` in partition "app" through `view`; returns the consumer's base commit then.
  static uint64_t BaseAfterCommit(ResolvingLog* view, LogStore* base, std::string_view consumer,
                                  uint64_t next) {
    Status st = view->CommitOffset(consumer, "app", next);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return Committed(base, consumer, "app");
  }

  TempDir temp_dir_;
  std::string dir_ = temp_dir_.path();
  FakeClock clock_{1700000000000};
};

TEST(ReferenceTest, EncodesTwelveBytesAndDecodesOnlyItsOwnForm) {
  const std::string ref = EncodeReference(0x0102030405060708ull);
  ASSERT_EQ(ref.size(), kReferenceSize);
  EXPECT_EQ(ref, std::string("VR\x01\x00\x08\x07\x06\x05\x04\x03\x02\x01", 12));
  uint64_t offset = 0;
  ASSERT_TRUE(DecodeReference(ref, &offset));
  EXPECT_EQ(offset, 0x0102030405060708ull);
  ASSERT_TRUE(DecodeReference(EncodeReference(0), &offset));
  EXPECT_EQ(offset, 0u);

  offset = 7;
  EXPECT_FALSE(DecodeReference("", &offset));
  EXPECT_FALSE(DecodeReference(ref.substr(0, 11), &offset));  // truncated
  EXPECT_FALSE(DecodeReference(ref + "x", &offset));          // trailing byte
  std::string wrong = ref;
  wrong[1] = 'B';  // a batch record's magic
  EXPECT_FALSE(DecodeReference(wrong, &offset));
  wrong = ref;
  wrong[2] = 2;  // a version this reader does not know
  EXPECT_FALSE(DecodeReference(wrong, &offset));
  wrong = ref;
  wrong[3] = 1;  // reserved
  EXPECT_FALSE(DecodeReference(wrong, &offset));
  EXPECT_EQ(offset, 7u);  // untouched by a failed decode
}

TEST_F(ResolvingLogTest, ReferencesReadAsTheirBaseRecordsAndOthersAsThemselves) {
  LocalLogOptions small;
  small.partition.segment_bytes = 256;  // base reads cross many segments
  auto raw = OpenLog("raw", small);
  auto processed = OpenLog("processed");
  for (int i = 0; i < 30; ++i) Append(raw.get(), "app", "raw-" + std::to_string(i));
  // As processing writes: most records are references, some are rewritten (crashes).
  std::vector<std::string> want;
  for (int i = 0; i < 30; ++i) {
    if (i % 7 == 3) {
      Append(processed.get(), "app", "processed-" + std::to_string(i));
      want.push_back("processed-" + std::to_string(i));
    } else {
      Append(processed.get(), "app", EncodeReference(i));
      want.push_back("raw-" + std::to_string(i));
    }
  }
  ResolvingLog view(processed.get(), raw.get(), "process");
  EXPECT_EQ(Payloads(&view, "app", 0, 100), want);
  // A read from the middle, of a few records, appending to what `out` holds.
  std::vector<LogRecord> records(1);
  records[0].payload = "kept";
  ASSERT_TRUE(view.Read("app", 9, 4, &records).ok());
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[0].payload, "kept");
  EXPECT_EQ(records[1].offset, 9u);
  EXPECT_EQ(records[1].payload, "raw-9");
  EXPECT_EQ(records[2].payload, "processed-10");
  EXPECT_EQ(records[4].payload, "raw-12");
  EXPECT_EQ(view.unresolved_references(), 0u);
}

TEST_F(ResolvingLogTest, ReplayedReferencesAreResolvedAgain) {
  auto raw = OpenLog("raw");
  auto processed = OpenLog("processed");
  for (int i = 0; i < 8; ++i) Append(raw.get(), "app", "raw-" + std::to_string(i));
  // A writer that crashed before committing appends 4..6 again (without a dedup window).
  for (uint64_t o : {4, 5, 6, 4, 5, 6, 7}) Append(processed.get(), "app", EncodeReference(o));
  ResolvingLog view(processed.get(), raw.get(), "process");
  EXPECT_EQ(
      Payloads(&view, "app", 0, 100),
      (std::vector<std::string>{"raw-4", "raw-5", "raw-6", "raw-4", "raw-5", "raw-6", "raw-7"}));
}

TEST_F(ResolvingLogTest, AReferenceToAMissingRecordIsReturnedAsIsAndCounted) {
  auto raw = OpenLog("raw");
  auto processed = OpenLog("processed");
  Append(raw.get(), "app", "raw-0");
  Append(processed.get(), "app", EncodeReference(0));
  Append(processed.get(), "app", EncodeReference(5));    // the raw log has no offset 5
  Append(processed.get(), "other", EncodeReference(0));  // nor a partition "other"
  Append(processed.get(), "app", "processed-x");
  ResolvingLog view(processed.get(), raw.get(), "process");
  EXPECT_EQ(Payloads(&view, "app", 0, 100),
            (std::vector<std::string>{"raw-0", EncodeReference(5), "processed-x"}));
  EXPECT_EQ(Payloads(&view, "other", 0, 100), (std::vector<std::string>{EncodeReference(0)}));
  EXPECT_EQ(view.unresolved_references(), 2u);
  std::string metrics;
  view.RenderMetrics(&metrics);
  EXPECT_NE(metrics.find("vigil_log_unresolved_references_total 2\n"), std::string::npos)
      << metrics;
}

TEST_F(ResolvingLogTest, ACommitKeepsTheBaseRecordsReferencedAhead) {
  auto raw = OpenLog("raw");
  auto processed = OpenLog("processed");
  for (int i = 0; i < 10; ++i) Append(raw.get(), "app", "raw-" + std::to_string(i));
  // Processed 0..7: raw 2 and 5 were rewritten; processing committed 8.
  for (uint64_t o = 0; o < 8; ++o) {
    Append(processed.get(), "app", o == 2 || o == 5 ? "crash" : EncodeReference(o));
  }
  ASSERT_TRUE(raw->CommitOffset("process", "app", 8).ok());
  ResolvingLog view(processed.get(), raw.get(), "process");

  ASSERT_TRUE(view.CommitOffset("archive", "app", 2).ok());
  EXPECT_EQ(Committed(processed.get(), "archive", "app"), 2u);
  EXPECT_EQ(Committed(&view, "archive", "app"), 2u);
  EXPECT_EQ(Committed(raw.get(), "archive", "app"), 3u);  // processed 2 is a crash; 3 -> raw 3
  EXPECT_EQ(BaseAfterCommit(&view, raw.get(), "archive", 5), 6u);
  // At the end, processing's commit bounds what references still to come can name.
  EXPECT_EQ(BaseAfterCommit(&view, raw.get(), "archive", 8), 8u);
  // Processing went on (raw 8, 9) and committed 10: a reader behind those references keeps
  // what they name, whatever processing committed.
  Append(processed.get(), "app", EncodeReference(8));
  Append(processed.get(), "app", EncodeReference(9));
  ASSERT_TRUE(raw->CommitOffset("process", "app", 10).ok());
  EXPECT_EQ(BaseAfterCommit(&view, raw.get(), "speed", 8), 8u);
  // A base commit never goes back: a reader whose processed offset went back (a restart from an
  // older commit) keeps its base commit.
  EXPECT_EQ(BaseAfterCommit(&view, raw.get(), "archive", 3), 8u);
}

TEST_F(ResolvingLogTest, AReaderFarBehindCommitsWhatTheReferencesAheadName) {
  auto raw = OpenLog("raw");
  auto processed = OpenLog("processed");
  const uint64_t n = 3 * ResolvingLog::kLookAhead;
  for (uint64_t o = 0; o < n; ++o) Append(raw.get(), "app", "r");
  // A writer that replays raw 5..9 after a crash (its commit was 5), then goes on.
  for (uint64_t o = 0; o < 10; ++o) Append(processed.get(), "app", EncodeReference(o));
  for (uint64_t o = 5; o < n; ++o) Append(processed.get(), "app", EncodeReference(o));
  ASSERT_TRUE(raw->CommitOffset("process", "app", n).ok());
  ResolvingLog view(processed.get(), raw.get(), "process");
  // Under steady load a reader never reaches the end when it commits: what lies ahead decides.
  EXPECT_EQ(BaseAfterCommit(&view, raw.get(), "speed", 3), 3u);
  // At processed 12 (raw 7 again): the replayed 5 and 6 were read before, at 5 and 6.
  EXPECT_EQ(BaseAfterCommit(&view, raw.get(), "speed", 12), 7u);
  EXPECT_EQ(BaseAfterCommit(&view, raw.get(), "speed", 400), 395u);
}

TEST_F(ResolvingLogTest, ACommitFarFromTheEndLeavesTheBaseCommitWhereItWas) {
  auto raw = OpenLog("raw");
  auto processed = OpenLog("processed");
  const uint64_t n = ResolvingLog::kLookAhead + 20;
  for (uint64_t o = 0; o < n; ++o) Append(raw.get(), "app", "r");
  // Processing rewrote everything after its first record: no reference within reach of 1.
  for (uint64_t o = 0; o < n; ++o) {
    Append(processed.get(), "app", o == 0 ? EncodeReference(0) : "crash");
  }
  ASSERT_TRUE(raw->CommitOffset("process", "app", n).ok());
  ResolvingLog view(processed.get(), raw.get(), "process");
  EXPECT_EQ(BaseAfterCommit(&view, raw.get(), "archive", 1),
            0u);  // could not tell: kept everything
  EXPECT_EQ(BaseAfterCommit(&view, raw.get(), "archive", 30), n);  // the end is within reach
}

TEST_F(ResolvingLogTest, ARefreshCarriesAnIdleReaderAtTheEndUpToTheWritersLaterCommit) {
  auto raw = OpenLog("raw");
  auto processed = OpenLog("processed");
  for (uint64_t o = 0; o < 6; ++o) Append(raw.get(), "app", "r");
  for (uint64_t o = 0; o < 6; ++o) Append(processed.get(), "app", EncodeReference(o));
  ASSERT_TRUE(raw->CommitOffset("process", "app", 2).ok());  // processing commits late
  ResolvingLog view(processed.get(), raw.get(), "process");
  // The reader reached the end before processing's commit caught up, then went idle.
  EXPECT_EQ(BaseAfterCommit(&view, raw.get(), "archive", 6), 2u);
  ASSERT_TRUE(raw->CommitOffset("process", "app", 6).ok());
  ASSERT_TRUE(view.RefreshBase("archive", "app").ok());
  EXPECT_EQ(Committed(raw.get(), "archive", "app"), 6u);
  EXPECT_EQ(Committed(processed.get(), "archive", "app"), 6u);  // its own commit is untouched
  // A reader that never committed here needs the base from the first reference on.
  ASSERT_TRUE(view.RefreshBase("speed", "app").ok());
  EXPECT_EQ(Committed(raw.get(), "speed", "app"), 0u);
  // A reader whose commit here went back (restored from an older copy) keeps its base commit.
  ASSERT_TRUE(processed->CommitOffset("archive", "app", 1).ok());
  ASSERT_TRUE(view.RefreshBase("archive", "app").ok());
  EXPECT_EQ(Committed(raw.get(), "archive", "app"), 6u);
  // A partition the log does not have yet: nothing read, the writer's commit bounds it.
  for (int i = 0; i < 3; ++i) Append(raw.get(), "quiet", "r");
  ASSERT_TRUE(raw->CommitOffset("process", "quiet", 3).ok());
  ASSERT_TRUE(view.RefreshBase("archive", "quiet").ok());
  EXPECT_EQ(Committed(raw.get(), "archive", "quiet"), 3u);
}

TEST_F(ResolvingLogTest, BaseRetentionWaitsForReadersThatStillNeedItsRecords) {
  LocalLogOptions options;
  options.partition.segment_bytes = 1024;
  options.retention_ms = 3600 * 1000;
  options.retention_consumers = {"process", "archive"};
  auto raw = OpenLog("raw", options);
  auto processed = OpenLog("processed");
  for (int i = 0; i < 40; ++i) Append(raw.get(), "app", std::string(200, 'a' + i % 26));
  for (uint64_t o = 0; o < 40; ++o) Append(processed.get(), "app", EncodeReference(o));
  ASSERT_TRUE(raw->CommitOffset("process", "app", 40).ok());  // processing is done
  ResolvingLog view(processed.get(), raw.get(), "process");
  ASSERT_TRUE(view.CommitOffset("archive", "app", 25).ok());  // the archive is not
  clock_.AdvanceMs(2 * 3600 * 1000);
  ASSERT_TRUE(raw->RunRetention().ok());
  const PartitionInfo info = raw->Partitions()[0];
  EXPECT_GT(info.start_offset, 0u);   // what every reader passed went
  EXPECT_LE(info.start_offset, 25u);  // what the archive still reads stayed
  std::vector<LogRecord> records;
  ASSERT_TRUE(view.Read("app", 25, 100, &records).ok());
  ASSERT_EQ(records.size(), 15u);
  for (const LogRecord& r : records) {
    EXPECT_EQ(r.payload, std::string(200, 'a' + r.offset % 26)) << r.offset;
  }
  EXPECT_EQ(view.unresolved_references(), 0u);
}

}  // namespace
}  // namespace vigil::log
