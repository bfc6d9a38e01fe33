// MergedCellCache: batch-layer cells of whole sealed days, already merged, kept across queries.
//
// A 30-day crash-group list merges ~30 day cells per group and metric, HyperLogLogs included:
// most of its time. Sealed days change only when the batch layer writes, so LayerMerge keeps
// what it merged from the batch layer for a (scan, key, range) here, tagged with the batch
// layer's generation, and only the speed layer's days are read and merged per query. A newer
// generation drops everything older; the cache is also cleared whole when it would pass its
// cell budget (bounded memory, no LRU bookkeeping on the hot path).
//
// Threads: every method may be called from any thread (one mutex; values are immutable and
// shared, so a hit costs a lookup and a refcount).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "aggregate/rollup.h"

namespace vigil::serve {

class MergedCellCache {
 public:
  using Cells = std::map<std::string, aggregate::RollupCell>;

  // `max_cells`: merged cells held at most (a dense HyperLogLog cell is ~16 KiB).
  explicit MergedCellCache(size_t max_cells = 4096) : max_cells_(max_cells) {}

  // The cells stored under `key` for exactly `generation`, or null.
  std::shared_ptr<const Cells> Find(const std::string& key, uint64_t generation);
  // Stores `cells` unless a newer generation was seen already.
  void Put(const std::string& key, uint64_t generation, std::shared_ptr<const Cells> cells);

  // vigil_query_cache_{hits,misses}_total and the cells held.
  void RenderMetrics(std::string* out) const;

 private:
  const size_t max_cells_;
  mutable std::mutex mu_;
  uint64_t generation_ = 0;                                                // guarded by mu_
  std::unordered_map<std::string, std::shared_ptr<const Cells>> entries_;  // guarded by mu_
  size_t cells_ = 0;                                                       // guarded by mu_
  std::atomic<uint64_t> hits_{0}, misses_{0};
};

}  // namespace vigil::serve
