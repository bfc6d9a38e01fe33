// Archiver: the archive stage — a consumer of the processed log that writes every event into
// part files by app and occurred hour (archive_layout.h), compacts them, and enforces retention.
//
// Why the processed log only: a processed record is its raw record plus, on crash events, the
// "processed" and "processing" fields; a record without crashes is a reference that reads as its
// raw record (log/resolving_log.h, which vigil serve gives the archiver). So the processed log
// alone makes the archive a complete source of truth (the raw event can be rebuilt from it) at
// half the storage of archiving both logs. Raw-log retention waits for this consumer's commits
// too (made through the resolving log), processed-log retention for its offsets ("archive").
//
// Flushes: rows gather in memory per (app, hour) and are written when flush_interval_ms has
// passed, or max_buffered_rows/bytes are reached, or on Sync/Stop. One flush of an app writes
// one part per hour touched, all named by the same processed-log range [first, end), and only
// then commits `end`. On open, parts that start at an app's committed offset and whose records
// the log still holds are the remains of a flush that crashed before its commit: they are
// deleted and that range is archived again, so no event is archived twice by a crash (and none
// is lost: the log keeps records until the commit).
//
// Compaction: once an hour has ended, and no flush has added a part to it, for compact_settle_ms,
// its parts are merged into one; of rows with the same event id the later delivery wins (parts in
// processed-log order), so a reprocessed crash replaces its first version and a resent event is
// kept once. An hour still open, or still getting late events (devices that were offline), that
// gathered compact_max_parts parts merges only its newest ones (back to a part bigger than all
// after it together), so that a busy hour is not rewritten whole every few flushes. The
// merged part is written before its inputs are deleted; a crash between leaves duplicates that the
// next compaction (and the batch layer's dedup) removes.
//
// Retention: day directories older than the app's retention (default 31 days) are deleted whole.
//
// Threads: one worker (Start/Stop). Sync, stats and RenderMetrics are safe from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "archive/part_file.h"
#include "common/clock.h"
#include "common/status.h"
#include "log/log_store.h"

namespace vigil::archive {

struct ArchiverOptions {
  std::string consumer = "archive";
  size_t records_per_turn = 256;
  int64_t flush_interval_ms = 5000;
  size_t max_buffered_rows = 500'000;
  size_t max_buffered_bytes = size_t{256} << 20;
  int64_t compact_settle_ms = 10 * 60 * 1000;  // after the hour's end and its last new part
  size_t compact_max_parts = 32;
  int64_t retention_days = 31;
  std::map<std::string, int64_t> app_retention_days;  // overrides per app id
  int64_t maintenance_interval_ms = 60 * 1000;        // compaction and retention
  int64_t idle_wait_ms = 50;
  // Flushes write the scan columns with LZ4's fast mode, to keep up with ingest; compaction
  // writes each hour's final part once, with LZ4HC, which reads as fast and is a fifth smaller
  // (part_file.h).
  PartCompression flush_compression = {.zstd_level = 3, .lz4_level = 0};
  PartCompression compact_compression = {.zstd_level = 3, .lz4_level = 6};
};

struct ArchiverStats {
  uint64_t rows_written = 0;   // rows written by flushes
  uint64_t parts_written = 0;  // parts written by flushes
  uint64_t flushes = 0;
  uint64_t compactions = 0;         // hours merged
  uint64_t duplicates_dropped = 0;  // rows dropped by compaction (same event id)
  uint64_t days_expired = 0;        // day directories deleted by retention
  uint64_t corrupt_records = 0;     // processed records that did not decode (skipped, logged)
  uint64_t corrupt_parts = 0;       // parts compaction could not read (left in place, logged)
  uint64_t errors = 0;              // failed flushes, compactions or deletions (retried)
};

class Archiver {
 public:
  // Removes the parts of flushes that never committed (see above). Pointers must outlive it.
  static Result<std::unique_ptr<Archiver>> Open(log::LogStore* processed, std::string root,
                                                Clock* clock, ArchiverOptions options = {});
  ~Archiver();  // Stop()

  void Start();
  // Flushes what is buffered (committing it), then joins the worker.
  void Stop();

  // Archives, on the worker, every record durable in the processed log at the time of the call
  // and flushes it; returns once that is committed (or failed, or timeout_ms passed). Without a
  // worker (Start not called) it does the work on the caller's thread. The batch layer calls it
  // before reading the archive.
  Status Sync(int64_t timeout_ms = 120'000);

  // One step on the caller's thread (tests; Start must not have been called): read a turn of
  // every app, flush if due. Sets *did_work when records were read.
  Status RunRound(bool* did_work);
  Status FlushAll();
  // Compaction and retention now. `force` compacts every hour with more than one part.
  Status RunMaintenance(bool force);

  ArchiverStats stats() const;
  // Rows in the archive of `app` (after compaction's dedup): what status calls events_archived.
  uint64_t archived_rows(const std::string& app) const;
  // Appends vigil_archive_* counters in Prometheus text format.
  void RenderMetrics(std::string* out) const;

 private:
  // One processed record kept until its rows are flushed: its rows view its payload and share
  // its context, encoded once.
  struct BufferedBatch {
    std::string payload;
    std::string context;
    ArchiveBatchContext views;
  };
  struct AppBuffer {
    uint64_t first = 0;                 // processed offset the buffered rows start at (= committed)
    uint64_t next = 0;                  // one past the last record read
    std::deque<BufferedBatch> batches;  // a deque: rows point into its elements
    // Rows by hour. A flush empties the vectors but keeps those it wrote, so that a steady
    // load does not grow (and fault in) them again every flush.
    std::map<int64_t, std::vector<ArchiveRowView>> hours;
    size_t rows = 0;
    size_t bytes = 0;
    // Its last flush failed (a full disk): nothing more is read into it until a flush succeeds,
    // so the retry writes the same parts, under the same names, over any it wrote before
    // failing. Reading on made the retry's parts cover more records under new names, and rows
    // the failed attempt had written were archived twice (the disk-full test caught it), while
    // the buffer grew for as long as the disk stayed full.
    bool flush_failed = false;
  };

  Archiver(log::LogStore* processed, std::string root, Clock* clock, ArchiverOptions options)
      : processed_(processed),
        root_(std::move(root)),
        clock_(clock),
        options_(std::move(options)) {}
  Status Recover();
  void Run();
  // Reads up to records_per_turn records of `app` into its buffer.
  Status ReadTurn(const log::PartitionInfo& partition, bool* did_work);
  Status FlushApp(const std::string& app, AppBuffer* buffer);
  Status CompactHour(const std::string& app, int64_t hour_ms, bool force, int64_t now_ms);
  Status EnforceRetention(int64_t now_ms);
  // Reads up to each app's end offset as of now, then flushes: Sync's work.
  Status DrainAndFlush();

  log::LogStore* const processed_;
  const std::string root_;
  Clock* const clock_;
  const ArchiverOptions options_;

  std::map<std::string, AppBuffer> buffers_;  // worker thread
  size_t buffered_rows_ = 0;                  // worker thread
  size_t buffered_bytes_ = 0;                 // worker thread
  int64_t last_flush_ms_ = 0;                 // worker thread
  int64_t last_maintenance_ms_ = 0;           // worker thread
  // Worker thread: when a flush last added a part to (app, hour), for hours written within
  // compact_settle_ms. After a restart it is empty, and an ended hour counts as quiet.
  std::map<std::pair<std::string, int64_t>, int64_t> hour_written_ms_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, uint64_t> archived_rows_;  // guarded by mu_
  bool stopping_ = false;                          // guarded by mu_
  bool running_ = false;                           // guarded by mu_
  uint64_t sync_requested_ = 0;                    // guarded by mu_
  uint64_t sync_done_ = 0;                         // guarded by mu_
  Status sync_status_;                             // guarded by mu_
  std::thread worker_;

  std::atomic<uint64_t> rows_written_{0}, parts_written_{0}, flushes_{0}, compactions_{0},
      duplicates_dropped_{0}, days_expired_{0}, corrupt_records_{0}, corrupt_parts_{0}, errors_{0};
};

}  // namespace vigil::archive
