// LayerMerge: the serving layer's one rule — each bucket from batch where batch has sealed its
// day, else from speed — applied to a series or to every subject of a metric.
//
// Minute buckets exist only in speed. A bucket that neither layer holds is zero (an empty cell),
// so series are zero-filled. Built per request; not thread-safe.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "aggregate/rollup.h"
#include "serve/aggregate_store.h"

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

  Layer SourceOf(Granularity g, int64_t bucket_ms) const;

  // One point per bucket of `series.granularity` in [from_ms, to_ms) (from rounded down to a
  // bucket start), zero-filled. InvalidArgument past max_points.
  Status Series(const aggregate::RollupKey& series, int64_t from_ms, int64_t to_ms,
                size_t max_points, std::vector<MergedPoint>* out);

  // Per subject of (key.app, key.metric) with key.version/os/granularity: its cells in
  // [from_ms, to_ms) merged, each bucket from its layer. *sources counts buckets per layer used.
  Status Subjects(const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
                  std::map<std::string, aggregate::RollupCell>* out);

 private:
  AggregateStore* const store_;
  const std::set<int64_t> sealed_;
};

}  // namespace vigil::serve
