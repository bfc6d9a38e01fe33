// LocalLog: appends, group commit, dedup, reads across segments, offsets and retention.
#include "log/local_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>

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
  for (int i = 0; i < 4; ++i) {
    requests.push_back({"app", 0, 1, std::string(100, static_cast<char>('a' + i)),
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
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].payload, std::string(100, 'a'));
  EXPECT_EQ(recs[1].payload, std::string(100, 'b'));
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
  auto info = log->Partitions()[0];
  EXPECT_LT(info.segments, segments_before);
  EXPECT_LE(info.start_offset, 20u);
  EXPECT_GT(info.start_offset, 0u);
  std::vector<LogRecord> recs;
  ASSERT_TRUE(log->Read("app", 0, 1000, &recs).ok());
  EXPECT_EQ(recs.front().offset, info.start_offset);
  EXPECT_EQ(recs.back().offset, 39u);
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
