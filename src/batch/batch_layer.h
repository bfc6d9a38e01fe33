// BatchLayer: the batch half of the Lambda architecture — recomputes (app, day) rollups from the
// archive, the source of truth, with the same aggregation code as speed, exactly.
//
// A day's computation: ask the archiver to archive everything the processed log holds (Sync),
// read the day's parts (only the columns aggregation needs), drop repeated event ids (the later
// delivery wins: parts newest first), aggregate at hour granularity and emit hour and day cells,
// then write them with the day's signature — the list of its part files — the list of the cell
// keys written and a digest of the cells (keys and values), in one synced store write. A rerun
// that computes the digest already stored writes no cell (the store holds them: only this layer
// writes batch cells, always with their digest); any other rerun overwrites the same keys and
// deletes the cells of the last run of the day it no longer produces — a crash group emptied by
// reprocessing must not keep its old counts (day_cell_keys.h).
//
// Sealing: a day is sealed once batch has computed it from a run that started after the day
// ended; the serving layer answers a sealed day (and its hours) from batch, any other from speed.
// A sealed day whose parts change (late events, compaction) is computed again by the next
// scheduled run.
//
// Scheduling: every `hourly_interval_ms` the last `hourly_days` days, every `daily_interval_ms`
// the last `days_back` days — each only where the archive changed or the day is not sealed yet.
// Run() (the admin API and `vigil batch run`) recomputes every day of its range with data.
//
// Threads: the scheduler runs on its own thread; runs are serialized by a mutex, so Run may be
// called from any thread while it works.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "archive/archiver.h"
#include "common/clock.h"
#include "common/status.h"
#include "serve/aggregate_store.h"

namespace vigil::batch {

struct BatchOptions {
  // Days computed at once, each on its own thread (0: one per core). A day's cells are small;
  // its working set is the id set and the aggregator, tens of MB for a million users.
  unsigned threads = 0;
  int64_t days_back = 30;
  int64_t hourly_days = 2;
  int64_t hourly_interval_ms = 3600 * 1000;  // 0: no scheduler
  int64_t daily_interval_ms = 24 * 3600 * 1000;
};

struct BatchRunRequest {
  std::string app;  // empty: every app in the archive
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  bool only_changed = false;     // skip sealed days whose parts did not change (the scheduler)
  bool yield_to_ingest = false;  // before each archive part it reads, step aside for an ingest
                                 // burst (the scheduler; common/ingest_burst.h)
};

struct BatchRunResult {
  uint64_t days = 0;    // (app, day) pairs computed
  uint64_t events = 0;  // distinct events aggregated
  uint64_t duplicates = 0;
  uint64_t stale_cells = 0;     // cells of an earlier run of the day that this one deleted
  uint64_t unchanged_days = 0;  // days computed to the cells already stored: none rewritten
  double seconds = 0;
};

// When the scheduler's next runs are due (epoch ms): the hourly pass over the last hourly_days,
// the daily one over the last days_back.
struct BatchSchedule {
  int64_t next_hourly_ms = 0;
  int64_t next_daily_ms = 0;
};

// The schedule of a scheduler starting at `now_ms`, given the one it stored last ("" if none;
// see FormatBatchSchedule). The schedule outlives restarts: what came due while the server was
// down runs a minute after the start, so that the other stages start first, and nothing else
// does (what is not due runs when due, but no later than one interval from the start). (Before,
// every start ran the 30-day pass a minute in: a server restarted often, for a deploy or in a crash
// loop, redid it each time, against the ingest backlog it came back to.) A store without one starts
// its schedule an hourly interval after `now_ms`: no day is sealed before it ends, and until then
// speed answers for it.
BatchSchedule ScheduleAtStart(std::string_view stored, int64_t now_ms, const BatchOptions& options);
std::string FormatBatchSchedule(const BatchSchedule& schedule);

// Called after each (app, day): computed so far, total to compute.
using BatchProgress = std::function<void(uint64_t done, uint64_t total)>;

class BatchLayer {
 public:
  // `archiver` may be null (tools reading an archive no server writes). Pointers must outlive it.
  BatchLayer(std::string archive_root, archive::Archiver* archiver, serve::AggregateStore* store,
             Clock* clock, BatchOptions options = {});
  ~BatchLayer();  // Stop()

  void Start();  // the scheduler
  void Stop();
  // Suspends scheduled runs (tests of graceful degradation); Run still works.
  void Pause(bool paused);

  Result<BatchRunResult> Run(const BatchRunRequest& request, const BatchProgress& progress = {});

  // Whether batch sealed `day_ms` of `app`; and every sealed day of `app` in [from, to).
  std::set<int64_t> SealedDays(const std::string& app, int64_t from_ms, int64_t to_ms);
  // End of the last sealed day of `app` (0 if none).
  int64_t SealedUntil(const std::string& app);
  // Grows after every (app, day) the batch layer writes, once the write is in the store: what
  // was merged from batch cells under one generation stays right until the next.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  void RenderMetrics(std::string* out) const;

 private:
  // A worker's buffers, reused from one day to the next (batch_layer.cc).
  struct DayScratch;
  // `yield_to_ingest`: BatchRunRequest's, applied before each part.
  Status ComputeDay(const std::string& app, int64_t day_ms, int64_t run_start_ms,
                    const std::string& signature, bool yield_to_ingest, DayScratch* scratch,
                    BatchRunResult* result);
  // True if the store holds the cells of (app, day) whose CellsDigest is `digest` (`cells` of
  // them): only ComputeDay writes batch cells, always with their digest and key list.
  Result<bool> StoreHoldsCells(const std::string& app, int64_t day_ms, const std::string& digest,
                               size_t cells);
  // Adds to `writes` a delete of every cell the last run of (app, day) wrote that this one did
  // not (`written`: encoded keys, sorted). See day_cell_keys.h.
  Status DeleteStaleCells(const std::string& app, int64_t day_ms,
                          const std::vector<std::string>& written, serve::WriteSet* writes,
                          BatchRunResult* result);
  void Schedule();

  const std::string root_;
  archive::Archiver* const archiver_;
  serve::AggregateStore* const store_;
  Clock* const clock_;
  const BatchOptions options_;

  std::atomic<uint64_t> generation_{1};
  std::mutex run_mu_;                                 // one run at a time
  std::vector<std::unique_ptr<DayScratch>> scratch_;  // one per worker; guarded by run_mu_

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  bool paused_ = false;    // guarded by mu_
  std::thread scheduler_;

  std::atomic<uint64_t> runs_{0}, days_{0}, events_{0}, duplicates_{0}, stale_cells_{0},
      unchanged_days_{0}, errors_{0};
  std::atomic<int64_t> last_run_ms_{0};
};

}  // namespace vigil::batch
