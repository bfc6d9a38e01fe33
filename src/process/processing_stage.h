// ProcessingStage: the process stage's loop — raw log in, processed log out.
//
// For every record of the raw log it appends one record to the processed log, in the same batch
// record format (docs/log_format.md): the same header and events, where each crash and
// handled_exception event gains two fields — "processed" (ProcessedCrash::WriteTo: symbolicated
// frames, group, sentinel, missing ids) and "processing" ({"raw_offset", "at", "reprocessed"}).
// A record without such events is appended as a reference to its raw record (log/resolving_log.h),
// which the processed log's readers get in its place. Offsets are committed (consumer "process")
// only after the processed records are durable, and each processed record's dedup key is derived
// from its raw offset, so a restart after a crash re-appends nothing twice: the stage is
// restart-safe and idempotent.
//
// Fairness: each round visits every app (partition) with work, taking at most
// records_per_turn records from each, so one app's backlog (or slow symbolication) delays
// another app's events by at most one turn. Reprocessing work is sliced the same way and runs
// after the live records of a round.
//
// Reprocessing: Reprocess() queues raw records whose sentinel crashes should be processed again
// (after their symbols arrived). Their crash events — only the ones named — are appended again
// with "reprocessed": true; readers of the processed log let the latest record for an event id
// win. A raw record already deleted by retention is skipped and counted.
//
// Threads: one worker thread (Start/Stop); Reprocess, Notify and stats are safe from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/batch_record.h"
#include "common/clock.h"
#include "common/status.h"
#include "log/log_store.h"
#include "symbols/symbol_store.h"

namespace vigil::process {

struct ProcessingOptions {
  std::string consumer = "process";          // its offsets in the raw log
  size_t records_per_turn = 16;              // per app per turn; turns rotate over the apps
  size_t turns_per_round = 16;               // a round's output is appended (fsynced) at once
  size_t max_round_bytes = size_t{8} << 20;  // ... or fewer turns, when this much is output
  int64_t idle_wait_ms = 20;  // pause once caught up (records gather) or with nothing to do
  // Called on the committing thread after the offset of `app` is committed in the raw log; vigil
  // serve moves the raw-log commits of the processed log's readers up with it
  // (ResolvingLog::RefreshBase). Its errors are its own to report.
  std::function<void(const std::string& app)> on_committed;
};

// One raw record to process again, and which of its events.
struct ReprocessTarget {
  uint64_t raw_offset = 0;
  std::vector<std::string> event_ids;
};

struct ProcessingStats {
  uint64_t records = 0;          // raw records processed
  uint64_t crashes = 0;          // crash and handled_exception events processed
  uint64_t sentinel = 0;         // ... of which went to a sentinel group
  uint64_t reprocessed = 0;      // crash events processed again
  uint64_t reprocess_gone = 0;   // reprocess targets whose raw record no longer exists
  uint64_t corrupt_records = 0;  // raw records that did not decode (skipped, logged)
};

class ProcessingStage {
 public:
  // Pointers must outlive the stage.
  ProcessingStage(log::LogStore* raw, log::LogStore* processed, symbols::SymbolStore* symbols,
                  Clock* clock, ProcessingOptions options = {});
  ~ProcessingStage();  // Stop()

  void Start();
  // Finishes the round in progress (its records are made durable and committed), then joins.
  void Stop();

  // One round on the caller's thread (Start must not have been called): every app's next
  // records and one slice of reprocessing. Sets *did_work when anything was processed.
  Status RunRound(bool* did_work);
  // Commits the offsets of everything processed so far. The worker commits at most once a
  // second (re-appending after a crash is harmless: keys deduplicate) and when it stops.
  Status CommitOffsets(bool force);

  // Queues raw records of `app` to process again; crashes already queued and not yet taken
  // are not queued twice. Safe from any thread.
  void Reprocess(const std::string& app, std::vector<ReprocessTarget> targets);
  size_t pending_reprocess() const;
  // Wakes the worker (e.g. after an append to the raw log).
  void Notify();

  ProcessingStats stats() const;
  // Appends the stage's counters in Prometheus text format (vigil_process_*).
  void RenderMetrics(std::string* out) const;

 private:
  struct ReprocessJob {
    std::string app;
    std::deque<ReprocessTarget> targets;
    uint64_t id = 0;  // part of its records' dedup keys
  };
  struct Output {
    std::string_view partition;  // the round's partition list or its reprocessing job's app
    uint64_t dedup_key;
    uint32_t items;
    std::string payload;
  };

  void Run();
  // Builds the processed payload of one raw record into *out. `only` limits it to the named
  // events (reprocessing); false when the record does not decode.
  bool ProcessRecord(const std::string& app, const log::LogRecord& record,
                     const std::vector<std::string>* only, std::string* out);
  // Appends every output and waits until all are durable. The first failure is returned.
  Status AppendAll(std::vector<Output>* outputs);

  log::LogStore* const raw_;
  log::LogStore* const processed_;
  symbols::SymbolStore* const symbols_;
  Clock* const clock_;
  const ProcessingOptions options_;

  BatchRecord batch_;  // worker thread: ProcessRecord's decoded record, its room kept
  std::map<std::string, uint64_t> next_;       // worker thread: next raw offset per app
  std::map<std::string, uint64_t> committed_;  // worker thread: last committed per app
  int64_t last_commit_ms_ = 0;                 // worker thread
  size_t rotate_ = 0;                          // worker thread: where the next round starts
  bool backlog_ = false;                       // worker thread: the last round left records

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ReprocessJob> jobs_;  // guarded by mu_
  // "app/offset/event id" of every crash queued in jobs_ and not yet taken: queuing one again
  // (another symbol upload while it waits) adds nothing. Guarded by mu_.
  std::set<std::string> queued_;
  bool stopping_ = false;      // guarded by mu_
  bool notified_ = false;      // guarded by mu_
  uint64_t next_job_seq_ = 0;  // guarded by mu_
  std::thread worker_;

  std::atomic<uint64_t> records_{0}, crashes_{0}, sentinel_{0}, reprocessed_{0}, reprocess_gone_{0},
      corrupt_{0};
};

}  // namespace vigil::process
