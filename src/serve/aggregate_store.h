// AggregateStore: where the speed and batch layers put rollup cells and the serving layer reads
// them — the only store API they see. RocksDB implements it embedded (rocksdb_store.h); a
// ClickHouse backend implements the same interface for scale-out.
//
// Two layers of cells live side by side under the same rollup keys (aggregate/rollup.h): speed's
// (fresh, approximate, the last 48 h) and batch's (recomputed from the archive, exact). Small
// metadata values (speed's log offsets, batch's sealed days and day signatures) share the store,
// so a layer can write its cells and its progress in one atomic write: after a crash either both
// are there or neither.
//
// Thread-safety: every method is safe from any thread; a WriteSet is a plain value.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aggregate/rollup.h"
#include "common/status.h"

namespace vigil::serve {

enum class Layer : char { kSpeed = 's', kBatch = 'b' };

inline std::string_view LayerName(Layer l) { return l == Layer::kSpeed ? "speed" : "batch"; }

// Puts and deletes applied together by AggregateStore::Apply.
class WriteSet {
 public:
  void PutCell(Layer layer, const aggregate::RollupKey& key, const aggregate::RollupCell& cell);
  void DeleteCell(Layer layer, const aggregate::RollupKey& key);
  void PutMeta(std::string_view key, std::string_view value);
  void DeleteMeta(std::string_view key);

  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  void Clear() { ops_.clear(); }

  struct Op {
    bool put = true;
    std::string key;  // store key (layer or meta prefix included)
    std::string value;
  };
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
};

// Store keys: a layer byte then the encoded rollup key; metadata keys: 'm' then the name.
std::string CellStoreKey(Layer layer, const aggregate::RollupKey& key);
std::string MetaStoreKey(std::string_view name);

class AggregateStore {
 public:
  virtual ~AggregateStore() = default;

  // Applies every op atomically. `sync` makes it durable against power loss before returning;
  // without it, it survives a process crash (kill -9) but not an OS crash.
  [[nodiscard]] virtual Status Apply(const WriteSet& writes, bool sync) = 0;

  // The cells of one series — `series` with its bucket ignored — whose bucket lies in
  // [from_ms, to_ms), in bucket order. `fn` gets the bucket and the encoded cell.
  [[nodiscard]] virtual Status ScanSeries(
      Layer layer, const aggregate::RollupKey& series, int64_t from_ms, int64_t to_ms,
      const std::function<void(int64_t bucket_ms, std::string_view cell)>& fn) = 0;

  // For each subject of (app, metric), the cells of its series with `version`, `os` and
  // `granularity` of `key` whose bucket lies in [from_ms, to_ms). Subjects in key order.
  [[nodiscard]] virtual Status ScanSubjects(
      Layer layer, const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
      const std::function<void(std::string_view subject, int64_t bucket_ms, std::string_view cell)>&
          fn) = 0;

  // For one subject of (app, metric) — `key.subject` — every version's series with `os` and
  // `granularity` of `key` (the kAll version included), cells whose bucket lies in
  // [from_ms, to_ms). Versions in key order.
  [[nodiscard]] virtual Status ScanVersions(
      Layer layer, const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
      const std::function<void(std::string_view version, int64_t bucket_ms, std::string_view cell)>&
          fn) = 0;
  // The encoded cell stored under `key`, if any.
  [[nodiscard]] virtual Result<std::optional<std::string>> GetCell(
      Layer layer, const aggregate::RollupKey& key) = 0;
  // Deletes every cell of `layer` at `granularity` whose bucket starts before `before_ms`; returns
  // how many. A sweep over the whole layer: for expiring a window, not for queries.
  [[nodiscard]] virtual Result<uint64_t> DeleteCellsBefore(Layer layer, Granularity granularity,
                                                           int64_t before_ms) = 0;

  [[nodiscard]] virtual Result<std::optional<std::string>> GetMeta(std::string_view name) = 0;
  // Every metadata entry whose name starts with `prefix`, in name order.
  [[nodiscard]] virtual Status ScanMeta(
      std::string_view prefix,
      const std::function<void(std::string_view name, std::string_view value)>& fn) = 0;
};

}  // namespace vigil::serve
