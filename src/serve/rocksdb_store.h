// RocksDbStore: the embedded AggregateStore, one RocksDB database in <data>/aggregates.
//
// Cells are stored whole (the layers merge in memory and write the merged cell), so no merge
// operator is needed and a rerun of the batch layer simply overwrites. Scans are bounded with
// iterate_upper_bound. Writes without `sync` go through RocksDB's WAL (kill -9 safe).
// RocksDB's flush and compaction threads run at the background priority of the stages
// (common/thread_priority.h), set by SetBackgroundNice before Open.
#pragma once

#include <memory>
#include <string>

#include "serve/aggregate_store.h"

namespace rocksdb {
class DB;
class Env;
}  // namespace rocksdb

namespace vigil::serve {

class RocksDbStore : public AggregateStore {
 public:
  // Opens (creating if missing) the database in `dir`. `env`: RocksDB's default unless given
  // (tests inject file-system faults through one); it must outlive the store.
  static Result<std::unique_ptr<RocksDbStore>> Open(const std::string& dir,
                                                    rocksdb::Env* env = nullptr);
  ~RocksDbStore() override;

  Status Apply(const WriteSet& writes, bool sync) override;
  // Writes the memtable to a table file now, on RocksDB's flush thread, and waits for it
  // (tests; the WAL already makes every Apply survive a crash).
  Status Flush();
  Status ScanSeries(Layer layer, const aggregate::RollupKey& series, int64_t from_ms, int64_t to_ms,
                    const std::function<void(int64_t, std::string_view)>& fn) override;
  Status ScanSubjects(
      Layer layer, const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
      const std::function<void(std::string_view, int64_t, std::string_view)>& fn) override;
  Result<std::optional<std::string>> GetCell(Layer layer, const aggregate::RollupKey& key) override;
  Result<uint64_t> DeleteCellsBefore(Layer layer, Granularity granularity,
                                     int64_t before_ms) override;
  Result<std::optional<std::string>> GetMeta(std::string_view name) override;
  Status ScanVersions(
      Layer layer, const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
      const std::function<void(std::string_view, int64_t, std::string_view)>& fn) override;
  Status ScanMeta(std::string_view prefix,
                  const std::function<void(std::string_view, std::string_view)>& fn) override;

 private:
  explicit RocksDbStore(rocksdb::DB* db);
  // ScanSubjects and ScanVersions: for each name (a length-prefixed string) after `prefix`, the
  // cells of series name + `tail` whose bucket lies in [from_ms, to_ms).
  Status ScanNamedSeries(
      const std::string& prefix, const std::string& tail, int64_t from_ms, int64_t to_ms,
      const std::function<void(std::string_view, int64_t, std::string_view)>& fn);
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace vigil::serve
