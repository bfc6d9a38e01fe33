// The RocksDB aggregate store (see rocksdb_store.h) and the store key encoding.
#include "serve/rocksdb_store.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstring>

#include "common/coding.h"
#include "common/file_util.h"
#include "common/thread_priority.h"
#include "serve/rocksdb_stderr_logger.h"

namespace vigil::serve {

namespace {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsNotFound()) return Status::NotFound(msg);
  // As for our own files (Status::FromErrno): a full disk is waited out. RocksDB resumes by
  // itself once there is room (its SstFileManager: 64 MiB free).
  if (s.IsNoSpace()) return Status::Unavailable(msg);
  return Status::IoError(msg);
}

// The smallest string greater than every string starting with `prefix` ("" if none is).
std::string Successor(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<uint8_t>(prefix.back()) != 0xff) {
      prefix.back() = static_cast<char>(static_cast<uint8_t>(prefix.back()) + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

bool StartsWith(const rocksdb::Slice& s, std::string_view prefix) {
  return s.size() >= prefix.size() && std::memcmp(s.data(), prefix.data(), prefix.size()) == 0;
}

int64_t DecodeBucketAt(const rocksdb::Slice& key) {
  const char* p = key.data() + key.size() - 8;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<uint8_t>(p[i]);
  return static_cast<int64_t>(v ^ (uint64_t{1} << 63));
}

std::string_view View(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

}  // namespace

Result<std::unique_ptr<RocksDbStore>> RocksDbStore::Open(const std::string& dir,
                                                         rocksdb::Env* env) {
  rocksdb::Options options;
  if (env != nullptr) options.env = env;
  options.create_if_missing = true;
  options.compression = rocksdb::kZSTD;
  options.bottommost_compression = rocksdb::kZSTD;
  options.max_background_jobs = 2;
  // No fallocate ahead of writes: RocksDB reserved write_buffer_size * 1.1 (about 70 MiB) for
  // each new write-ahead log at its first write, a jump in used disk that the disk reserve
  // (min_free_disk_mb) cannot foresee; on a disk near the reserve it left less free than the
  // reserve, and ingest refusing batches, right after space came back. The log now grows as it
  // is written; it is synced only every few seconds (speed's offset commits).
  options.allow_fallocate = false;
  // Its messages to stderr, and no LOG file on the data disk: rocksdb_stderr_logger.h says why
  // (a full disk aborted the server).
  options.info_log = std::make_shared<RocksDbStderrLogger>();
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset();
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // RocksDB's flushes and compactions run on its own thread pools, shared by the process. They
  // are background work like the stages that write the store (common/thread_priority.h), so
  // they run at the same priority; at its normal priority a flush held a CPU for 3-4 ms while
  // an HTTP loop with a request waited for it (perf sched trace, 18k req/s). A pool thread
  // takes the priority before its next job.
  if (const int nice = BackgroundNice(); nice > 0) {
    const rocksdb::CpuPriority pri =
        nice >= 19 ? rocksdb::CpuPriority::kIdle : rocksdb::CpuPriority::kLow;
    for (rocksdb::Env::Priority pool : {rocksdb::Env::LOW, rocksdb::Env::HIGH}) {
      (void)options.env->LowerThreadPoolCPUPriority(pool, pri);  // best effort, as for stages
    }
  }
  // Created first: RocksDB reports a missing directory as an error before it creates it.
  VIGIL_RETURN_IF_ERROR(MakeDirs(dir));
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &db);
  if (!s.ok()) {
    Status st = FromRocks(s, "cannot open the aggregate store " + dir);
    if (s.IsNoSpace()) {
      return Status(st.code(), st.message() +
                                   " (the disk is full: free some space on it, RocksDB needs "
                                   "about 70 MiB to open)");
    }
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return Status(st.code(), st.message() + " (is another vigil using this data directory?)");
    }
    return st;
  }
  return std::unique_ptr<RocksDbStore>(new RocksDbStore(db));
}

RocksDbStore::RocksDbStore(rocksdb::DB* db) : db_(db) {}

RocksDbStore::~RocksDbStore() {
  if (db_) (void)db_->Close();
}

Status RocksDbStore::Flush() {
  return FromRocks(db_->Flush(rocksdb::FlushOptions()), "aggregate store flush");
}

Status RocksDbStore::Apply(const WriteSet& writes, bool sync) {
  if (writes.empty()) return Status::Ok();
  // In key order: the memtable's skiplist then inserts each key next to the last one (RocksDB
  // reuses the splice) instead of searching from the top for every key, which was a third of
  // the speed layer's CPU. Stable, so the last of several ops on one key still wins.
  std::vector<const WriteSet::Op*> sorted;
  sorted.reserve(writes.size());
  for (const WriteSet::Op& op : writes.ops()) sorted.push_back(&op);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const WriteSet::Op* a, const WriteSet::Op* b) { return a->key < b->key; });
  rocksdb::WriteBatch batch;
  for (const WriteSet::Op* op : sorted) {
    if (op->put) {
      batch.Put(op->key, op->value);
    } else {
      batch.Delete(op->key);
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return FromRocks(db_->Write(wo, &batch), "aggregate store write");
}

Status RocksDbStore::ScanSeries(Layer layer, const aggregate::RollupKey& series, int64_t from_ms,
                                int64_t to_ms,
                                const std::function<void(int64_t, std::string_view)>& fn) {
  if (from_ms >= to_ms) return Status::Ok();
  std::string prefix(1, static_cast<char>(layer));
  prefix += aggregate::EncodeSeriesPrefix(series);
  std::string start = prefix + aggregate::EncodeBucket(from_ms);
  std::string end = prefix + aggregate::EncodeBucket(to_ms);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(start); it->Valid(); it->Next()) {
    if (it->key().size() != prefix.size() + 8) continue;
    fn(DecodeBucketAt(it->key()), View(it->value()));
  }
  return FromRocks(it->status(), "aggregate store scan");
}

Status RocksDbStore::ScanSubjects(
    Layer layer, const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
    const std::function<void(std::string_view, int64_t, std::string_view)>& fn) {
  std::string prefix(1, static_cast<char>(layer));
  PutLengthPrefixed(&prefix, key.app);
  PutLengthPrefixed(&prefix, key.metric);
  std::string tail;  // version, os, granularity
  PutLengthPrefixed(&tail, key.version);
  PutLengthPrefixed(&tail, key.os);
  tail.push_back(static_cast<char>(key.granularity));
  return ScanNamedSeries(prefix, tail, from_ms, to_ms, fn);
}

Status RocksDbStore::ScanVersions(
    Layer layer, const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
    const std::function<void(std::string_view, int64_t, std::string_view)>& fn) {
  std::string prefix(1, static_cast<char>(layer));
  PutLengthPrefixed(&prefix, key.app);
  PutLengthPrefixed(&prefix, key.metric);
  PutLengthPrefixed(&prefix, key.subject);
  std::string tail;  // os, granularity
  PutLengthPrefixed(&tail, key.os);
  tail.push_back(static_cast<char>(key.granularity));
  return ScanNamedSeries(prefix, tail, from_ms, to_ms, fn);
}

Status RocksDbStore::ScanNamedSeries(
    const std::string& prefix, const std::string& tail, int64_t from_ms, int64_t to_ms,
    const std::function<void(std::string_view, int64_t, std::string_view)>& fn) {
  if (from_ms >= to_ms) return Status::Ok();
  const std::string from = aggregate::EncodeBucket(from_ms);
  const std::string to = aggregate::EncodeBucket(to_ms);
  std::string upper_key = Successor(prefix);
  rocksdb::Slice upper(upper_key);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  // Two seeks per name: to its series' first bucket in range, then past the name.
  it->Seek(prefix);
  while (it->Valid()) {
    rocksdb::Slice k = it->key();
    const char* p = k.data() + prefix.size();
    std::string_view name;
    if (!StartsWith(k, prefix) || !GetLengthPrefixed(p, k.data() + k.size(), &name)) break;
    std::string name_prefix = prefix;
    PutLengthPrefixed(&name_prefix, name);
    const std::string name_copy(name);
    std::string series = name_prefix + tail;
    std::string end = series + to;
    for (it->Seek(series + from); it->Valid(); it->Next()) {
      rocksdb::Slice sk = it->key();
      if (!StartsWith(sk, series) || sk.compare(rocksdb::Slice(end)) >= 0) break;
      if (sk.size() != series.size() + 8) continue;
      fn(name_copy, DecodeBucketAt(sk), View(it->value()));
    }
    VIGIL_RETURN_IF_ERROR(FromRocks(it->status(), "aggregate store scan"));
    std::string next = Successor(name_prefix);
    if (next.empty()) break;
    it->Seek(next);
  }
  return FromRocks(it->status(), "aggregate store scan");
}

Result<std::optional<std::string>> RocksDbStore::GetCell(Layer layer,
                                                         const aggregate::RollupKey& key) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), CellStoreKey(layer, key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  VIGIL_RETURN_IF_ERROR(FromRocks(s, "aggregate store get"));
  return std::optional<std::string>(std::move(value));
}

Result<uint64_t> RocksDbStore::DeleteCellsBefore(Layer layer, Granularity granularity,
                                                 int64_t before_ms) {
  std::string start(1, static_cast<char>(layer));
  std::string end = Successor(start);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  rocksdb::WriteBatch batch;
  uint64_t deleted = 0;
  for (it->Seek(start); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() < 10 || k[k.size() - 9] != static_cast<char>(granularity)) continue;
    if (DecodeBucketAt(k) >= before_ms) continue;
    batch.Delete(k);
    ++deleted;
    if (batch.Count() >= 10000) {
      VIGIL_RETURN_IF_ERROR(FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "delete"));
      batch.Clear();
    }
  }
  VIGIL_RETURN_IF_ERROR(FromRocks(it->status(), "aggregate store scan"));
  VIGIL_RETURN_IF_ERROR(FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "delete"));
  return deleted;
}

Result<std::optional<std::string>> RocksDbStore::GetMeta(std::string_view name) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), MetaStoreKey(name), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  VIGIL_RETURN_IF_ERROR(FromRocks(s, "aggregate store get"));
  return std::optional<std::string>(std::move(value));
}

Status RocksDbStore::ScanMeta(std::string_view prefix,
                              const std::function<void(std::string_view, std::string_view)>& fn) {
  std::string start = MetaStoreKey(prefix);
  std::string end = Successor(start);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(start); it->Valid(); it->Next()) {
    fn(View(it->key()).substr(1), View(it->value()));
  }
  return FromRocks(it->status(), "aggregate store scan");
}

}  // namespace vigil::serve
