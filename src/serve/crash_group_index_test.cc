// The processing stage and the crash-group index together, on real logs and a real symbol store:
// sentinel before symbols, reprocessing after, idempotence, restarts.
#include "serve/crash_group_index.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "common/batch_record.h"
#include "common/binary_value.h"
#include "common/file_util.h"
#include "common/temp_dir.h"
#include "log/local_log.h"
#include "process/processing_stage.h"
#include "serve/rocksdb_store.h"
#include "symbols/symbol_store.h"

namespace vigil::serve {
namespace {

constexpr char kApp[] = "app1";
constexpr char kDebugId[] = "bba6fa10-b8aa-b33d-0000-000000000000";

std::string Fixture(const std::string& rel) {
  Result<std::string> data = ReadFile(std::string(VIGIL_FIXTURES_DIR) + "/" + rel);
  EXPECT_TRUE(data.ok()) << rel;
  return data.ok() ? *data : std::string();
}

// The fields of a native crash in liblinux_inline.so (its symbols: linux_inline.new.sym).
std::string NativeCrashFields(std::string_view debug_id = kDebugId) {
  std::string out;
  BinaryValueWriter w(&out);
  w.BeginObject();
  w.Key("error");
  w.BeginObject();
  w.Key("format");
  w.String("native");
  w.Key("type");
  w.String("SIGSEGV");
  w.Key("threads");
  w.BeginArray();
  w.BeginObject();
  w.Key("crashed");
  w.Bool(true);
  w.Key("frames");
  w.BeginArray();
  w.BeginObject();
  w.Key("instruction_addr");
  w.String("0x100161b6");
  w.EndObject();
  w.EndArray();
  w.EndObject();
  w.EndArray();
  w.Key("images");
  w.BeginArray();
  w.BeginObject();
  w.Key("debug_id");
  w.String(debug_id);
  w.Key("name");
  w.String("liblinux_inline.so");
  w.Key("image_addr");
  w.String("0x10000000");
  w.Key("image_size");
  w.Int(0x100000);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  w.Key("breadcrumbs");
  w.BeginArray();
  w.EndArray();
  w.EndObject();
  return out;
}

std::string MinimalCrashFields(std::string_view type) {
  std::string out;
  BinaryValueWriter w(&out);
  w.BeginObject();
  w.Key("error");
  w.BeginObject();
  w.Key("type");
  w.String(type);
  w.Key("reason");
  w.String("out of memory");
  w.EndObject();
  w.EndObject();
  return out;
}

std::string EmptyFields() {
  std::string out;
  BinaryValueWriter w(&out);
  w.BeginObject();
  w.EndObject();
  return out;
}

// The batch's app object: {"version": version}.
std::string AppObject(std::string_view version) {
  std::string app;
  BinaryValueWriter w(&app);
  w.BeginObject();
  w.Key("version");
  w.String(version);
  w.EndObject();
  return app;
}

// A raw batch record of app version `version`.
std::string RawBatch(std::string_view version, std::string_view suffix) {
  const std::string app = AppObject(version);
  BatchHeader h;
  h.batch_id = "batch";
  h.received_ms = 1700000000000;
  h.app = BinaryValue(app);
  std::string out;
  BatchRecordBuilder b;
  b.Begin(h, &out);
  std::string s = std::string(suffix);
  b.AddEvent("s" + s, EventType::kSessionStart, 1700000000001, EmptyFields());
  b.AddEvent("c" + s, EventType::kCrash, 1700000000002, NativeCrashFields());
  b.AddEvent("h" + s, EventType::kHandledException, 1700000000003, NativeCrashFields());
  b.AddEvent("m" + s, EventType::kCrash, 1700000000004, MinimalCrashFields("OutOfMemory"));
  b.Finish();
  return out;
}

// Two crashes of version 1.0 in another image whose symbols are never uploaded, occurred
// before the ones of RawBatch.
std::string OtherImageBatch() {
  const std::string app = AppObject("1.0");
  BatchHeader h;
  h.batch_id = "other";
  h.app = BinaryValue(app);
  std::string out;
  BatchRecordBuilder b;
  b.Begin(h, &out);
  const std::string fields = NativeCrashFields("00000000-1111-2222-3333-444444444444");
  b.AddEvent("x1", EventType::kCrash, 1700000000000, fields);
  b.AddEvent("x2", EventType::kCrash, 1700000000001, fields);
  b.Finish();
  return out;
}

// A RocksDbStore that counts the sample writes it is given.
class CountingStore : public AggregateStore {
 public:
  explicit CountingStore(std::unique_ptr<RocksDbStore> store) : store_(std::move(store)) {}
  Status Apply(const WriteSet& writes, bool sync) override {
    for (const WriteSet::Op& op : writes.ops()) {
      if (op.key.starts_with(MetaStoreKey("sample/"))) ++(op.put ? sample_puts : sample_deletes);
    }
    return store_->Apply(writes, sync);
  }
  Status ScanSeries(Layer layer, const aggregate::RollupKey& series, int64_t from_ms, int64_t to_ms,
                    const std::function<void(int64_t, std::string_view)>& fn) override {
    return store_->ScanSeries(layer, series, from_ms, to_ms, fn);
  }
  Status ScanSubjects(
      Layer layer, const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
      const std::function<void(std::string_view, int64_t, std::string_view)>& fn) override {
    return store_->ScanSubjects(layer, key, from_ms, to_ms, fn);
  }
  Status ScanVersions(
      Layer layer, const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
      const std::function<void(std::string_view, int64_t, std::string_view)>& fn) override {
    return store_->ScanVersions(layer, key, from_ms, to_ms, fn);
  }
  Result<std::optional<std::string>> GetCell(Layer layer,
                                             const aggregate::RollupKey& key) override {
    return store_->GetCell(layer, key);
  }
  Result<uint64_t> DeleteCellsBefore(Layer layer, Granularity granularity,
                                     int64_t before_ms) override {
    return store_->DeleteCellsBefore(layer, granularity, before_ms);
  }
  Result<std::optional<std::string>> GetMeta(std::string_view name) override {
    return store_->GetMeta(name);
  }
  Status ScanMeta(std::string_view prefix,
                  const std::function<void(std::string_view, std::string_view)>& fn) override {
    return store_->ScanMeta(prefix, fn);
  }

  int sample_puts = 0;
  int sample_deletes = 0;

 private:
  std::unique_ptr<RocksDbStore> store_;
};

class ProcessingTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenAll(); }
  void TearDown() override { CloseAll(); }

  void OpenAll() {
    auto raw = log::LocalLog::Open(dir_ + "/raw", {}, &clock_);
    ASSERT_TRUE(raw.ok());
    raw_ = std::move(*raw);
    auto processed = log::LocalLog::Open(dir_ + "/processed", {}, &clock_);
    ASSERT_TRUE(processed.ok());
    processed_ = std::move(*processed);
    auto store = symbols::SymbolStore::Open(dir_ + "/symbols");
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    stage_ = std::make_unique<process::ProcessingStage>(raw_.get(), processed_.get(), store_.get(),
                                                        &clock_);
    auto index = CrashGroupIndex::Open(processed_.get(), dir_ + "/groups.snapshot", &clock_);
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    index_ = std::move(*index);
    index_->SetReprocessor(
        [this](const std::string& app, std::string_view id) { return store_->Provides(app, id); },
        [this](const std::string& app, std::vector<process::ReprocessTarget> t) {
          stage_->Reprocess(app, std::move(t));
        });
  }
  void CloseAll() {
    index_.reset();
    stage_.reset();
    store_.reset();
    processed_.reset();
    raw_.reset();
  }

  void AppendRaw(std::string payload, std::string_view app = kApp) {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Status result;
    ASSERT_TRUE(raw_->Append(app, 0, 4, std::move(payload),
                             [&](const Status& st, const log::AppendResult&) {
                               std::lock_guard<std::mutex> lock(mu);
                               result = st;
                               done = true;
                               cv.notify_all();
                             })
                    .ok());
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    ASSERT_TRUE(result.ok());
  }

  // Runs both stages until neither has work.
  void Drain() {
    for (int i = 0; i < 100; ++i) {
      bool a = false, b = false;
      ASSERT_TRUE(stage_->RunRound(&a).ok());
      ASSERT_TRUE(index_->RunRound(&b).ok());
      if (!a && !b && stage_->pending_reprocess() == 0) return;
    }
    FAIL() << "the stages never went idle";
  }

  uint64_t ProcessedRecords() {
    for (const log::PartitionInfo& p : processed_->Partitions()) {
      if (p.name == kApp) return p.end_offset;
    }
    return 0;
  }

  // "title: crashes/handled" per group, sorted.
  std::vector<std::string> Summary(const std::string& version = "") {
    std::vector<std::string> out;
    for (const CrashGroup& g : index_->List(kApp, version)) {
      out.push_back(g.title + (g.sentinel ? " [sentinel]" : "") + ": " + std::to_string(g.crashes) +
                    "/" + std::to_string(g.handled));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  TempDir temp_dir_;
  std::string dir_ = temp_dir_.path();
  FakeClock clock_{1700000100000};
  std::unique_ptr<log::LocalLog> raw_, processed_;
  std::unique_ptr<symbols::SymbolStore> store_;
  std::unique_ptr<process::ProcessingStage> stage_;
  std::unique_ptr<CrashGroupIndex> index_;
};

TEST_F(ProcessingTest, ProcessedRecordKeepsEveryEventAndAddsTheProcessedCrash) {
  AppendRaw(RawBatch("1.0", "1"));
  Drain();
  std::vector<log::LogRecord> records;
  ASSERT_TRUE(processed_->Read(kApp, 0, 10, &records).ok());
  ASSERT_EQ(records.size(), 1u);
  BatchRecord batch;
  ASSERT_TRUE(DecodeBatchRecord(records[0].payload, &batch).ok());
  ASSERT_EQ(batch.events.size(), 4u);
  EXPECT_EQ(batch.events[0].id, "s1");
  EXPECT_FALSE(batch.events[0].fields.Get("processed").present());
  BinaryValue p = batch.events[1].fields.Get("processed");
  EXPECT_EQ(p.Get("format").AsString(), "native");
  EXPECT_EQ(p.Get("title").AsString(), "SIGSEGV (unsymbolicated, 1.0)");
  EXPECT_EQ(p.Get("sentinel").tag(), ValueTag::kTrue);
  EXPECT_EQ(p.Get("symbolicated").tag(), ValueTag::kFalse);
  std::vector<std::string> missing;
  p.Get("missing").ForEach(
      [&](std::string_view, const BinaryValue& m) { missing.emplace_back(m.AsString()); });
  EXPECT_EQ(missing, std::vector<std::string>{std::string("debug_id:") + kDebugId});
  EXPECT_EQ(batch.events[1].fields.Get("processing").Get("raw_offset").AsInt(), 0);
  EXPECT_TRUE(batch.events[1].fields.Get("breadcrumbs").is_array());  // SDK fields kept
  EXPECT_EQ(batch.events[3].fields.Get("processed").Get("title").AsString(), "OutOfMemory");
  EXPECT_EQ(batch.header.app.Get("version").AsString(), "1.0");
}

TEST_F(ProcessingTest, SentinelCrashesMoveToTheirGroupWhenSymbolsArrive) {
  AppendRaw(RawBatch("1.0", "1"));
  AppendRaw(RawBatch("1.1", "2"));
  Drain();
  EXPECT_EQ(Summary(), (std::vector<std::string>{
                           "OutOfMemory: 2/0",
                           "SIGSEGV (unsymbolicated, 1.0) [sentinel]: 1/1",
                           "SIGSEGV (unsymbolicated, 1.1) [sentinel]: 1/1",
                       }));
  EXPECT_EQ(Summary("1.1"), (std::vector<std::string>{
                                "OutOfMemory: 1/0",
                                "SIGSEGV (unsymbolicated, 1.1) [sentinel]: 1/1",
                            }));
  for (const CrashGroup& g : index_->List(kApp, "1.0")) {
    if (!g.sentinel) continue;
    EXPECT_EQ(g.missing.size(), 1u);
    EXPECT_EQ(g.missing.begin()->first, std::string("debug_id:") + kDebugId);
    // The latest event is the sample.
    EXPECT_NE(g.ToJson(true).find("\"event_id\":\"h1\""), std::string::npos) << g.ToJson(true);
  }
  EXPECT_EQ(index_->sentinel_crashes(), 4u);

  ASSERT_TRUE(store_->Add(kApp, Fixture("breakpad/linux_inline.new.sym"), "", 0).ok());
  EXPECT_EQ(index_->ReprocessAvailable(kApp), 4u);
  Drain();
  EXPECT_EQ(Summary(), (std::vector<std::string>{"OutOfMemory: 2/0", "SIGSEGV: func(): 2/2"}));
  EXPECT_EQ(index_->sentinel_crashes(), 0u);
  CrashGroup g = index_->List(kApp, "")[0];  // most events first
  EXPECT_EQ(g.title, "SIGSEGV: func()");
  EXPECT_EQ(g.culprit, "func() (linux_inline.cpp)");
  EXPECT_EQ(g.versions.size(), 2u);
  EXPECT_TRUE(g.missing.empty());
  EXPECT_NE(g.sample.find("\"symbolicated\":true"), std::string::npos) << g.sample;
  EXPECT_EQ(stage_->stats().reprocessed, 4u);

  // Reprocessing again changes nothing: the crashes are no longer in a sentinel group.
  std::vector<process::ReprocessTarget> again(1);
  again[0].raw_offset = 0;
  again[0].event_ids = {"c1", "h1"};
  stage_->Reprocess(kApp, again);
  Drain();
  EXPECT_EQ(Summary(), (std::vector<std::string>{"OutOfMemory: 2/0", "SIGSEGV: func(): 2/2"}));
}

TEST_F(ProcessingTest, SentinelGroupForgetsTheCrashesThatMovedOut) {
  AppendRaw(OtherImageBatch());     // x1, x2: symbols never uploaded
  AppendRaw(RawBatch("1.0", "1"));  // c1, h1: symbols uploaded below
  Drain();
  EXPECT_EQ(Summary(), (std::vector<std::string>{
                           "OutOfMemory: 1/0",
                           "SIGSEGV (unsymbolicated, 1.0) [sentinel]: 3/1",
                       }));
  ASSERT_TRUE(store_->Add(kApp, Fixture("breakpad/linux_inline.new.sym"), "", 0).ok());
  EXPECT_EQ(index_->ReprocessAvailable(kApp), 2u);
  EXPECT_EQ(index_->ReprocessAvailable(kApp), 2u);  // sent twice; queued once
  Drain();
  // c1 and h1 (the group's sample, the latest) moved out; x2, the latest left, became the
  // sample by being processed once more.
  EXPECT_EQ(stage_->stats().reprocessed, 3u);
  EXPECT_EQ(Summary(), (std::vector<std::string>{
                           "OutOfMemory: 1/0",
                           "SIGSEGV (unsymbolicated, 1.0) [sentinel]: 2/0",
                           "SIGSEGV: func(): 1/1",
                       }));
  std::vector<std::string> before = Summary();
  for (const CrashGroup& g : index_->List(kApp, "")) {
    if (!g.sentinel) continue;
    EXPECT_EQ(g.first_seen_ms, 1700000000000);
    EXPECT_EQ(g.last_seen_ms, 1700000000001);
    EXPECT_NE(g.sample.find("\"event_id\":\"x2\""), std::string::npos) << g.sample;
    EXPECT_EQ(g.missing.size(), 1u);
    EXPECT_EQ(g.missing.begin()->first, "debug_id:00000000-1111-2222-3333-444444444444");
  }
  // The same after a restart from the snapshot.
  ASSERT_TRUE(index_->SaveSnapshot().ok());
  CloseAll();
  OpenAll();
  EXPECT_EQ(Summary(), before);
  EXPECT_EQ(index_->sentinel_crashes(), 2u);
}

TEST_F(ProcessingTest, NewSentinelCrashIsReprocessedWhenItsSymbolsAreAlreadyThere) {
  // Symbols stored after the crash was processed but before it was indexed.
  AppendRaw(RawBatch("1.0", "1"));
  bool did = false;
  ASSERT_TRUE(stage_->RunRound(&did).ok());
  ASSERT_TRUE(store_->Add(kApp, Fixture("breakpad/linux_inline.new.sym"), "", 0).ok());
  Drain();
  EXPECT_EQ(Summary(), (std::vector<std::string>{"OutOfMemory: 1/0", "SIGSEGV: func(): 1/1"}));
}

TEST_F(ProcessingTest, ManualReprocessOfOneVersion) {
  AppendRaw(RawBatch("1.0", "1"));
  AppendRaw(RawBatch("1.1", "2"));
  Drain();
  // No symbols: reprocessing by hand leaves them in their sentinel groups.
  EXPECT_EQ(index_->ReprocessSentinel(kApp, "1.1"), 2u);
  Drain();
  EXPECT_EQ(index_->sentinel_crashes(), 4u);
  EXPECT_EQ(Summary("1.1"), (std::vector<std::string>{
                                "OutOfMemory: 1/0",
                                "SIGSEGV (unsymbolicated, 1.1) [sentinel]: 1/1",
                            }));
  EXPECT_EQ(index_->ReprocessSentinel(kApp, "9.9"), 0u);
  EXPECT_EQ(index_->ReprocessSentinel("other-app", ""), 0u);
}

TEST_F(ProcessingTest, RestartResumesWithoutCountingTwice) {
  AppendRaw(RawBatch("1.0", "1"));
  Drain();
  ASSERT_TRUE(stage_->CommitOffsets(true).ok());
  ASSERT_TRUE(index_->SaveSnapshot().ok());
  std::vector<std::string> before = Summary();
  CloseAll();
  OpenAll();
  EXPECT_EQ(Summary(), before);
  AppendRaw(RawBatch("1.0", "2"));
  Drain();
  EXPECT_EQ(ProcessedRecords(), 2u);
  EXPECT_EQ(Summary(), (std::vector<std::string>{"OutOfMemory: 2/0",
                                                 "SIGSEGV (unsymbolicated, 1.0) [sentinel]: 2/2"}));
}

TEST_F(ProcessingTest, UncommittedRecordsAreProcessedAgainButAppendedOnce) {
  AppendRaw(RawBatch("1.0", "1"));
  AppendRaw(RawBatch("1.0", "2"));
  bool did = false;
  ASSERT_TRUE(stage_->RunRound(&did).ok());  // appended, offsets not committed (as on kill -9)
  EXPECT_EQ(ProcessedRecords(), 2u);
  index_.reset();
  stage_.reset();
  stage_ = std::make_unique<process::ProcessingStage>(raw_.get(), processed_.get(), store_.get(),
                                                      &clock_);
  ASSERT_TRUE(stage_->RunRound(&did).ok());
  EXPECT_TRUE(did);
  EXPECT_EQ(ProcessedRecords(), 2u);  // deduplicated by key
  EXPECT_EQ(stage_->stats().records, 2u);
}

TEST_F(ProcessingTest, CorruptSnapshotIsRefusedWithTheFix) {
  AppendRaw(RawBatch("1.0", "1"));
  Drain();
  ASSERT_TRUE(index_->SaveSnapshot().ok());
  index_.reset();
  Result<std::string> bytes = ReadFile(dir_ + "/groups.snapshot");
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(
      WriteFileAtomically(dir_ + "/groups.snapshot", bytes->substr(0, bytes->size() / 2)).ok());
  auto index = CrashGroupIndex::Open(processed_.get(), dir_ + "/groups.snapshot", &clock_);
  ASSERT_FALSE(index.ok());
  EXPECT_NE(index.status().message().find("delete the file"), std::string::npos);
}

TEST_F(ProcessingTest, OneAppsBacklogDoesNotStallAnother) {
  for (int i = 0; i < 40; ++i) AppendRaw(RawBatch("1.0", std::to_string(i)));
  AppendRaw(RawBatch("2.0", "x"), "app2");
  auto end_offsets = [this] {
    std::map<std::string, uint64_t> out;
    for (const log::PartitionInfo& p : processed_->Partitions()) out[p.name] = p.end_offset;
    return out;
  };
  // One turn per round: a turn of app1's backlog (16) and all of app2.
  process::ProcessingOptions one_turn;
  one_turn.turns_per_round = 1;
  stage_.reset();
  stage_ = std::make_unique<process::ProcessingStage>(raw_.get(), processed_.get(), store_.get(),
                                                      &clock_, one_turn);
  bool did = false;
  ASSERT_TRUE(stage_->RunRound(&did).ok());
  EXPECT_EQ(end_offsets()["app2"], 1u);
  EXPECT_EQ(end_offsets()[kApp], 16u);
  // Default rounds take turns until caught up (or full), then append once: the rest of app1.
  stage_.reset();
  stage_ = std::make_unique<process::ProcessingStage>(raw_.get(), processed_.get(), store_.get(),
                                                      &clock_);
  ASSERT_TRUE(stage_->RunRound(&did).ok());
  EXPECT_TRUE(did);
  EXPECT_EQ(end_offsets()[kApp], 40u);
  EXPECT_EQ(end_offsets()["app2"], 1u);
}

// Samples are written to the store when the snapshot is, not per crash: a storm of crashes of one
// (group, version) writes the latest 20 once, and the samples read the same before and after.
TEST_F(ProcessingTest, ACrashStormWritesOnlyTheSamplesItKeeps) {
  auto rocks = RocksDbStore::Open(dir_ + "/store");
  ASSERT_TRUE(rocks.ok()) << rocks.status().ToString();
  CountingStore store(std::move(*rocks));
  index_->SetSampleStore(&store);
  constexpr int kBatches = 50;  // each: two crashes and a handled exception, same times
  for (int i = 0; i < kBatches; ++i) AppendRaw(RawBatch("1.0", std::to_string(i)));
  Drain();
  EXPECT_EQ(store.sample_puts, 0) << "written before the snapshot";
  std::vector<CrashGroup> groups = index_->List(kApp, "");
  ASSERT_EQ(groups.size(), 2u);
  std::map<std::string, std::vector<std::string>> before;  // group id -> samples
  for (const CrashGroup& g : groups) {
    Result<std::vector<std::string>> samples = index_->Samples(kApp, g.id, 0, INT64_MAX);
    ASSERT_TRUE(samples.ok()) << samples.status().ToString();
    EXPECT_EQ(samples->size(), kSamplesPerVersion) << g.title;
    before[g.id] = *samples;
  }
  // The latest kept are of the last batches: "m49" ... for OutOfMemory.
  bool found = false;
  for (const auto& [id, samples] : before) {
    for (const std::string& json : samples) found |= json.find("\"m49\"") != std::string::npos;
  }
  EXPECT_TRUE(found);

  ASSERT_TRUE(index_->SaveSnapshot().ok());
  // One put per sample kept, none for the kBatches * 3 - 40 evicted before the flush.
  EXPECT_EQ(store.sample_puts, static_cast<int>(2 * kSamplesPerVersion));
  EXPECT_EQ(store.sample_deletes, 0);
  int stored = 0;
  ASSERT_TRUE(
      store.ScanMeta("sample/", [&](std::string_view, std::string_view) { ++stored; }).ok());
  EXPECT_EQ(stored, static_cast<int>(2 * kSamplesPerVersion));
  for (const auto& [id, samples] : before) {
    Result<std::vector<std::string>> after = index_->Samples(kApp, id, 0, INT64_MAX);
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(*after, samples);
  }

  // A later crash evicts a stored sample: a delete of the stored key, a put of the new one. (The
  // SIGSEGV group keeps its latest 20 by occurred time: only handled exceptions by now, which
  // occurred after the crashes of the same batch, so the late crash is older than all it keeps.)
  AppendRaw(RawBatch("1.0", "late"));
  Drain();
  ASSERT_TRUE(index_->SaveSnapshot().ok());
  EXPECT_EQ(store.sample_puts, static_cast<int>(2 * kSamplesPerVersion) + 2);
  EXPECT_EQ(store.sample_deletes, 2);
  stored = 0;
  ASSERT_TRUE(
      store.ScanMeta("sample/", [&](std::string_view, std::string_view) { ++stored; }).ok());
  EXPECT_EQ(stored, static_cast<int>(2 * kSamplesPerVersion));

  // After a restart the samples come from the store alone.
  CloseAll();
  OpenAll();
  index_->SetSampleStore(&store);
  for (const CrashGroup& g : groups) {
    Result<std::vector<std::string>> samples = index_->Samples(kApp, g.id, 0, INT64_MAX);
    ASSERT_TRUE(samples.ok());
    EXPECT_EQ(samples->size(), kSamplesPerVersion);
    bool late = false;
    for (const std::string& json : *samples) late |= json.find("late\"") != std::string::npos;
    EXPECT_TRUE(late) << g.title;
  }
}

// An event delivered again replaces its stored sample; evicted before the next flush, that stored
// copy is deleted, not left behind.
TEST_F(ProcessingTest, ASampleDeliveredAgainAndEvictedLeavesNothingStored) {
  auto rocks = RocksDbStore::Open(dir_ + "/store");
  ASSERT_TRUE(rocks.ok()) << rocks.status().ToString();
  CountingStore store(std::move(*rocks));
  index_->SetSampleStore(&store);
  for (int i = 0; i < 25; ++i) AppendRaw(RawBatch("1.0", std::to_string(i)));
  Drain();
  ASSERT_TRUE(index_->SaveSnapshot().ok());
  auto stored = [&] {
    std::vector<std::string> keys;
    EXPECT_TRUE(store
                    .ScanMeta("sample/",
                              [&](std::string_view k, std::string_view) { keys.emplace_back(k); })
                    .ok());
    return keys;
  };
  ASSERT_EQ(stored().size(), 2 * kSamplesPerVersion);
  AppendRaw(RawBatch("1.0", "24"));  // the same events again: m24 is a stored sample
  for (int i = 0; i < 20; ++i) AppendRaw(RawBatch("1.0", "y" + std::to_string(i)));
  Drain();
  ASSERT_TRUE(index_->SaveSnapshot().ok());
  std::vector<std::string> keys = stored();
  EXPECT_EQ(keys.size(), 2 * kSamplesPerVersion);
  for (const std::string& k : keys) EXPECT_EQ(k.find("m24"), std::string::npos) << k;
}

}  // namespace
}  // namespace vigil::serve
