// SpeedLayer: the streaming half of the Lambda architecture — the aggregation library run over
// the processed log in micro-batches, so an accepted event shows in the API within a second.
//
// Each micro-batch (at most max_batch_ms of reading, usually far less) takes every app's new
// processed records, aggregates them (aggregate::Aggregator, minute base), merges the deltas into
// its cells and writes the touched cells whole, together with its log offsets and per-app event
// counts, in one atomic store write. After a crash (kill -9) the store holds the cells and the
// offsets of the same last micro-batch, so it resumes exactly where its cells end: no event
// counted twice or lost by a restart.
//
// Window: minute cells for the last 2 h, hour and day cells for events that occurred within the
// last 48 h. Older events are left to the batch layer and counted as late; events more than an
// hour in the future are counted and skipped. Cells past the window are dropped from memory and
// swept from the store.
//
// Crashes processed again after their symbols arrived are not counted a second time. Speed marks
// every crash it counts in a sentinel group (store metadata, written with the micro-batch); when
// the crash comes back processed again into another group, it is counted in that group and as
// moved out of the sentinel one (aggregate::Aggregator::AddRegroupedCrash), so crash groups follow
// reprocessing within a second. Without a mark (already moved, or never counted) it is skipped.
//
// Counts are of deliveries: an event an SDK resent in a new batch counts twice here until batch
// recomputes its day from the deduplicated archive.
//
// Threads: one worker (Start/Stop); stats and metrics are safe from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "aggregate/aggregator.h"
#include "common/clock.h"
#include "log/log_store.h"
#include "serve/aggregate_store.h"

namespace vigil::speed {

struct SpeedOptions {
  std::string consumer = "speed";
  int64_t window_ms = 48 * kHourMs;
  int64_t minute_window_ms = 2 * kHourMs;
  int64_t future_ms = kHourMs;
  size_t records_per_turn = 256;
  int64_t max_batch_ms = 1000;  // a micro-batch stops reading after this long
  int64_t idle_wait_ms = 20;
  // Micro-batches start at most this often. Each one rewrites every cell it touched, a cost per
  // micro-batch rather than per event: back to back under load they took ~150 us of CPU per
  // 20-event request; spaced they share it, and events still show within a second.
  int64_t min_batch_interval_ms = 250;
  // Under load they are spaced further: the next starts no sooner than batch_spacing times what
  // the last one took (its wall time, so a busy machine stretches it too). The cells a
  // micro-batch touches grow much slower than its events, so a longer one costs little more. At
  // half the ingest peak on the 2-core VM (~470k events/s), 250 ms micro-batches rewrote 47k
  // cells/s and took 28-31 % of a core; 1 s ones 11-14 %.
  int64_t batch_spacing = 4;
  // But no further than keeps freshness: an event that just missed a micro-batch waits for the
  // next one's start and end, so the next starts at most freshness_budget_ms minus what the last
  // took after the last began. (Spaced up to 2 s instead, loadgen's mix at 1000 batches/s, 64k
  // cells and ~0.5 s a micro-batch, made bench/freshness's p99 2.0 s against its 1 s target.)
  int64_t freshness_budget_ms = 900;
  int64_t sweep_interval_ms = 10 * 60 * 1000;
  // Speed resumes from the offsets in its store. This often a micro-batch's store write is also
  // synced and its offsets committed in the log (consumer `consumer`), which log retention waits
  // for: without it neither the processed log nor, through its references, the raw log would
  // ever be deleted. Once idle, the offsets of its last micro-batches are committed as well.
  int64_t log_commit_interval_ms = 10'000;
};

// How long after a micro-batch that took `took_ms` (wall time) began the next may begin:
// batch_spacing times `took_ms`, at most freshness_budget_ms - `took_ms`, at least
// min_batch_interval_ms.
int64_t MicroBatchInterval(const SpeedOptions& options, int64_t took_ms);

struct SpeedStats {
  uint64_t events = 0;       // events aggregated
  uint64_t late = 0;         // older than the window: left to batch
  uint64_t future = 0;       // more than future_ms ahead: skipped
  uint64_t reprocessed = 0;  // crash events processed again: not counted twice
  uint64_t regrouped = 0;    // ... of which moved from a sentinel group to their group
  uint64_t micro_batches = 0;
  uint64_t cells_written = 0;
  uint64_t corrupt_records = 0;
  uint64_t errors = 0;
};

class SpeedLayer {
 public:
  // Reads its offsets and event counts from the store. Pointers must outlive it.
  static Result<std::unique_ptr<SpeedLayer>> Open(log::LogStore* processed,
                                                  serve::AggregateStore* store, Clock* clock,
                                                  SpeedOptions options = {});
  ~SpeedLayer();  // Stop()

  void Start();
  void Stop();
  void Notify();

  // One micro-batch on the caller's thread (tests; Start must not have been called).
  Status RunMicroBatch(bool* did_work);
  // Drops cells past the window from memory and the store.
  Status Sweep();
  // What the worker does when a micro-batch found nothing (tests call it): once per
  // log_commit_interval_ms, syncs the offsets of the micro-batches not yet committed in the log
  // and commits them there, so that a speed layer gone idle does not hold back log retention.
  Status CommitWhileIdle();

  SpeedStats stats() const;
  // Events of `app` aggregated so far (survives restarts).
  uint64_t events_processed(const std::string& app) const;
  // How far behind the processed log speed is: 0 when caught up, else the age of the oldest
  // record not yet aggregated (ms), as the last micro-batch left it (for /metrics).
  int64_t lag_ms() const { return lag_ms_.load(); }
  // The same for `app`, now: 0 when every record of the app in the processed log is
  // aggregated, else the age of the oldest that is not (at least 1 ms). Reads one record.
  int64_t lag_ms(const std::string& app) const;
  void RenderMetrics(std::string* out) const;

 private:
  // Commits next_ in the log for the apps whose commit there is behind; the store must hold
  // next_ durably (a synced Apply) before. Errors are logged and retried at the next call.
  void CommitToLog(int64_t now_ms);
  SpeedLayer(log::LogStore* processed, serve::AggregateStore* store, Clock* clock,
             SpeedOptions options)
      : processed_(processed), store_(store), clock_(clock), options_(std::move(options)) {}
  Status Load();
  void Run();
  // The cell in memory, loaded from the store on first touch.
  Result<aggregate::RollupCell*> StateCell(const aggregate::RollupKey& key);
  // The sentinel group speed counted the crash in ("" if none): `pending` (this micro-batch's
  // marks, "" for removed) first, then the store.
  Result<std::string> SentinelGroupOf(std::string_view app, std::string_view event_id,
                                      const std::map<std::string, std::string>* pending);

  log::LogStore* const processed_;
  serve::AggregateStore* const store_;
  Clock* const clock_;
  const SpeedOptions options_;

  aggregate::RollupMap state_;            // worker thread
  std::map<std::string, uint64_t> next_;  // worker thread: next processed offset per app
  int64_t last_sweep_ms_ = 0;             // worker thread
  int64_t last_log_commit_ms_ = 0;        // worker thread
  std::map<std::string, uint64_t>
      log_committed_;  // worker thread: last offsets committed in the log

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, uint64_t> events_;  // guarded by mu_
  // next_ as written to the store with events_: what lag_ms(app) measures from.
  std::map<std::string, uint64_t> aggregated_to_;  // guarded by mu_
  bool stopping_ = false;                          // guarded by mu_
  bool notified_ = false;                          // guarded by mu_
  std::thread worker_;

  std::atomic<int64_t> lag_ms_{0};
  std::atomic<uint64_t> events_total_{0}, late_{0}, future_{0}, reprocessed_{0}, regrouped_{0},
      micro_batches_{0}, cells_written_{0}, corrupt_{0}, errors_{0};
};

}  // namespace vigil::speed
