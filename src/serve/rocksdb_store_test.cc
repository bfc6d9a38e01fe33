// The RocksDB aggregate store: atomic writes, series and subject scans bounded exactly by
// [from, to), metadata, layer separation, expiry sweeps, reopening, and the priority of
// RocksDB's own background threads.
#include "serve/rocksdb_store.h"

#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "common/thread_priority.h"

namespace vigil::serve {
namespace {

using aggregate::RollupCell;
using aggregate::RollupKey;

RollupKey Key(std::string subject, int64_t bucket, Granularity g = Granularity::kHour,
              std::string version = "") {
  RollupKey k;
  k.app = "app";
  k.metric = "endpoint";
  k.subject = std::move(subject);
  k.version = std::move(version);
  k.granularity = g;
  k.bucket_ms = bucket;
  return k;
}

RollupCell Cell(uint64_t count) {
  RollupCell c;
  c.count = count;
  c.users.Add("u" + std::to_string(count));
  return c;
}

// A file of FullDiskFileSystem: its writes and syncs fail as on a full disk while `full` is set.
class FullDiskFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FullDiskFile(std::unique_ptr<rocksdb::FSWritableFile> file, const std::atomic<bool>* full)
      : FSWritableFileOwnerWrapper(std::move(file)), full_(full) {}
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (*full_) return rocksdb::IOStatus::NoSpace("No space left on device (test)");
    return FSWritableFileOwnerWrapper::Append(data, options, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (*full_) return rocksdb::IOStatus::NoSpace("No space left on device (test)");
    return FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    if (*full_) return rocksdb::IOStatus::NoSpace("No space left on device (test)");
    return FSWritableFileOwnerWrapper::Sync(options, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    if (*full_) return rocksdb::IOStatus::NoSpace("No space left on device (test)");
    return FSWritableFileOwnerWrapper::Fsync(options, dbg);
  }

 private:
  const std::atomic<bool>* full_;
};

// The real file system, but for new files whose writes fail while `full` is set.
class FullDiskFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit FullDiskFileSystem(const std::atomic<bool>* full)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), full_(full) {}
  const char* Name() const override { return "FullDiskFileSystem"; }
  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSWritableFile> real;
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, &real, dbg);
    if (s.ok()) *file = std::make_unique<FullDiskFile>(std::move(real), full_);
    return s;
  }

 private:
  const std::atomic<bool>* full_;
};

class RocksDbStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void TearDown() override { store_.reset(); }
  void Reopen() {
    store_.reset();
    auto s = RocksDbStore::Open(dir_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  std::map<int64_t, uint64_t> Series(Layer layer, const RollupKey& k, int64_t from, int64_t to) {
    std::map<int64_t, uint64_t> out;
    EXPECT_TRUE(store_
                    ->ScanSeries(layer, k, from, to,
                                 [&](int64_t b, std::string_view bytes) {
                                   RollupCell c;
                                   EXPECT_TRUE(RollupCell::Decode(bytes, &c).ok());
                                   out[b] = c.count;
                                 })
                    .ok());
    return out;
  }

  TempDir temp_dir_;
  std::string dir_ = temp_dir_.path();
  std::unique_ptr<RocksDbStore> store_;
};

TEST_F(RocksDbStoreTest, SeriesScansAreBoundedAndLayersSeparate) {
  WriteSet w;
  for (int h = -3; h < 5; ++h) w.PutCell(Layer::kSpeed, Key("GET /a", h * kHourMs), Cell(h + 10));
  w.PutCell(Layer::kBatch, Key("GET /a", 0), Cell(99));
  w.PutCell(Layer::kSpeed, Key("GET /a", 0, Granularity::kDay), Cell(7));
  w.PutCell(Layer::kSpeed, Key("GET /a", 0, Granularity::kHour, "1.0"), Cell(8));
  w.PutMeta("speed/next/app", "42");
  ASSERT_TRUE(store_->Apply(w, true).ok());
  std::map<int64_t, uint64_t> got = Series(Layer::kSpeed, Key("GET /a", 0), -kHourMs, 2 * kHourMs);
  EXPECT_EQ(got, (std::map<int64_t, uint64_t>{{-kHourMs, 9}, {0, 10}, {kHourMs, 11}}));
  EXPECT_EQ(Series(Layer::kBatch, Key("GET /a", 0), -10 * kHourMs, 10 * kHourMs).size(), 1u);
  Reopen();
  EXPECT_EQ(**store_->GetMeta("speed/next/app"), "42");
  EXPECT_FALSE(store_->GetMeta("speed/next/other")->has_value());
  EXPECT_TRUE(store_->GetCell(Layer::kBatch, Key("GET /a", 0))->has_value());
  EXPECT_FALSE(store_->GetCell(Layer::kBatch, Key("GET /a", kHourMs))->has_value());
}

TEST_F(RocksDbStoreTest, SubjectScansVisitEverySubjectOnce) {
  WriteSet w;
  for (std::string s :
       std::vector<std::string>{"", "GET /a", "GET /b", std::string("\xff\xff", 2), "POST /c"}) {
    for (int h = 0; h < 3; ++h) w.PutCell(Layer::kSpeed, Key(s, h * kHourMs), Cell(1));
    w.PutCell(Layer::kSpeed, Key(s, 0, Granularity::kDay), Cell(100));
    w.PutCell(Layer::kSpeed, Key(s, 0, Granularity::kHour, "2.0"), Cell(100));
  }
  RollupKey other = Key("GET /z", 0);
  other.metric = "flow";
  w.PutCell(Layer::kSpeed, other, Cell(100));
  ASSERT_TRUE(store_->Apply(w, false).ok());
  std::map<std::string, uint64_t> counts;
  ASSERT_TRUE(store_
                  ->ScanSubjects(Layer::kSpeed, Key("", 0), kHourMs, 3 * kHourMs,
                                 [&](std::string_view s, int64_t, std::string_view bytes) {
                                   RollupCell c;
                                   ASSERT_TRUE(RollupCell::Decode(bytes, &c).ok());
                                   counts[std::string(s)] += c.count;
                                 })
                  .ok());
  EXPECT_EQ(
      counts,
      (std::map<std::string, uint64_t>{
          {"", 2}, {"GET /a", 2}, {"GET /b", 2}, {std::string("\xff\xff", 2), 2}, {"POST /c", 2}}));
}

TEST_F(RocksDbStoreTest, DeleteCellsBeforeSweepsOneGranularity) {
  WriteSet w;
  for (int h = 0; h < 10; ++h) w.PutCell(Layer::kSpeed, Key("s", h * kHourMs), Cell(1));
  w.PutCell(Layer::kSpeed, Key("s", 0, Granularity::kDay), Cell(1));
  w.PutCell(Layer::kBatch, Key("s", 0), Cell(1));
  ASSERT_TRUE(store_->Apply(w, false).ok());
  EXPECT_EQ(*store_->DeleteCellsBefore(Layer::kSpeed, Granularity::kHour, 4 * kHourMs), 4u);
  EXPECT_EQ(Series(Layer::kSpeed, Key("s", 0), 0, 10 * kHourMs).size(), 6u);
  EXPECT_TRUE(store_->GetCell(Layer::kSpeed, Key("s", 0, Granularity::kDay))->has_value());
  EXPECT_TRUE(store_->GetCell(Layer::kBatch, Key("s", 0))->has_value());
}

// RocksDB's flushes are background work: with the default background nice value (19) its pool
// threads run in SCHED_IDLE, as the stages do, instead of competing with the HTTP loops.
TEST_F(RocksDbStoreTest, FlushesRunInSchedIdleLikeTheStages) {
  ASSERT_EQ(BackgroundNice(), 19);  // the default, which Open in SetUp saw
  WriteSet w;
  w.PutCell(Layer::kSpeed, Key("s", 0), Cell(1));
  ASSERT_TRUE(store_->Apply(w, false).ok());
  ASSERT_TRUE(store_->Flush().ok());  // runs on a "rocksdb:high" thread, which waits for it
  int flush_threads = 0, idle = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind("rocksdb:high", 0) != 0) continue;
    ++flush_threads;
    const pid_t tid = static_cast<pid_t>(std::stol(task.path().filename().string()));
    if (::sched_getscheduler(tid) == SCHED_IDLE) ++idle;
  }
  EXPECT_GT(flush_threads, 0);
  EXPECT_EQ(idle, flush_threads);
  EXPECT_TRUE(store_->GetCell(Layer::kSpeed, Key("s", 0))->has_value());  // and it was flushed
}

// A full disk: RocksDB's writes fail (Unavailable, so callers wait it out), the process lives on
// (Debian's RocksDB, built with assertions, aborted on the log line after a failed one when it
// kept a LOG file: serve/rocksdb_stderr_logger.h), and once there is room the store resumes by
// itself.
TEST_F(RocksDbStoreTest, AFullDiskFailsWritesWithoutAbortingAndTheStoreResumesWhenThereIsRoom) {
  std::atomic<bool> full{false};
  std::unique_ptr<rocksdb::Env> env =
      rocksdb::NewCompositeEnv(std::make_shared<FullDiskFileSystem>(&full));
  auto opened = RocksDbStore::Open(dir_ + "/full", env.get());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<RocksDbStore> store = std::move(*opened);
  auto write = [&](uint64_t n) {
    WriteSet w;
    w.PutCell(Layer::kSpeed, Key("s" + std::to_string(n), 0), Cell(n));
    return store->Apply(w, /*sync=*/true);
  };
  ASSERT_TRUE(write(1).ok());
  // RocksDB keeps no LOG file: its file logger is what aborted (reproduced on a small loop
  // filesystem; this fault injection reaches RocksDB's data files, not its logger).
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/full/LOG"));
  full = true;
  Status flushed = store->Flush();
  EXPECT_EQ(flushed.code(), StatusCode::kUnavailable) << flushed.ToString();
  for (uint64_t n = 2; n < 5; ++n) {
    Status st = write(n);
    EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  }
  full = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  Status st = write(5);
  while (!st.ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    st = write(5);
  }
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_TRUE(store->GetCell(Layer::kSpeed, Key("s1", 0))->has_value());
  EXPECT_TRUE(store->GetCell(Layer::kSpeed, Key("s5", 0))->has_value());
  store.reset();  // before the env it uses
}

}  // namespace
}  // namespace vigil::serve
