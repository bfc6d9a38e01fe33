// LocalLog: appends, group commit, dedup, reads across segments, offsets, retention and page cache.
#include "log/local_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "common/file_util.h"
#include "common/temp_dir.h"
#include "common/wakeup_batch.h"

namespace vigil::log {
namespace {

class LocalLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<LocalLog> OpenLog(LocalLogOptions options = {}) {
    auto log = LocalLog::Open(dir_, std::move(options), &clock_);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return std::move(log).value();
  }

  // After retention with consumer "archive" at offset 20 of records 0..39: the log starts at
  // a segment's base in (0, 20], reads begin there, and every later record is kept.
  static void ExpectRetainedFromASegmentBefore20(LocalLog* log, uint64_t segments_before) {
    const PartitionInfo info = log->Partitions()[0];
    EXPECT_LT(info.segments, segments_before);
    EXPECT_LE(info.start_offset, 20u);
    EXPECT_GT(info.start_offset, 0u);
    std::vector<LogRecord> recs;
    ASSERT_TRUE(log->Read("app", 0, 1000, &recs).ok());
    EXPECT_EQ(recs.front().offset, info.start_offset);
    EXPECT_EQ(recs.back().offset, 39u);
  }

  // Appends and waits for durability.
  static std::pair<Status, AppendResult> AppendSync(LogStore* log, std::string_view part,
                                                    uint64_t key, std::string payload) {
    std::promise<std::pair<Status, AppendResult>> done;
    Status st =
        log->Append(part, key, 1, std::move(payload), [&](const Status& s, const AppendResult& r) {
          done.set_value({s, r});
        });
    if (!st.ok()) return {st, {}};
    return done.get_future().get();
  }

  // Partition "app" of segment_bytes, for the spare tests that drive a Partition directly.
  std::unique_ptr<Partition> OpenPartition(uint64_t segment_bytes) {
    PartitionOptions options;
    options.segment_bytes = segment_bytes;
    auto p = Partition::Open(dir_ + "/app", "app", options, &clock_);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(p).value() : nullptr;
  }
  // Stages one record and commits it (a round of its own).
  Status CommitOne(Partition* p, std::string payload) {
    p->Stage(0, 1, payload, clock_.NowMs());
    return p->Commit();
  }

  TempDir temp_dir_;
  std::string dir_ = temp_dir_.path();
  FakeClock clock_{1700000000000};
};

TEST_F(LocalLogTest, AppendedRecordsReadBackInOrderWithOffsets) {
  auto log = OpenLog();
  for (int i = 0; i < 5; ++i) {
    auto [st, r] = AppendSync(log.get(), "app1", 0, "rec" + std::to_string(i));
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(r.offset, static_cast<uint64_t>(i));
  }
  std::vector<LogRecord> recs;
  ASSERT_TRUE(log->Read("app1", 2, 10, &recs).ok());
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].offset, 2u);
  EXPECT_EQ(recs[0].payload, "rec2");
  EXPECT_EQ(recs[2].payload, "rec4");
}

TEST_F(LocalLogTest, PartitionsAreIndependent) {
  auto log = OpenLog();
  ASSERT_TRUE(AppendSync(log.get(), "a", 0, "x").first.ok());
  ASSERT_TRUE(AppendSync(log.get(), "b", 0, "y").first.ok());
  auto [st, r] = AppendSync(log.get(), "b", 0, "z");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(r.offset, 1u);
  std::vector<LogRecord> recs;
  ASSERT_TRUE(log->Read("a", 0, 10, &recs).ok());
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].payload, "x");
}

TEST_F(LocalLogTest, SameKeyIsAppendedOnceAndReportedDuplicate) {
  auto log = OpenLog();
  auto first = AppendSync(log.get(), "app", 99, "one");
  auto second = AppendSync(log.get(), "app", 99, "two");
  ASSERT_TRUE(first.first.ok());
  ASSERT_TRUE(second.first.ok());
  EXPECT_FALSE(first.second.duplicate);
  EXPECT_TRUE(second.second.duplicate);
  EXPECT_EQ(second.second.offset, first.second.offset);
  std::vector<LogRecord> recs;
  ASSERT_TRUE(log->Read("app", 0, 10, &recs).ok());
  EXPECT_EQ(recs.size(), 1u);
}

TEST_F(LocalLogTest, DedupSurvivesRestartWithinWindowAndExpiresAfter) {
  {
    auto log = OpenLog();
    ASSERT_TRUE(AppendSync(log.get(), "app", 7, "one").first.ok());
  }
  {
    auto log = OpenLog();
    EXPECT_TRUE(AppendSync(log.get(), "app", 7, "again").second.duplicate);
  }
  clock_.AdvanceMs(26 * 3600 * 1000LL);
  auto log = OpenLog();
  EXPECT_FALSE(AppendSync(log.get(), "app", 7, "later").second.duplicate);
}

// The dedup window, to the second: a key is a duplicate while its second is in the window and
// is taken after that; a key sent again after the window (a device offline for days retrying)
// is taken and remembered anew. Keys past the window leave the table within a sweep period
// (dedup_table.h), and a restart rebuilds it from the records in the window.
TEST_F(LocalLogTest, DedupKeysLeaveWithTheWindow) {
  auto p = OpenPartition(1 << 20);
  ASSERT_NE(p, nullptr);
  const int64_t window = PartitionOptions{}.dedup_window_ms;
  auto append = [&](uint64_t key) {
    uint64_t original;
    if (p->FindDuplicate(key, &original)) return false;
    p->Stage(key, 1, "r", clock_.NowMs());
    EXPECT_TRUE(p->Commit().ok());
    return true;
  };
  ASSERT_EQ(clock_.NowMs() % 1000, 0);
  ASSERT_TRUE(append(1));  // t0
  clock_.AdvanceMs(1000);
  ASSERT_TRUE(append(2));  // t0 + 1 s
  ASSERT_TRUE(append(3));
  EXPECT_FALSE(append(1));
  EXPECT_EQ(p->dedup_keys(), 3u);
  clock_.AdvanceMs(window - 1);  // t0 + window + 999 ms: key 1's second is still in it
  EXPECT_FALSE(append(1));
  clock_.AdvanceMs(1);      // t0 + window + 1 s: it is out
  ASSERT_TRUE(append(1));   // the offline device's retry: taken, remembered again
  EXPECT_FALSE(append(2));  // a second younger
  clock_.AdvanceMs(1000);
  ASSERT_TRUE(append(2));
  EXPECT_FALSE(append(1));
  EXPECT_EQ(p->dedup_keys(), 3u);  // 3 is past the window but not swept yet
  clock_.AdvanceMs(DedupTable::kSweepPeriodMs);
  ASSERT_TRUE(append(4));          // a round a whole sweep period later
  EXPECT_EQ(p->dedup_keys(), 3u);  // 1, 2 and 4
  EXPECT_TRUE(append(3));
  // After a restart the window is rebuilt from the records in it.
  p.reset();
  p = OpenPartition(1 << 20);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->dedup_keys(), 4u);  // 1, 2, 4, 3 (not their records from before the window)
  EXPECT_FALSE(append(4));
  clock_.AdvanceMs(window + 1000);
  ASSERT_TRUE(append(4));
  clock_.AdvanceMs(DedupTable::kSweepPeriodMs);
  ASSERT_TRUE(append(5));
  EXPECT_EQ(p->dedup_keys(), 2u);  // 4 and 5
}

TEST_F(LocalLogTest, ConcurrentAppendsShareCommitsAndAllLand) {
  std::atomic<int> commits{0};
  LocalLogOptions options;
  options.on_commit = [&](int64_t, size_t) { ++commits; };
  auto log = OpenLog(options);
  constexpr int kThreads = 8, kPerThread = 200;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto [st, r] = AppendSync(log.get(), "app", 0, std::to_string(t * 1000 + i));
        if (st.ok()) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_LT(commits.load(), kThreads * kPerThread);  // fsyncs were shared
  std::vector<LogRecord> recs;
  ASSERT_TRUE(log->Read("app", 0, 100000, &recs).ok());
  ASSERT_EQ(recs.size(), static_cast<size_t>(kThreads * kPerThread));
  for (size_t i = 0; i < recs.size(); ++i) EXPECT_EQ(recs[i].offset, i);
}

// The writer acknowledges a round inside one WakeupBatch: a callback that would wake another
// thread (an HTTP loop) defers it, and the wakeup comes once, after the round's callbacks.
TEST_F(LocalLogTest, AcknowledgementsOfARoundShareOneWakeupBatch) {
  auto log = OpenLog();
  static std::atomic<int> flushes{0};
  static std::atomic<int> acked_before_flush{-1};
  static std::atomic<int> acked{0};
  flushes = 0;
  acked = 0;
  static char target;
  std::promise<bool> deferred;
  ASSERT_TRUE(log->Append("app", 0, 1, "x",
                          [&](const Status& st, const AppendResult&) {
                            EXPECT_TRUE(st.ok());
                            ++acked;
                            deferred.set_value(WakeupBatch::Defer(&target, [](void*) {
                              acked_before_flush = acked.load();
                              ++flushes;
                            }));
                          })
                  .ok());
  EXPECT_TRUE(deferred.get_future().get());
  for (int i = 0; i < 500 && flushes.load() == 0; ++i) usleep(1000);
  EXPECT_EQ(flushes.load(), 1);
  EXPECT_EQ(acked_before_flush.load(), 1);
}

TEST_F(LocalLogTest, SegmentsRollAndReadsCrossThem) {
  LocalLogOptions options;
  options.partition.segment_bytes = 4096;
  auto log = OpenLog(options);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(AppendSync(log.get(), "app", 0, std::string(200, 'a' + i % 26)).first.ok());
  }
  auto parts = log->Partitions();
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_GT(parts[0].segments, 3u);
  EXPECT_EQ(parts[0].end_offset, 100u);
  std::vector<LogRecord> recs;
  ASSERT_TRUE(log->Read("app", 37, 1000, &recs).ok());
  ASSERT_EQ(recs.size(), 63u);
  EXPECT_EQ(recs.front().offset, 37u);
  EXPECT_EQ(recs.front().payload, std::string(200, 'a' + 37 % 26));
}

// Reads start where earlier reads stopped (Partition's read hints): followers of the tail, several
// interleaved readers, reads from behind the hints and across segment rolls and sparse-index
// entries all get exactly the records asked for.
TEST_F(LocalLogTest, InterleavedReadersGetExactlyTheRecordsAskedFor) {
  LocalLogOptions options;
  options.partition.segment_bytes = 3 << 20;  // two rolls, several 1 MiB index entries each
  auto log = OpenLog(options);
  auto payload = [](int i) { return std::to_string(i) + std::string(20000 + i % 7, 'a' + i % 26); };
  const int kRecords = 400;
  for (int i = 0; i < kRecords; ++i) {
    ASSERT_TRUE(AppendSync(log.get(), "app", 0, payload(i)).first.ok());
  }
  ASSERT_GE(log->Partitions()[0].segments, 3u);
  // Three readers following the log at different paces, interleaved.
  uint64_t next[3] = {0, 5, 100};
  const size_t step[3] = {1, 7, 16};
  for (int round = 0; round < 200; ++round) {
    for (int k = 0; k < 3; ++k) {
      if (next[k] >= kRecords) continue;
      std::vector<LogRecord> recs;
      ASSERT_TRUE(log->Read("app", next[k], step[k], &recs).ok());
      ASSERT_FALSE(recs.empty());
      for (const LogRecord& r : recs) {
        ASSERT_EQ(r.offset, next[k]);
        ASSERT_EQ(r.payload, payload(static_cast<int>(r.offset)));
        ++next[k];
      }
    }
  }
  EXPECT_EQ(next[1], static_cast<uint64_t>(kRecords));
  // Behind every hint, and in the middle of an index interval.
  for (uint64_t from : {0u, 1u, 49u, 150u, 151u, 399u}) {
    std::vector<LogRecord> recs;
    ASSERT_TRUE(log->Read("app", from, 2, &recs).ok());
    ASSERT_FALSE(recs.empty());
    EXPECT_EQ(recs[0].offset, from);
    EXPECT_EQ(recs[0].payload, payload(static_cast<int>(from)));
  }
}

TEST_F(LocalLogTest, CommittedOffsetsPersistAndStartAtZero) {
  {
    auto log = OpenLog();
    ASSERT_TRUE(AppendSync(log.get(), "app", 0, "x").first.ok());
    auto none = log->CommittedOffset("process", "app");
    ASSERT_TRUE(none.ok());
    EXPECT_EQ(*none, 0u);
    ASSERT_TRUE(log->CommitOffset("process", "app", 1).ok());
  }
  auto log = OpenLog();
  auto v = log->CommittedOffset("process", "app");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 1u);
  EXPECT_EQ(log->Consumers("app"), std::vector<std::string>{"process"});
}

TEST_F(LocalLogTest, BacklogBoundRejectsWithUnavailable) {
  LocalLogOptions options;
  options.max_backlog_bytes = 10;
  auto log = OpenLog(options);
  Status st =
      log->Append("app", 0, 1, std::string(100, 'x'), [](const Status&, const AppendResult&) {});
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
}

// A background stage's output goes in with AppendMany: one round, one fsync, whatever the
// writer thread was doing meanwhile.
TEST_F(LocalLogTest, AppendManyCommitsItsRecordsInOneRound) {
  std::atomic<int> commits{0};
  LocalLogOptions options;
  options.on_commit = [&](int64_t, size_t) { ++commits; };
  auto log = OpenLog(options);
  constexpr size_t kRecords = 50;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<uint64_t> offsets(kRecords, UINT64_MAX);
  size_t done = 0;
  std::vector<AppendRequest> requests;
  for (size_t i = 0; i < kRecords; ++i) {
    requests.push_back(
        {"app", 0, 1, "rec" + std::to_string(i), [&, i](const Status& st, const AppendResult& r) {
           EXPECT_TRUE(st.ok()) << st.ToString();
           std::lock_guard<std::mutex> lock(mu);
           offsets[i] = r.offset;
           if (++done == kRecords) cv.notify_all();
         }});
  }
  size_t queued = 0;
  ASSERT_TRUE(log->AppendMany(&requests, &queued).ok());
  EXPECT_EQ(queued, kRecords);
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done == kRecords; });
  }
  EXPECT_EQ(commits.load(), 1);
  std::vector<LogRecord> recs;
  ASSERT_TRUE(log->Read("app", 0, 1000, &recs).ok());
  ASSERT_EQ(recs.size(), kRecords);
  for (size_t i = 0; i < kRecords; ++i) {
    EXPECT_EQ(offsets[i], i);
    EXPECT_EQ(recs[i].payload, "rec" + std::to_string(i));
  }
}

TEST_F(LocalLogTest, AppendManyQueuesUpToTheBacklogBoundAndSaysWhyItStopped) {
  LocalLogOptions options;
  options.max_backlog_bytes = 250;
  auto log = OpenLog(options);
  std::atomic<int> called{0};
  std::promise<void> both;
  std::vector<AppendRequest> requests;
  for (int i = 0; i < 4; ++i) {  // two partitions: neither is over its share of the backlog
    requests.push_back({i % 2 == 0 ? "app" : "app2", 0, 1,
                        std::string(100, static_cast<char>('a' + i)),
                        [&](const Status& st, const AppendResult&) {
                          EXPECT_TRUE(st.ok()) << st.ToString();
                          if (++called == 2) both.set_value();
                        }});
  }
  size_t queued = 0;
  Status st = log->AppendMany(&requests, &queued);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("backlog is full"), std::string::npos) << st.ToString();
  EXPECT_EQ(queued, 2u);  // 300 bytes would be over the bound of 250
  both.get_future().get();
  log.reset();  // stops the writer: every callback that will run has run
  EXPECT_EQ(called.load(), 2);
  log = OpenLog(options);
  std::vector<LogRecord> recs;
  ASSERT_TRUE(log->Read("app", 0, 10, &recs).ok());
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].payload, std::string(100, 'a'));
  recs.clear();
  ASSERT_TRUE(log->Read("app2", 0, 10, &recs).ok());
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].payload, std::string(100, 'b'));
}

// While the writer is held (a disk stall), one partition's appends stop at its own bound (3/4
// of the backlog's, as vigil serve sets it), and the other partitions' are still taken up to
// the backlog's bound.
TEST_F(LocalLogTest, OnePartitionCannotTakeTheLastQuarterOfTheBacklog) {
  std::promise<void> held, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first{true};
  LocalLogOptions options;
  options.max_backlog_bytes = 1000;
  options.max_partition_backlog_bytes = 300;
  options.on_commit = [&](int64_t, size_t) {
    if (first.exchange(false)) {
      held.set_value();
      released.wait();
    }
  };
  auto log = OpenLog(options);
  std::atomic<int> called{0};
  auto append = [&](const char* partition, size_t bytes) {
    return log->Append(partition, 0, 1, std::string(bytes, 'x'),
                       [&](const Status& st, const AppendResult&) {
                         EXPECT_TRUE(st.ok()) << st.ToString();
                         ++called;
                       });
  };
  ASSERT_TRUE(append("big", 100).ok());
  held.get_future().wait();  // the writer committed it and is held: nothing queued is taken
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(append("big", 100).ok()) << i;  // its 300
  Status st = append("big", 1);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(st.message(),
            "'big' holds 300 bytes of the log's backlog waiting for disk, the most one partition "
            "may take (the rest is kept for the others)");
  // A record over a partition's bound goes alone, when the partition has nothing queued.
  EXPECT_TRUE(append("alone", 350).ok());  // 650 queued
  EXPECT_EQ(append("alone", 1).code(), StatusCode::kUnavailable);
  EXPECT_TRUE(append("small", 100).ok());  // 750
  st = append("small", 251);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("backlog is full (750 bytes waiting for disk)"), std::string::npos)
      << st.ToString();
  release.set_value();
  log.reset();  // drains the queue: every callback has run
  EXPECT_EQ(called.load(), 6);
  log = OpenLog(options);
  EXPECT_EQ(log->Partitions().size(), 3u);
  uint64_t records = 0;
  for (const PartitionInfo& p : log->Partitions()) records += p.records;
  EXPECT_EQ(records, 6u);
}

TEST_F(LocalLogTest, AppendManyWithABadPartitionNameQueuesNothing) {
  auto log = OpenLog();
  std::vector<AppendRequest> requests;
  requests.push_back({"app", 0, 1, "x", [](const Status&, const AppendResult&) {
                        ADD_FAILURE() << "a request of a rejected AppendMany was called back";
                      }});
  requests.push_back({"no/slash", 0, 1, "y", nullptr});
  size_t queued = 7;
  Status st = log->AppendMany(&requests, &queued);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_EQ(queued, 0u);
  log.reset();
  log = OpenLog();
  EXPECT_TRUE(log->Partitions().empty());
}

// Disk reserve: appends are refused while the disk has less free than min_free_bytes, saying
// what to do, and /readyz (Writable) says so too; with the reserve kept they go in.
TEST_F(LocalLogTest, AppendsAreRefusedWhileTheDiskReserveIsInUse) {
  LocalLogOptions options;
  options.min_free_bytes = uint64_t{1} << 62;  // more than any disk has
  auto log = OpenLog(options);
  auto [st, r] = AppendSync(log.get(), "app", 1, "x");
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("MiB kept for the stages behind ingest (min_free_disk_mb); free "
                              "space on it, or lower min_free_disk_mb"),
            std::string::npos)
      << st.ToString();
  EXPECT_EQ(log->Writable().code(), StatusCode::kUnavailable);
  std::vector<AppendRequest> many(1);
  many[0] = {"app", 0, 1, "y", [](const Status&, const AppendResult&) {}};
  size_t queued = 9;
  EXPECT_EQ(log->AppendMany(&many, &queued).code(), StatusCode::kUnavailable);
  EXPECT_EQ(queued, 0u);
  log.reset();
  options.min_free_bytes = 1;  // a disk with a byte free keeps it
  log = OpenLog(options);
  EXPECT_TRUE(AppendSync(log.get(), "app", 1, "x").first.ok());
  EXPECT_TRUE(log->Writable().ok());
}

// Under disk pressure, retention deletes the segments every consumer passed without waiting
// for their age bound; segments not yet passed stay, whatever the disk.
TEST_F(LocalLogTest, UnderDiskPressureRetentionDeletesConsumedSegmentsAtOnce) {
  LocalLogOptions options;
  options.partition.segment_bytes = 1024;
  options.retention_ms = 7 * 24 * 3600 * 1000LL;
  options.retention_consumers = {"archive"};
  auto log = OpenLog(options);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(AppendSync(log.get(), "app", 0, std::string(200, 'x')).first.ok());
  }
  const uint64_t segments_before = log->Partitions()[0].segments;
  ASSERT_GT(segments_before, 4u);
  ASSERT_TRUE(log->CommitOffset("archive", "app", 20).ok());
  ASSERT_TRUE(log->RunRetention().ok());  // no pressure: young segments stay
  EXPECT_EQ(log->Partitions()[0].segments, segments_before);
  log.reset();
  options.pressure_free_bytes = uint64_t{1} << 62;
  log = OpenLog(options);
  ASSERT_TRUE(log->RunRetention().ok());
  ExpectRetainedFromASegmentBefore20(log.get(), segments_before);
  // Nothing the consumer has not passed goes, however short the disk.
  const uint64_t start = log->Partitions()[0].start_offset;
  ASSERT_TRUE(log->RunRetention().ok());
  EXPECT_EQ(log->Partitions()[0].start_offset, start);
}

// Committed offsets are answered from memory once read or written: /metrics asks for every
// partition and consumer on an HTTP loop. (A file removed behind the log's back shows it.)
// Consumers lists those with a file and those committed since.
TEST_F(LocalLogTest, CommittedOffsetsAreKeptInMemory) {
  {
    auto log = OpenLog();
    ASSERT_TRUE(AppendSync(log.get(), "app", 0, "x").first.ok());
    ASSERT_TRUE(log->CommitOffset("old", "app", 1).ok());
  }
  auto log = OpenLog();
  EXPECT_EQ(log->Consumers("app"), std::vector<std::string>{"old"});
  EXPECT_EQ(log->CommittedOffset("old", "app").value(), 1u);  // read from its file
  ASSERT_TRUE(log->CommitOffset("new", "app", 1).ok());
  EXPECT_EQ(log->Consumers("app"), (std::vector<std::string>{"new", "old"}));
  ASSERT_EQ(::unlink((dir_ + "/app/consumers/old.offset").c_str()), 0);
  ASSERT_EQ(::unlink((dir_ + "/app/consumers/new.offset").c_str()), 0);
  EXPECT_EQ(log->CommittedOffset("old", "app").value(), 1u);
  EXPECT_EQ(log->CommittedOffset("new", "app").value(), 1u);
  EXPECT_EQ(log->CommittedOffset("never", "app").value(), 0u);
  // A tool's read-only view reads the files every time.
  auto ro = LocalLog::OpenReadOnly(dir_, &clock_);
  ASSERT_TRUE(ro.ok());
  EXPECT_TRUE((*ro)->Consumers("app").empty());
  EXPECT_EQ((*ro)->CommittedOffset("old", "app").value(), 0u);
}

TEST_F(LocalLogTest, RetentionDeletesOnlyOldSegmentsEveryConsumerPassed) {
  LocalLogOptions options;
  options.partition.segment_bytes = 1024;
  options.retention_ms = 3600 * 1000;
  options.retention_consumers = {"archive"};
  auto log = OpenLog(options);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(AppendSync(log.get(), "app", 0, std::string(200, 'x')).first.ok());
  }
  uint64_t segments_before = log->Partitions()[0].segments;
  ASSERT_GT(segments_before, 4u);
  clock_.AdvanceMs(2 * 3600 * 1000);
  ASSERT_TRUE(log->RunRetention().ok());  // the consumer has not committed: nothing goes
  EXPECT_EQ(log->Partitions()[0].segments, segments_before);
  ASSERT_TRUE(log->CommitOffset("archive", "app", 20).ok());
  ASSERT_TRUE(log->RunRetention().ok());
  ExpectRetainedFromASegmentBefore20(log.get(), segments_before);
}

// Retention runs on a thread of its own every retention_check_ms, with nothing written: the
// writer, which every acknowledgement waits on, never unlinks a segment.
TEST_F(LocalLogTest, RetentionRunsOnItsOwnThreadWithoutWrites) {
  LocalLogOptions options;
  options.partition.segment_bytes = 1024;
  options.retention_ms = 3600 * 1000;
  options.retention_consumers = {"archive"};
  options.retention_check_ms = 20;
  auto log = OpenLog(options);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(AppendSync(log.get(), "app", 0, std::string(200, 'x')).first.ok());
  }
  const uint64_t segments_before = log->Partitions()[0].segments;
  ASSERT_GT(segments_before, 4u);
  ASSERT_TRUE(log->CommitOffset("archive", "app", 40).ok());
  clock_.AdvanceMs(2 * 3600 * 1000);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (log->Partitions()[0].segments > 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(log->Partitions()[0].segments, 1u);  // all but the active one
  bool thread_seen = false;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind("vigil-ret-", 0) == 0) thread_seen = true;
  }
  EXPECT_TRUE(thread_seen);
}

// Pages of `path` in [from, to) that are in the page cache (mincore does not fault them in).
size_t ResidentPages(const std::string& path, uint64_t from, uint64_t to) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return SIZE_MAX;
  struct stat st;
  ::fstat(fd, &st);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t resident = 0;
  void* map = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  if (map != MAP_FAILED) {
    std::vector<unsigned char> in((static_cast<size_t>(st.st_size) + page - 1) / page);
    if (::mincore(map, static_cast<size_t>(st.st_size), in.data()) == 0) {
      for (uint64_t p = from / page; p < std::min<uint64_t>(in.size(), (to + page - 1) / page); ++p)
        resident += in[p] & 1;
    }
    ::munmap(map, static_cast<size_t>(st.st_size));
  }
  ::close(fd);
  return resident;
}

// Once every consumer has committed past records, their pages leave the page cache (the files
// stay, and still read back); the pages of records not yet consumed stay cached.
TEST_F(LocalLogTest, PagesOfConsumedRecordsLeaveThePageCache) {
  struct statfs fs;
  ASSERT_EQ(::statfs(dir_.c_str(), &fs), 0);
  if (fs.f_type == TMPFS_MAGIC) GTEST_SKIP() << "tmpfs keeps its pages: nothing to drop";
  LocalLogOptions options;
  options.retention_consumers = {"process", "archive"};
  options.drop_cache_ms = 0;  // dropped when the test says
  auto log = OpenLog(options);
  // 768 records of 4096 bytes each (40-byte header + payload) after the 32-byte segment header:
  // record i starts at 32 + 4096 * i. Written one round each: all in the page cache.
  constexpr uint64_t kRecord = 4096;
  auto position = [](uint64_t offset) { return 32 + kRecord * offset; };
  for (int i = 0; i < 768; ++i) {
    ASSERT_TRUE(
        AppendSync(log.get(), "app", 0, std::string(kRecord - 40, 'a' + i % 26)).first.ok());
  }
  const std::string seg = dir_ + "/app/00000000000000000000.seg";
  const uint64_t end = position(768);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  ASSERT_EQ(ResidentPages(seg, 0, end), (end + page - 1) / page);

  EXPECT_EQ(log->DropConsumedPages(), 0u);  // no consumer has committed
  ASSERT_TRUE(log->CommitOffset("process", "app", 700).ok());
  EXPECT_EQ(log->DropConsumedPages(), 0u);  // archive has not
  ASSERT_TRUE(log->CommitOffset("archive", "app", 600).ok());
  // Dropped up to a sparse-index entry (every 1 MiB) at or below record 600, page-aligned.
  const uint64_t dropped = log->DropConsumedPages();
  EXPECT_LE(dropped, position(600));
  EXPECT_GT(dropped + (1 << 20) + kRecord, position(600));
  EXPECT_EQ(dropped % page, 0u);
  EXPECT_EQ(ResidentPages(seg, 0, dropped), 0u);
  EXPECT_EQ(ResidentPages(seg, position(600), end), (end + page - 1) / page - position(600) / page);
  EXPECT_EQ(log->DropConsumedPages(), 0u);  // nothing new consumed

  // A later commit drops on from where the last drop stopped, up to the index entry at record
  // 1024 (the last one at or below 1100).
  for (int i = 768; i < 1200; ++i) {
    ASSERT_TRUE(
        AppendSync(log.get(), "app", 0, std::string(kRecord - 40, 'a' + i % 26)).first.ok());
  }
  ASSERT_TRUE(log->CommitOffset("process", "app", 1100).ok());
  ASSERT_TRUE(log->CommitOffset("archive", "app", 1100).ok());
  const uint64_t more = log->DropConsumedPages();
  EXPECT_GT(dropped + more + (1 << 20) + kRecord, position(1100));
  EXPECT_LE(dropped + more, position(1100));
  EXPECT_EQ(ResidentPages(seg, 0, dropped + more), 0u);
  EXPECT_EQ(ResidentPages(seg, position(1100), position(1200)),
            (position(1200) + page - 1) / page - position(1100) / page);

  // The records still read back, from disk.
  std::vector<LogRecord> recs;
  ASSERT_TRUE(log->Read("app", 0, 2000, &recs).ok());
  ASSERT_EQ(recs.size(), 1200u);
  for (int i = 0; i < 1200; ++i) {
    ASSERT_EQ(recs[i].payload, std::string(kRecord - 40, 'a' + i % 26)) << "record " << i;
  }
}

// Whole segments below every consumer's commit go at once; the periodic thread does it unasked.
TEST_F(LocalLogTest, ConsumedSegmentsLeaveThePageCachePeriodically) {
  struct statfs fs;
  ASSERT_EQ(::statfs(dir_.c_str(), &fs), 0);
  if (fs.f_type == TMPFS_MAGIC) GTEST_SKIP() << "tmpfs keeps its pages: nothing to drop";
  LocalLogOptions options;
  options.partition.segment_bytes = 64 << 10;
  options.retention_consumers = {"speed"};
  options.drop_cache_ms = 20;
  auto log = OpenLog(options);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(AppendSync(log.get(), "app", 0, std::string(4056, 'x')).first.ok());
  }
  // 64 KiB segments of 4096-byte records, one round each: a segment rolls once a round has taken
  // it to the bound or past, so the 16th record (32 + 16 * 4096 bytes) ends each: bases 0, 16, ...
  std::vector<std::string> segs;
  for (uint64_t base = 0; base < 100; base += 16) {
    char name[32];
    std::snprintf(name, sizeof name, "/app/%020llu.seg", static_cast<unsigned long long>(base));
    segs.push_back(dir_ + name);
  }
  ASSERT_EQ(log->Partitions()[0].segments, segs.size());
  ASSERT_TRUE(log->CommitOffset("speed", "app", 32).ok());  // segments 0 and 1 consumed
  for (int i = 0; i < 250 && ResidentPages(segs[1], 0, 1 << 20) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(ResidentPages(segs[0], 0, 1 << 20), 0u);
  EXPECT_EQ(ResidentPages(segs[1], 0, 1 << 20), 0u);
  for (size_t k = 2; k < segs.size(); ++k) EXPECT_GT(ResidentPages(segs[k], 0, 1 << 20), 0u);
}

// A partition that fills its segments fast rolls into spares written ahead of time (Partition's
// "Spare segment"), and its records read back the same across those rolls.
TEST_F(LocalLogTest, AFastPartitionRollsIntoSparesWrittenAhead) {
  LocalLogOptions options;
  options.partition.segment_bytes = 64 << 10;
  auto log = OpenLog(options);
  // The fake clock stands still: every append falls in one second, far over 64 KiB / 30 s.
  int n = 0;
  do {
    ASSERT_TRUE(AppendSync(log.get(), "app", 0, std::string(1000, 'a' + n % 26)).first.ok());
    ++n;
  } while (n < 2000 && log->Partitions()[0].rolls_into_spare < 3);
  PartitionInfo info = log->Partitions()[0];
  EXPECT_GE(info.rolls_into_spare, 3u) << "after " << n << " appends";
  EXPECT_LE(info.rolls_into_spare, info.rolls);
  EXPECT_EQ(info.end_offset, static_cast<uint64_t>(n));
  std::vector<LogRecord> recs;
  ASSERT_TRUE(log->Read("app", 0, 5000, &recs).ok());
  ASSERT_EQ(recs.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(recs[i].offset, static_cast<uint64_t>(i));
    ASSERT_EQ(recs[i].payload, std::string(1000, 'a' + i % 26));
  }
  // Reopened, the log has the same records, and the unused spare is gone.
  log.reset();
  log = OpenLog(options);
  EXPECT_NE(::access((dir_ + "/app/spare").c_str(), F_OK), 0);
  recs.clear();
  ASSERT_TRUE(log->Read("app", 0, 5000, &recs).ok());
  EXPECT_EQ(recs.size(), static_cast<size_t>(n));
}

// A partition written slowly never gets a spare: it would sit on disk for hours.
TEST_F(LocalLogTest, ASlowPartitionHasNoSpare) {
  std::unique_ptr<Partition> p = OpenPartition(64 << 10);
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(CommitOne(p.get(), std::string(100, 'x')).ok());
    EXPECT_FALSE(p->WantsSpare()) << "after " << i + 1 << " records";
    clock_.AdvanceMs(1500);  // ~70 bytes a second: 64 KiB would take a quarter of an hour
  }
  // The same partition written fast wants one.
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(CommitOne(p.get(), std::string(100, 'x')).ok());
  EXPECT_TRUE(p->WantsSpare());
}

// A disk without room for a few spares gets none: records need the space more.
TEST_F(LocalLogTest, NoSpareIsWrittenWithoutRoomForIt) {
  std::unique_ptr<Partition> p = OpenPartition(uint64_t{1} << 55);  // 32 PiB: never 4 free
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(CommitOne(p.get(), std::string(1000, 'x')).ok());
  // 3 KB a second against 32 PiB left: no spare is wanted at this rate; ask anyway.
  Status st = p->PrepareSpare(nullptr);
  EXPECT_EQ(st.code(), StatusCode::kTooLarge) << st.ToString();
  EXPECT_NE(::access((dir_ + "/app/spare").c_str(), F_OK), 0);
}

// A spare a crash left behind never held a record: opening the log removes it.
TEST_F(LocalLogTest, ASpareLeftByACrashIsRemovedOnOpen) {
  {
    auto log = OpenLog();
    ASSERT_TRUE(AppendSync(log.get(), "app", 0, "kept").first.ok());
  }
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/app/spare", std::string(5000, 'g')).ok());
  auto log = OpenLog();
  EXPECT_NE(::access((dir_ + "/app/spare").c_str(), F_OK), 0);
  std::vector<LogRecord> recs;
  ASSERT_TRUE(log->Read("app", 0, 10, &recs).ok());
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].payload, "kept");
  auto [st, r] = AppendSync(log.get(), "app", 0, "next");
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(r.offset, 1u);
}

// A round that fails (here past a file size limit, as on a full disk) deletes a ready spare: its
// space goes to records when the round is retried. Driven on a Partition directly, so that the
// spare is ready (PrepareSpare run here) before the round fails.
TEST_F(LocalLogTest, AFailedRoundGivesTheSparesSpaceBack) {
  std::unique_ptr<Partition> opened = OpenPartition(64 << 10);
  ASSERT_NE(opened, nullptr);
  Partition& p = *opened;
  auto commit = [&](int i) { return CommitOne(&p, std::string(1000, 'a' + i % 26)); };
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(commit(i).ok());  // 4 KB in a second: 64 KiB in 16 s
  ASSERT_TRUE(p.WantsSpare());
  ASSERT_TRUE(p.PrepareSpare(nullptr).ok());
  const std::string spare = dir_ + "/app/spare";
  struct stat st;
  ASSERT_EQ(::stat(spare.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 128 << 10);

  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit tiny = {1, old_limit.rlim_max};
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tiny), 0);
  Status failed = commit(4);
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(::stat(spare.c_str(), &st), 0) << "the spare outlived a failed round";
  EXPECT_FALSE(p.WantsSpare());  // not at once: the disk is likely still full

  ASSERT_TRUE(commit(4).ok());  // the retry takes the failed round's offset
  std::vector<LogRecord> recs;
  ASSERT_TRUE(p.Read(0, 10, &recs).ok());
  ASSERT_EQ(recs.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(recs[i].offset, static_cast<uint64_t>(i));
    EXPECT_EQ(recs[i].payload, std::string(1000, 'a' + i % 26));
  }
}

TEST_F(LocalLogTest, RejectsBadPartitionNames) {
  auto log = OpenLog();
  Status st = log->Append("../etc", 0, 1, "x", [](const Status&, const AppendResult&) {});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  st = log->Append(std::string(65, 'a'), 0, 1, "x", [](const Status&, const AppendResult&) {});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
}

// A queued append holds its partition name inline, up to the longest valid one (64 bytes).
TEST_F(LocalLogTest, LongestPartitionNameRoundTrips) {
  const std::string name = std::string(63, 'p') + "9";
  {
    auto log = OpenLog();
    ASSERT_TRUE(AppendSync(log.get(), name, 0, "first").first.ok());
    ASSERT_TRUE(AppendSync(log.get(), "short", 0, "other").first.ok());
  }
  auto log = OpenLog();
  std::vector<LogRecord> recs;
  ASSERT_TRUE(log->Read(name, 0, 10, &recs).ok());
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].payload, "first");
  EXPECT_TRUE(FileExists(dir_ + "/" + name));
}

}  // namespace
}  // namespace vigil::log
