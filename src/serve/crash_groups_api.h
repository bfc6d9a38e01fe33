// CrashGroupsApi: the crash-group endpoints of the read API (API token of the app).
//
//   GET  /v1/apps/{app}/crash-groups?from&to[&version][&kind=crash|handled]
//        [&sort=crashes|users|last_seen][&limit]        groups with their counts in the range
//   GET  /v1/apps/{app}/crash-groups/{id}?from&to[&granularity]
//                                                      one group: series, versions, samples
//   POST /v1/apps/{app}/reprocess[?version=V]          re-run the sentinel crashes
//
// Counts, users, first/last seen and per-version counts come from the crash_group and
// handled_group rollups with the serving rule (layer_merge.h: batch where sealed, else speed);
// titles, culprits, sentinel state, missing symbol files and samples from the CrashGroupIndex.
// docs/api.md has every field. Handlers run on the loop thread: a list reads a few cells per
// group (day cells for whole days), a detail a few hundred at most.
#pragma once

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <string_view>

#include "batch/batch_layer.h"
#include "common/clock.h"
#include "ingest/app_registry.h"
#include "ingest/metrics.h"
#include "serve/aggregate_store.h"
#include "serve/crash_group_index.h"
#include "serve/layer_merge.h"
#include "serve/merged_cell_cache.h"
#include "serve/query_params.h"

namespace vigil::serve {

class CrashGroupsApi {
 public:
  // Pointers must outlive the API. `cache` (may be null) keeps merged sealed days across queries.
  CrashGroupsApi(CrashGroupIndex* index, AggregateStore* store, batch::BatchLayer* batch,
                 ingest::Metrics* metrics, Clock* clock, MergedCellCache* cache = nullptr)
      : index_(index),
        store_(store),
        batch_(batch),
        metrics_(metrics),
        clock_(clock),
        cache_(cache) {}

  // `rest` follows /v1/apps/{app}/crash-groups: "" or "/{id}". Loop thread.
  void HandleGroups(h2o_req_t* req, const ingest::App& app, std::string_view rest);
  // `rest` follows /v1/apps/{app}/reprocess. Loop thread.
  void HandleReprocess(h2o_req_t* req, const ingest::App& app, std::string_view rest);

 private:
  // Batch where sealed, else speed, over `range`, with the shared cache of sealed days.
  LayerMerge MergeFor(const ingest::App& app, const TimeRange& range);
  void List(h2o_req_t* req, const ingest::App& app);
  void Detail(h2o_req_t* req, const ingest::App& app, const std::string& id);
  void Reply(h2o_req_t* req, int status, std::string_view json);
  void Error(h2o_req_t* req, int status, std::string_view message);

  CrashGroupIndex* const index_;
  AggregateStore* const store_;
  batch::BatchLayer* const batch_;
  ingest::Metrics* const metrics_;
  Clock* const clock_;
  MergedCellCache* const cache_;
};

}  // namespace vigil::serve
