// LayerMerge: the serving layer's one rule — each bucket from batch where batch has sealed its
// day, else from speed — applied to a series or to every subject of a metric.
//
// Minute buckets exist only in speed. A bucket that neither layer holds is zero (an empty cell),
// so series are zero-filled. Built per request; not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "aggregate/rollup.h"
#include "serve/aggregate_store.h"
#include "serve/merged_cell_cache.h"

namespace vigil::serve {

struct MergedPoint {
  int64_t bucket_ms = 0;
  aggregate::RollupCell cell;
  Layer source = Layer::kSpeed;
};

class LayerMerge {
 public:
  // `sealed_days`: starts of the days batch sealed for the app (at least those in the range).
  LayerMerge(AggregateStore* store, std::set<int64_t> sealed_days)
      : store_(store), sealed_(std::move(sealed_days)) {}

  // Subjects/Versions(Over) decode counters only from now on: sketches stay empty.
  void set_counters_only(bool v) { counters_only_ = v; }
  // SubjectsOver/VersionsOver take the batch layer's whole sealed days from `cache` (and put
  // them there) for `batch_generation`, read before the sealed days were. Null: no cache.
  void set_cache(MergedCellCache* cache, uint64_t batch_generation) {
    cache_ = cache;
    generation_ = batch_generation;
  }

  Layer SourceOf(Granularity g, int64_t bucket_ms) const;

  // One point per bucket of `series.granularity` in [from_ms, to_ms) (from rounded down to a
  // bucket start), zero-filled. InvalidArgument past max_points.
  Status Series(const aggregate::RollupKey& series, int64_t from_ms, int64_t to_ms,
                size_t max_points, std::vector<MergedPoint>* out);

  // Per subject of (key.app, key.metric) with key.version/os/granularity: its cells in
  // [from_ms, to_ms) merged, each bucket from its layer.
  Status Subjects(const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
                  std::map<std::string, aggregate::RollupCell>* out);
  // Per version of one subject — (key.app, key.metric, key.subject) with key.os/granularity —
  // its cells in [from_ms, to_ms) merged, each bucket from its layer. The kAll version is "".
  Status Versions(const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
                  std::map<std::string, aggregate::RollupCell>* out);
  // Subjects and Versions over a range of any length, reading as few cells as it can: day cells
  // for the whole days inside [from_ms, to_ms), hour cells for the partial days at either end
  // (widened to whole hours). key.granularity is ignored.
  Status SubjectsOver(aggregate::RollupKey key, int64_t from_ms, int64_t to_ms,
                      std::map<std::string, aggregate::RollupCell>* out);
  Status VersionsOver(aggregate::RollupKey key, int64_t from_ms, int64_t to_ms,
                      std::map<std::string, aggregate::RollupCell>* out);

 private:
  using Scan = Status (AggregateStore::*)(
      Layer, const aggregate::RollupKey&, int64_t, int64_t,
      const std::function<void(std::string_view, int64_t, std::string_view)>&);
  // SubjectsOver and VersionsOver: the range cut into hour and day pieces for MergeNamed.
  Status MergeOver(Scan scan, aggregate::RollupKey key, int64_t from_ms, int64_t to_ms,
                   std::map<std::string, aggregate::RollupCell>* out);
  // Subjects and Versions: `scan` of both layers, each bucket kept from its source layer and
  // merged under the name the scan gives.
  Status MergeNamed(Scan scan, const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
                    std::map<std::string, aggregate::RollupCell>* out);

  // MergeNamed's part for one layer: `scan` of `layer`, buckets of that source only.
  Status MergeLayer(Scan scan, Layer layer, const aggregate::RollupKey& key, int64_t from,
                    int64_t to_ms, std::map<std::string, aggregate::RollupCell>* out);

  AggregateStore* const store_;
  const std::set<int64_t> sealed_;
  MergedCellCache* cache_ = nullptr;
  uint64_t generation_ = 0;
  bool counters_only_ = false;
};

}  // namespace vigil::serve
