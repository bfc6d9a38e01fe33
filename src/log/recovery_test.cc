// Crash recovery of LocalLog: torn tails, bad CRCs, half-written segments, missing offset files.
// Each test damages the files as a crash or a bad disk would, then reopens the log.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <future>

#include "common/file_util.h"
#include "common/temp_dir.h"
#include "log/local_log.h"
#include "log/record_format.h"
#include "log/segment_summary.h"

namespace vigil::log {
namespace {

class RecoveryTest : public ::testing::Test {
 protected:
  std::unique_ptr<LocalLog> OpenLog() {
    auto log = LocalLog::Open(dir_, {}, &clock_);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }
  void Write(LogStore* log, int n, int first = 0) {
    for (int i = first; i < first + n; ++i) {
      std::promise<Status> done;
      ASSERT_TRUE(log->Append("app", 0, 1, "record-" + std::to_string(i),
                              [&](const Status& s, const AppendResult&) { done.set_value(s); })
                      .ok());
      ASSERT_TRUE(done.get_future().get().ok());
    }
  }
  std::vector<std::string> ReadAll(LogStore* log) {
    std::vector<LogRecord> recs;
    EXPECT_TRUE(log->Read("app", 0, 1000, &recs).ok());
    std::vector<std::string> out;
    for (auto& r : recs) out.push_back(r.payload);
    return out;
  }
  std::string SegmentPath() { return dir_ + "/app/00000000000000000000.seg"; }
  // Where the records of the one segment end: the file goes on with the writer's zero tail.
  off_t RecordsEnd(LogStore* log) {
    std::vector<PartitionInfo> parts = log->Partitions();
    EXPECT_EQ(parts.size(), 1u);
    return parts.empty() ? -1 : static_cast<off_t>(parts[0].bytes);
  }
  // Writes records 0..n-1 with a log opened and closed here; returns where the records end.
  off_t WriteRecords(int n) {
    auto log = OpenLog();
    Write(log.get(), n);
    return RecordsEnd(log.get());
  }
  // The app partition's segment file names, in offset order.
  std::vector<std::string> SegmentFiles() {
    std::vector<std::string> segments;
    Result<std::vector<std::string>> names = ListDir(dir_ + "/app");
    EXPECT_TRUE(names.ok());
    if (!names.ok()) return segments;
    for (const std::string& name : *names) {
      if (name.size() > 4 && name.substr(name.size() - 4) == ".seg") segments.push_back(name);
    }
    std::sort(segments.begin(), segments.end());
    return segments;
  }
  off_t FileSize(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 ? st.st_size : -1;
  }

  TempDir temp_dir_;
  std::string dir_ = temp_dir_.path();
  FakeClock clock_{1700000000000};
};

TEST_F(RecoveryTest, TornTailIsTruncatedAndEarlierRecordsKept) {
  off_t good_size;
  {
    auto log = OpenLog();
    Write(log.get(), 3);
    good_size = RecordsEnd(log.get());
    Write(log.get(), 1, 3);
  }
  // A crash in the middle of writing the 4th record: only part of it reached the disk.
  ASSERT_EQ(::truncate(SegmentPath().c_str(), good_size + 17), 0);
  auto log = OpenLog();
  EXPECT_EQ(ReadAll(log.get()), (std::vector<std::string>{"record-0", "record-1", "record-2"}));
  EXPECT_EQ(FileSize(SegmentPath()), good_size);
  // Appends continue at the next offset after the cut.
  Write(log.get(), 1, 9);
  std::vector<LogRecord> recs;
  ASSERT_TRUE(log->Read("app", 3, 10, &recs).ok());
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].offset, 3u);
  EXPECT_EQ(recs[0].payload, "record-9");
}

TEST_F(RecoveryTest, BadCrcInLastRecordIsCutAndKeptAside) {
  off_t good_size;
  {
    auto log = OpenLog();
    Write(log.get(), 2);
    good_size = RecordsEnd(log.get());
    Write(log.get(), 1, 2);
  }
  int fd = ::open(SegmentPath().c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char c = 'X';
  ASSERT_EQ(::pwrite(fd, &c, 1, good_size + kRecordHeaderSize + 2), 1);
  ::close(fd);
  auto log = OpenLog();
  EXPECT_EQ(ReadAll(log.get()), (std::vector<std::string>{"record-0", "record-1"}));
  EXPECT_TRUE(FileExists(SegmentPath() + ".corrupt-" + std::to_string(good_size)));
}

TEST_F(RecoveryTest, TheWritersZeroTailEndsTheRecordsAndIsCutQuietly) {
  const off_t records_end = WriteRecords(3);
  // The segment goes on in zeros written ahead of the records (segment_writer.h).
  ASSERT_GT(FileSize(SegmentPath()), records_end);
  auto log = OpenLog();
  EXPECT_EQ(ReadAll(log.get()), (std::vector<std::string>{"record-0", "record-1", "record-2"}));
  EXPECT_EQ(FileSize(SegmentPath()), records_end);  // reopened for appends at the last record
  EXPECT_FALSE(FileExists(SegmentPath() + ".corrupt-" + std::to_string(records_end)));
  Write(log.get(), 1, 3);
  EXPECT_EQ(ReadAll(log.get()).size(), 4u);
}

TEST_F(RecoveryTest, ARecordWithAPageStillZerosIsATornWrite) {
  off_t good_size;
  {
    auto log = OpenLog();
    Write(log.get(), 2);
    good_size = RecordsEnd(log.get());
    std::promise<Status> done;
    ASSERT_TRUE(log->Append("app", 0, 1, std::string(20000, 'p'),
                            [&](const Status& st, const AppendResult&) { done.set_value(st); })
                    .ok());
    ASSERT_TRUE(done.get_future().get().ok());
  }
  // A crash persisted the big record's first pages but not its third: that page is still the
  // zero tail's.
  const off_t page = (good_size / 4096 + 3) * 4096;
  int fd = ::open(SegmentPath().c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const std::string zeros(4096, '\0');
  ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), page), 4096);
  ::close(fd);
  auto log = OpenLog();
  EXPECT_EQ(ReadAll(log.get()), (std::vector<std::string>{"record-0", "record-1"}));
  EXPECT_EQ(FileSize(SegmentPath()), good_size);
  // Torn, not corrupt: nothing kept aside.
  EXPECT_FALSE(FileExists(SegmentPath() + ".corrupt-" + std::to_string(good_size)));
}

TEST_F(RecoveryTest, RolledSegmentsEndAtTheirLastRecord) {
  LocalLogOptions options;
  options.partition.segment_bytes = 300;  // a few records a segment
  {
    auto log = LocalLog::Open(dir_, options, &clock_);
    ASSERT_TRUE(log.ok());
    Write(log->get(), 20);
  }
  const std::vector<std::string> segments = SegmentFiles();
  ASSERT_GT(segments.size(), 2u);
  // Every segment but the last was sealed: its file ends with its last record's bytes.
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    Result<std::string> bytes = ReadFile(dir_ + "/app/" + segments[i]);
    ASSERT_TRUE(bytes.ok());
    EXPECT_NE(bytes->back(), '\0') << segments[i];
    EXPECT_LT(bytes->size(), 600u) << segments[i];
  }
  auto log = LocalLog::Open(dir_, options, &clock_);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(ReadAll(log->get()).size(), 20u);
}

// A failed round whose bytes could not be cut leaves records in a segment that the next segment
// reuses the offsets of. Readers stop each segment where the next begins, before and after a
// restart: every offset is read once, with the payload that was acknowledged.
TEST_F(RecoveryTest, RecordsRepeatingTheNextSegmentsOffsetsAreNeverRead) {
  LocalLogOptions options;
  options.partition.segment_bytes = 300;  // a few records a segment
  std::vector<std::string> want;
  for (int i = 0; i < 20; ++i) want.push_back("record-" + std::to_string(i));
  auto log = LocalLog::Open(dir_, options, &clock_);
  ASSERT_TRUE(log.ok());
  Write(log->get(), 20);
  const std::vector<std::string> segments = SegmentFiles();
  ASSERT_GT(segments.size(), 2u);
  const uint64_t second_base = std::stoull(segments[1].substr(0, segments[1].size() - 4));
  // Two well-formed records after the first segment's last one, with the second's offsets.
  std::string stale;
  EncodeRecord(second_base, clock_.NowMs(), 0, 5, "stale-a", &stale);
  EncodeRecord(second_base + 1, clock_.NowMs(), 0, 5, "stale-b", &stale);
  const std::string first = dir_ + "/app/" + segments[0];
  Result<std::string> bytes = ReadFile(first);
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(WriteFile(first, *bytes + stale).ok());
  auto expect_clean = [&](LocalLog* l) {
    EXPECT_EQ(ReadAll(l), want);
    std::vector<LogRecord> from_second;
    ASSERT_TRUE(l->Read("app", second_base, 2, &from_second).ok());
    ASSERT_EQ(from_second.size(), 2u);
    EXPECT_EQ(from_second[0].payload, want[second_base]);
    std::vector<PartitionInfo> parts = l->Partitions();
    ASSERT_EQ(parts.size(), 1u);
    EXPECT_EQ(parts[0].records, 20u);
  };
  expect_clean(log->get());  // while open
  log->reset();
  log = LocalLog::Open(dir_, options, &clock_);  // and after recovery
  ASSERT_TRUE(log.ok());
  expect_clean(log->get());
  std::vector<PartitionInfo> parts = (*log)->Partitions();
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].items, 20u);
  EXPECT_EQ(parts[0].end_offset, 20u);
  Write(log->get(), 1, 20);  // appends go on after the last acknowledged record
  want.push_back("record-20");
  EXPECT_EQ(ReadAll(log->get()), want);
}

TEST_F(RecoveryTest, GarbageAfterLastRecordIsCut) {
  const off_t records_end = WriteRecords(2);
  int fd = ::open(SegmentPath().c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  std::string junk(100, '\xff');
  ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), records_end), 100);  // over the zero tail
  ::close(fd);
  auto log = OpenLog();
  EXPECT_EQ(ReadAll(log.get()).size(), 2u);
  EXPECT_EQ(FileSize(SegmentPath()), records_end);
  EXPECT_TRUE(FileExists(SegmentPath() + ".corrupt-" + std::to_string(records_end)));
}

TEST_F(RecoveryTest, BytesAfterTheZeroTailAreDamageNotTail) {
  const off_t records_end = WriteRecords(2);
  int fd = ::open(SegmentPath().c_str(), O_WRONLY | O_APPEND);  // past the zeros
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "junk", 4), 4);
  ::close(fd);
  auto log = OpenLog();
  EXPECT_EQ(ReadAll(log.get()).size(), 2u);
  EXPECT_EQ(FileSize(SegmentPath()), records_end);
  // Kept aside, without the zeros before the junk's end being dropped.
  Result<std::string> kept = ReadFile(SegmentPath() + ".corrupt-" + std::to_string(records_end));
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->substr(kept->size() - 4), "junk");
}

TEST_F(RecoveryTest, HalfWrittenNewSegmentIsRemoved) {
  {
    auto log = OpenLog();
    Write(log.get(), 2);
  }
  // A crash while rolling: the new segment exists but its header is incomplete.
  std::string next = dir_ + "/app/00000000000000000002.seg";
  ASSERT_TRUE(WriteFileAtomically(next, "VIGILS").ok());
  auto log = OpenLog();
  EXPECT_FALSE(FileExists(next));
  EXPECT_EQ(ReadAll(log.get()).size(), 2u);
  Write(log.get(), 1, 2);
  EXPECT_EQ(ReadAll(log.get()).size(), 3u);
}

TEST_F(RecoveryTest, EmptySegmentFileIsRemoved) {
  ASSERT_TRUE(MakeDirs(dir_ + "/app").ok());
  ASSERT_TRUE(WriteFileAtomically(SegmentPath(), "").ok());
  auto log = OpenLog();
  Write(log.get(), 1);
  EXPECT_EQ(ReadAll(log.get()), std::vector<std::string>{"record-0"});
}

TEST_F(RecoveryTest, MissingOffsetsFileStartsConsumerAtZero) {
  {
    auto log = OpenLog();
    Write(log.get(), 3);
    ASSERT_TRUE(log->CommitOffset("process", "app", 2).ok());
  }
  ASSERT_EQ(::unlink((dir_ + "/app/consumers/process.offset").c_str()), 0);
  auto log = OpenLog();
  auto v = log->CommittedOffset("process", "app");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 0u);
}

TEST_F(RecoveryTest, GarbledOffsetsFileIsReportedNotGuessed) {
  {
    auto log = OpenLog();
    Write(log.get(), 1);
    ASSERT_TRUE(log->CommitOffset("process", "app", 1).ok());
  }
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/app/consumers/process.offset", "garbage").ok());
  auto log = OpenLog();
  auto v = log->CommittedOffset("process", "app");
  EXPECT_EQ(v.status().code(), StatusCode::kCorruption);
}

TEST_F(RecoveryTest, ReadOnlyOpenDoesNotTouchATornTail) {
  const off_t records_end = WriteRecords(2);
  int fd = ::open(SegmentPath().c_str(), O_WRONLY);
  ASSERT_EQ(::pwrite(fd, "abc", 3, records_end), 3);  // a record begun right after the last
  ::close(fd);
  const off_t good_size = FileSize(SegmentPath()) - 3;
  auto ro = LocalLog::OpenReadOnly(dir_, &clock_);
  ASSERT_TRUE(ro.ok());
  std::vector<LogRecord> recs;
  ASSERT_TRUE((*ro)->Read("app", 0, 10, &recs).ok());
  EXPECT_EQ(recs.size(), 2u);
  EXPECT_EQ(FileSize(SegmentPath()), good_size + 3);
}

// --- Segment summaries (segment_summary.h) ---

class SummaryRecoveryTest : public RecoveryTest {
 protected:
  SummaryRecoveryTest() { options_.partition.segment_bytes = 300; }  // a few records a segment
  std::unique_ptr<LocalLog> Open() {
    auto log = LocalLog::Open(dir_, options_, &clock_);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }
  // Records first..first+n-1 with dedup keys 1000+i; whether each was a duplicate.
  std::vector<bool> WriteKeyed(LogStore* log, int n, int first = 0) {
    std::vector<bool> dups;
    for (int i = first; i < first + n; ++i) {
      std::promise<AppendResult> done;
      EXPECT_TRUE(log->Append("app", 1000 + i, 3, "record-" + std::to_string(i),
                              [&](const Status& s, const AppendResult& r) {
                                EXPECT_TRUE(s.ok());
                                done.set_value(r);
                              })
                      .ok());
      dups.push_back(done.get_future().get().duplicate);
    }
    return dups;
  }
  std::vector<std::string> Summaries() {
    std::vector<std::string> out;
    Result<std::vector<std::string>> names = ListDir(dir_ + "/app");
    if (!names.ok()) return out;
    for (const std::string& n : *names) {
      if (n.ends_with(".summary")) out.push_back(n);
    }
    return out;
  }
  // Everything a reader can see of the log: the records read from every offset, and the counts.
  std::string Snapshot(LogStore* log) {
    std::string out;
    PartitionInfo p = log->Partitions().at(0);
    out += std::to_string(p.start_offset) + "-" + std::to_string(p.end_offset) + " " +
           std::to_string(p.records) + "r " + std::to_string(p.items) + "i " +
           std::to_string(p.bytes) + "b " + std::to_string(p.segments) + "s\n";
    for (uint64_t from = p.start_offset; from < p.end_offset; ++from) {
      std::vector<LogRecord> recs;
      EXPECT_TRUE(log->Read("app", from, 3, &recs).ok());
      for (const LogRecord& r : recs) {
        out += std::to_string(r.offset) + ":" + r.payload + ":" + std::to_string(r.dedup_key) + " ";
      }
      out += "\n";
    }
    return out;
  }

  // A log with a one-hour dedup window and consumer "c": records 0..29 written, then
  // committed and, two seconds later, passed by retention (1 s): every sealed segment goes.
  // 30 keyed records in several segments of a log whose retention (1 s, consumer "c") would
  // delete all but the last once "c" passed them, within an hour's dedup window.
  std::unique_ptr<LocalLog> WriteForRetention() {
    options_.retention_ms = 1000;
    options_.retention_consumers = {"c"};
    options_.partition.dedup_window_ms = 3600 * 1000;
    auto log = Open();
    WriteKeyed(log.get(), 30);
    segments_written_ = SegmentFiles().size();
    EXPECT_GT(segments_written_, 4u);
    return log;
  }
  // Two seconds later, "c" passes every record and retention runs.
  Status Retain(LocalLog* log) {
    clock_.AdvanceMs(2000);
    EXPECT_TRUE(log->CommitOffset("c", "app", 30).ok());
    return log->RunRetention();
  }
  std::unique_ptr<LocalLog> WriteThenRetain() {
    auto log = WriteForRetention();
    EXPECT_TRUE(Retain(log.get()).ok());
    return log;
  }
  size_t SegmentsWritten() const { return segments_written_; }

  LocalLogOptions options_;
  size_t segments_written_ = 0;
};

TEST_F(SummaryRecoveryTest, EverySealedSegmentGetsASummary) {
  auto log = Open();
  WriteKeyed(log.get(), 30);
  const std::vector<std::string> segments = SegmentFiles();
  ASSERT_GT(segments.size(), 3u);
  std::vector<std::string> want;
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    want.push_back(segments[i].substr(0, 20) + ".summary");
  }
  EXPECT_EQ(Summaries(), want);  // not the active segment's
  // Each one says what the segment holds: its size, its records' offsets and keys.
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    const uint64_t base = std::stoull(segments[i].substr(0, 20));
    const uint64_t next = std::stoull(segments[i + 1].substr(0, 20));
    SegmentSummary s;
    ASSERT_TRUE(ReadSegmentSummary(dir_ + "/app/" + want[i], base,
                                   FileSize(dir_ + "/app/" + segments[i]), 0, &s)
                    .ok());
    EXPECT_EQ(s.end_offset, next);
    EXPECT_EQ(s.items, 3 * (next - base));
    ASSERT_EQ(s.keys.size(), next - base);
    for (uint64_t k = 0; k < s.keys.size(); ++k) {
      EXPECT_EQ(s.keys[k].offset, base + k);
      EXPECT_EQ(s.keys[k].key, 1000 + base + k);
      EXPECT_EQ(s.keys[k].time_ms, clock_.NowMs());
    }
  }
}

// The same log recovers to the same state from summaries as from reading every segment.
TEST_F(SummaryRecoveryTest, RecoveryFromSummariesEqualsAFullRead) {
  std::string written;
  {
    auto log = Open();
    WriteKeyed(log.get(), 40);
    written = Snapshot(log.get());
  }
  std::string from_summaries;
  {
    auto log = Open();
    from_summaries = Snapshot(log.get());
  }
  for (const std::string& n : Summaries()) ASSERT_EQ(::unlink((dir_ + "/app/" + n).c_str()), 0);
  auto log = Open();
  EXPECT_EQ(Snapshot(log.get()), written);
  EXPECT_EQ(from_summaries, written);
  // The full read wrote the summaries again.
  EXPECT_EQ(Summaries().size(), SegmentFiles().size() - 1);
}

// Proof that a sealed segment is not read when its summary is valid: its record headers are
// overwritten (the size kept), and recovery still knows its records. (A read of the records
// themselves finds the damage, as it would have before summaries.)
TEST_F(SummaryRecoveryTest, ASealedSegmentWithASummaryIsNotRead) {
  {
    auto log = Open();
    WriteKeyed(log.get(), 30);
  }
  const std::string first = dir_ + "/app/" + SegmentFiles()[0];
  const off_t size = FileSize(first);
  int fd = ::open(first.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const std::string junk(size - kSegmentHeaderSize, '\x5a');
  ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), kSegmentHeaderSize),
            static_cast<ssize_t>(junk.size()));
  ::close(fd);
  auto log = Open();
  EXPECT_EQ(log->Partitions().at(0).records, 30u);
  EXPECT_EQ(log->Partitions().at(0).items, 90u);
}

// A sealed segment whose scan ends early (damage) gets no summary: the next start reads it
// again and reports the damage again, rather than taking the short count as its truth.
TEST_F(SummaryRecoveryTest, ASegmentFoundDamagedIsNotSummarized) {
  {
    auto log = Open();
    WriteKeyed(log.get(), 30);
  }
  const std::string first = dir_ + "/app/" + SegmentFiles()[0];
  ASSERT_EQ(::unlink(SummaryPath(first).c_str()), 0);
  int fd = ::open(first.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  // The second record's header: its length field now points past the file.
  ASSERT_EQ(::pwrite(fd, "\xff\xff\xff\x0f", 4, kSegmentHeaderSize + kRecordHeaderSize + 8), 4);
  ::close(fd);
  for (int start = 0; start < 2; ++start) {
    auto log = Open();
    EXPECT_LT(log->Partitions().at(0).records, 30u);
    EXPECT_FALSE(FileExists(SummaryPath(first))) << "start " << start;
  }
}

// A sealed segment cut to nothing (an operator, fsck) is not taken from its old summary:
// opening the log fails, naming it, as it did before summaries.
TEST_F(SummaryRecoveryTest, ASegmentCutToNothingIsNotTakenFromItsSummary) {
  {
    auto log = Open();
    WriteKeyed(log.get(), 30);
  }
  const std::string first = dir_ + "/app/" + SegmentFiles()[0];
  ASSERT_TRUE(FileExists(SummaryPath(first)));
  ASSERT_EQ(::truncate(first.c_str(), 0), 0);
  auto log = LocalLog::Open(dir_, options_, &clock_);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().ToString().find(first), std::string::npos) << log.status().ToString();
}

TEST_F(SummaryRecoveryTest, ADamagedSummaryIsIgnoredAndRewritten) {
  std::string written;
  {
    auto log = Open();
    WriteKeyed(log.get(), 30);
    written = Snapshot(log.get());
  }
  const std::string summary = dir_ + "/app/" + Summaries().at(1);
  Result<std::string> good = ReadFile(summary);
  ASSERT_TRUE(good.ok());
  std::string bad = *good;
  bad[50] ^= 4;  // in the head: its CRC fails
  ASSERT_TRUE(WriteFile(summary, bad).ok());
  {
    auto log = Open();
    EXPECT_EQ(Snapshot(log.get()), written);
  }
  EXPECT_EQ(ReadFile(summary).value(), *good);
  // A torn one (a crash: summaries are not fsynced), and an empty one.
  for (const std::string& broken : {good->substr(0, good->size() / 2), std::string()}) {
    ASSERT_TRUE(WriteFile(summary, broken).ok());
    auto log = Open();
    EXPECT_EQ(Snapshot(log.get()), written);
    EXPECT_EQ(ReadFile(summary).value(), *good);
  }
}

// Dedup keys come from the summaries of segments young enough for the window, and only theirs.
TEST_F(SummaryRecoveryTest, DedupKeysComeBackFromSummaries) {
  options_.partition.dedup_window_ms = 3600 * 1000;
  {
    auto log = Open();
    WriteKeyed(log.get(), 20);  // at t0
    clock_.AdvanceMs(1800 * 1000);
    WriteKeyed(log.get(), 20, 20);  // at t0 + 30 min
  }
  ASSERT_GT(Summaries().size(), 4u);
  {
    auto log = Open();  // every old key is still a duplicate
    EXPECT_EQ(WriteKeyed(log.get(), 40), std::vector<bool>(40, true));
  }
  clock_.AdvanceMs(2400 * 1000);  // t0 + 70 min: the first 20 keys are out of the window
  auto log = Open();
  std::vector<bool> want(40, false);
  for (int i = 20; i < 40; ++i) want[i] = true;
  EXPECT_EQ(WriteKeyed(log.get(), 40), want);
  EXPECT_EQ(log->Partitions().at(0).records, 60u);
}

// Retention deletes a segment, but not its summary while the segment's records are in the
// dedup window: a restart still knows their keys (a retry of one is a duplicate). Once they
// leave the window, retention deletes the summary too, and so does a restart.
TEST_F(SummaryRecoveryTest, DeletedSegmentsKeepTheirSummariesForTheDedupWindow) {
  auto log = WriteThenRetain();
  const size_t summaries = SegmentsWritten() - 1;
  EXPECT_EQ(SegmentFiles().size(), 1u);
  EXPECT_EQ(Summaries().size(), summaries);  // kept for their keys
  log.reset();
  log = Open();
  EXPECT_EQ(log->Partitions().at(0).records, 30u - log->Partitions().at(0).start_offset);
  EXPECT_EQ(WriteKeyed(log.get(), 30), std::vector<bool>(30, true));
  // An hour later the keys are out of the window: retention takes the summaries.
  clock_.AdvanceMs(3600 * 1000);
  ASSERT_TRUE(log->RunRetention().ok());
  EXPECT_TRUE(Summaries().empty());
  EXPECT_EQ(WriteKeyed(log.get(), 3), std::vector<bool>(3, false));
}

// A segment deleted in the dedup window whose summary is missing (a crash between its seal and
// its summary, a failed write) or damaged is summarized again from its records first: a
// restart still knows every key.
TEST_F(SummaryRecoveryTest, RetentionSummarizesAgainASegmentWithoutAGoodSummary) {
  auto log = WriteForRetention();
  const std::vector<std::string> summaries = Summaries();
  ASSERT_GT(summaries.size(), 3u);
  ASSERT_EQ(::unlink((dir_ + "/app/" + summaries[0]).c_str()), 0);
  const std::string damaged = dir_ + "/app/" + summaries[2];
  std::string bytes = ReadFile(damaged).value();
  bytes[bytes.size() - 3] ^= 1;  // in the keys section
  ASSERT_TRUE(WriteFile(damaged, bytes).ok());
  ASSERT_TRUE(Retain(log.get()).ok());
  EXPECT_EQ(SegmentFiles().size(), 1u);
  EXPECT_EQ(Summaries(), summaries);
  log.reset();
  log = Open();
  EXPECT_EQ(WriteKeyed(log.get(), 30), std::vector<bool>(30, true));
}

// When a segment's summary can be neither read nor written again (here its header is damaged
// too), retention still deletes it and every other segment due: the space matters more than
// its keys, which are said to be lost.
TEST_F(SummaryRecoveryTest, RetentionDeletesASegmentWhoseSummaryCannotBeKept) {
  auto log = WriteForRetention();
  const std::vector<std::string> segments = SegmentFiles();
  const std::vector<std::string> summaries = Summaries();
  ASSERT_GT(segments.size(), 3u);
  ASSERT_EQ(::unlink((dir_ + "/app/" + summaries[0]).c_str()), 0);
  const std::string first = dir_ + "/app/" + segments[0];
  std::string bytes = ReadFile(first).value();
  bytes[0] ^= 0xff;  // its magic
  ASSERT_TRUE(WriteFile(first, bytes).ok());
  EXPECT_FALSE(Retain(log.get()).ok());
  EXPECT_EQ(SegmentFiles().size(), 1u);
  EXPECT_EQ(Summaries(), std::vector<std::string>(summaries.begin() + 1, summaries.end()));
}

// A restart deletes a kept summary whose keys have left the window meanwhile.
TEST_F(SummaryRecoveryTest, ARestartDeletesKeptSummariesPastTheWindow) {
  WriteThenRetain().reset();
  ASSERT_GT(Summaries().size(), 3u);
  clock_.AdvanceMs(3600 * 1000);
  auto log = Open();
  EXPECT_TRUE(Summaries().empty());
  EXPECT_EQ(WriteKeyed(log.get(), 3), std::vector<bool>(3, false));
}

TEST_F(SummaryRecoveryTest, LeftoverSummaryFilesAreRemoved) {
  {
    auto log = Open();
    WriteKeyed(log.get(), 30);
  }
  const std::string orphan = dir_ + "/app/00000000000000999999.summary";
  const std::string tmp = dir_ + "/app/" + Summaries().at(0) + ".tmp";
  ASSERT_TRUE(WriteFile(orphan, "x").ok());
  ASSERT_TRUE(WriteFile(tmp, "x").ok());
  auto log = Open();
  EXPECT_FALSE(FileExists(orphan));
  EXPECT_FALSE(FileExists(tmp));
  EXPECT_EQ(log->Partitions().at(0).records, 30u);
}

// The tools read summaries but never write or remove anything.
TEST_F(SummaryRecoveryTest, ReadOnlyOpenWritesNoSummary) {
  std::string written;
  {
    auto log = Open();
    WriteKeyed(log.get(), 30);
    written = Snapshot(log.get());
  }
  const std::vector<std::string> summaries = Summaries();
  ASSERT_EQ(::unlink((dir_ + "/app/" + summaries[0]).c_str()), 0);
  auto ro = LocalLog::OpenReadOnly(dir_, &clock_);
  ASSERT_TRUE(ro.ok());
  EXPECT_EQ(Snapshot(ro->get()), written);
  EXPECT_EQ(Summaries().size(), summaries.size() - 1);
  // Nor does it keep dedup keys: it answers no appends.
  EXPECT_EQ((*ro)->Partitions().at(0).dedup_keys, 0u);
  EXPECT_EQ((*ro)->Partitions().at(0).dedup_bytes, 0u);
  ro->reset();
  auto log = Open();
  EXPECT_EQ(log->Partitions().at(0).dedup_keys, 30u);
  EXPECT_EQ(log->Partitions().at(0).dedup_bytes, 64u * 16);
}

// A segment sealed, then active again because the segment after it was incomplete (a crash
// while rolling): its old summary goes, and it is summarized anew when sealed again.
TEST_F(SummaryRecoveryTest, ASegmentActiveAgainLosesItsOldSummary) {
  {
    auto log = Open();
    WriteKeyed(log.get(), 30);
  }
  const std::vector<std::string> segments = SegmentFiles();
  const std::string active = dir_ + "/app/" + segments.back();
  ASSERT_EQ(::unlink(active.c_str()), 0);
  ASSERT_TRUE(WriteFile(active, "VIGILS").ok());  // an incomplete header
  const std::string reopened = dir_ + "/app/" + segments[segments.size() - 2];
  ASSERT_TRUE(FileExists(SummaryPath(reopened)));
  auto log = Open();
  EXPECT_FALSE(FileExists(SummaryPath(reopened)));
  const uint64_t end = log->Partitions().at(0).end_offset;
  WriteKeyed(log.get(), 20, 100);
  EXPECT_TRUE(FileExists(SummaryPath(reopened)));
  log.reset();
  log = Open();
  EXPECT_EQ(log->Partitions().at(0).records, end + 20);
}

}  // namespace
}  // namespace vigil::log
