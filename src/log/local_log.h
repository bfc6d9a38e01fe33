// LocalLog: the embedded LogStore — one directory of partitions on local disk, one writer thread
// that commits in groups.
//
// Group commit: Append only queues. The writer thread takes everything queued, stages it into
// each partition, then writes and fsyncs each touched partition once, and only then runs the
// callbacks. While it syncs, new appends queue up for the next round, so one fsync covers every
// batch that arrived meanwhile and durability does not cap throughput.
//
// Backpressure: Append fails fast with Unavailable once the queued bytes exceed
// max_backlog_bytes, or once one partition's would exceed max_partition_backlog_bytes: while the
// disk stalls, one app's flood cannot take the whole backlog, and the other apps' batches are
// still taken. A round that fails to write (disk full) fails its appends; each round tries again.
//
// Writability (Writable, behind /readyz): the last round's outcome. After a failure, a writer
// with nothing to write probes the disk once a second (ProbeWritable) and reports writable again
// when the probe passes, so that an instance a load balancer took out of rotation for a full
// disk comes back once space is freed, without traffic to retry on. Failed rounds are logged to
// stderr at most once per 10 s (common/rate_limited_log.h).
//
// Retention: every retention_check_ms a retention thread (the process's priority, so that a
// saturated machine still frees its disk) deletes sealed segments older than retention_ms whose
// records every consumer in retention_consumers has committed past. With no consumers listed
// nothing is ever deleted: unconsumed data is never thrown away. Not the writer's work: unlinking
// a 64 MiB segment took ~24 ms here, and every acknowledgement would have waited for it (a
// minute of a 140 MB/s peak is 130 segments: 3 s).
// Disk reserve: the stages behind a log need disk to drain it (the processed log, the archive's
// parts, the aggregates' RocksDB), and retention frees a segment only once they have passed it.
// Were ingest to take the last byte, they would stop, and so would retention: the disk would
// stay full. So appends are refused (Unavailable, /readyz not ready) while the log's filesystem
// has less than min_free_bytes free (the raw log's), and while it has less than
// pressure_free_bytes the retention thread (which then looks every kPressureCheckMs) deletes
// every sealed segment its consumers have passed, however young: the archive holds their
// events. The free space is read (statvfs) by the writer at most every kFreeCheckMs.
//
// Page cache: every drop_cache_ms a background thread (at the stages' priority) drops the cached
// pages of records those consumers have all committed past (Partition::DropCachedPages says
// why). It is not the writer's work: dropping a second's worth of pages took the writer 10-50 ms,
// and every acknowledgement waited (p99 at half the peak 6.5 -> 60 ms).
//
// Spare segments: a partition that fills its segments fast has the next one written ahead of
// time (Partition's "Spare segment") by the log's spare thread (one per log, at the process's
// priority like the writer, as its work is writes and syncs), so that neither the writer nor an
// acknowledgement waits on those zeros.
//
// Priority: the writer thread keeps the process's priority even when only background stages
// append (the processed log). Its work is a write and an fdatasync; at SCHED_IDLE the fdatasync
// ran with the CPUs busy and held up the other log's fdatasyncs, which the collector's answers
// wait on (at 18k req/s, p99 4.6-6.9 ms against 3.8-4.8 ms at normal priority).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/rate_limited_log.h"
#include "common/string_hash.h"
#include "log/log_store.h"
#include "log/partition.h"

namespace vigil::log {

struct LocalLogOptions {
  PartitionOptions partition;
  uint64_t max_backlog_bytes = 64ull << 20;
  // The most one partition may have queued, unless it has nothing queued (a record larger than
  // this still goes alone). 0: no bound of its own. vigil serve sets 3/4 of max_backlog_bytes
  // for the raw log, so that one app's flood leaves room for the others while the disk stalls;
  // not for the processed log, whose rounds are one stage's output.
  uint64_t max_partition_backlog_bytes = 0;
  int64_t retention_ms = 7 * 24 * 3600 * 1000LL;
  std::vector<std::string> retention_consumers;
  int64_t retention_check_ms = 60 * 1000;
  int64_t drop_cache_ms = 1000;  // 0: never drop cached pages
  // Disk reserve (see "Disk reserve" above); 0 turns each off.
  uint64_t min_free_bytes = 0;
  uint64_t pressure_free_bytes = 0;
  // Called by the writer thread after each partition commit: fsync duration and records synced.
  std::function<void(int64_t sync_ns, size_t records)> on_commit;
  // Called by the writer thread after each wait for appends: how long it waited, and when it
  // stopped waiting (the clock's MonotonicNs). The raw log's feeds common/ingest_burst.h.
  std::function<void(int64_t waited_ns, int64_t now_ns)> on_writer_wait;
};

inline constexpr int64_t kFreeCheckMs = 100;
inline constexpr int64_t kPressureCheckMs = 5000;
inline constexpr uint64_t kProbeFreeBytes = uint64_t{4} << 20;
inline constexpr int64_t kProbeIntervalMs = 1000;
// Recovery prints its progress this often, once it has taken this long.
inline constexpr int64_t kRecoveryProgressNs = 3'000'000'000;

// Partition names are 1–kMaxPartitionName characters of [A-Za-z0-9_-].
inline constexpr size_t kMaxPartitionName = 64;
bool IsValidPartitionName(std::string_view name);

class LocalLog : public LogStore {
 public:
  // Recovers every partition under `dir` (creating `dir` if needed) and starts the writer.
  static Result<std::unique_ptr<LocalLog>> Open(const std::string& dir, LocalLogOptions options,
                                                Clock* clock);
  // For tools reading a log a server may be writing: no recovery writes, no writer thread;
  // Append fails. Sees the records durable at open time.
  static Result<std::unique_ptr<LocalLog>> OpenReadOnly(const std::string& dir, Clock* clock);

  // Drains queued appends (their callbacks run), then stops the writer.
  ~LocalLog() override;

  Status Append(std::string_view partition, uint64_t dedup_key, uint32_t item_count,
                std::string payload, AppendCallback done) override;
  Status AppendMany(std::vector<AppendRequest>* requests, size_t* queued) override;
  Status Read(std::string_view partition, uint64_t from, size_t max_records,
              std::vector<LogRecord>* out) override;
  Status CommitOffset(std::string_view consumer, std::string_view partition,
                      uint64_t next_offset) override;
  Result<uint64_t> CommittedOffset(std::string_view consumer, std::string_view partition) override;
  std::vector<PartitionInfo> Partitions() override;
  std::vector<std::string> Consumers(std::string_view partition) override;
  Status Writable() override;

  uint64_t backlog_bytes() const;
  // Runs retention now (normally periodic); for tests and tools.
  Status RunRetention();
  // Drops the cached pages of consumed records now (normally periodic); returns the bytes.
  uint64_t DropConsumedPages();

 private:
  // A queued append. The partition name is held inline: an app id is just over std::string's
  // small-string size, and this is one allocation less per batch.
  struct Pending {
    std::string_view partition() const { return {partition_name, partition_size}; }
    char partition_name[kMaxPartitionName];
    uint8_t partition_size;
    uint64_t dedup_key;
    uint32_t item_count;
    std::string payload;
    AppendCallback done;
  };

  LocalLog(std::string dir, LocalLogOptions options, Clock* clock, bool read_only)
      : dir_(std::move(dir)), options_(std::move(options)), clock_(clock), read_only_(read_only) {}
  Status LoadPartitions();
  // Whether the disk takes writes again after a failed round: kProbeFreeBytes free, and a page
  // written to a probe file in the log's directory, fdatasynced and removed. Writer thread.
  Status ProbeWritable();
  // Whether an append to `partition` may be queued at all (not read-only, a valid name, the
  // disk reserve kept).
  Status CheckAppend(std::string_view partition) const;
  // Reads the free space of the log's filesystem into free_bytes_ (UINT64_MAX if unknown).
  uint64_t RefreshFreeBytes();
  // Unavailable while the disk reserve is in use (free_bytes_ under min_free_bytes).
  Status CheckReserve() const;
  // Queues one append (its payload and callback moved out) unless stopping or over the
  // backlog bound. Requires queue_mu_.
  Status QueueLocked(std::string_view partition, uint64_t dedup_key, uint32_t item_count,
                     std::string* payload, AppendCallback* done);
  Result<Partition*> GetOrCreatePartition(std::string_view name);
  Partition* FindPartition(std::string_view name);
  // The least offset every consumer in retention_consumers has committed in `p`.
  uint64_t MinCommittedOffset(const Partition& p);
  std::vector<Partition*> AllPartitions();
  void WriterLoop();
  // Drops consumed pages every drop_cache_ms until stopping_.
  void DropperLoop();
  // Runs retention every retention_check_ms until stopping_.
  void RetentionLoop();
  // Runs `work` every interval_ms until the log stops (its threads' loop).
  void RunEvery(int64_t interval_ms, const std::function<void()>& work);
  void CommitRound(std::vector<Pending>* round);
  // Prepares the spare segments partitions asked for (Partition::WantsSpare) until stopping.
  void SpareLoop();

  const std::string dir_;
  const LocalLogOptions options_;
  Clock* const clock_;
  const bool read_only_;

  std::mutex partitions_mu_;
  std::map<std::string, std::unique_ptr<Partition>, std::less<>> partitions_;

  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  // Guarded by queue_mu_. The writer swaps it with its emptied round, so the two vectors' storage
  // is reused rather than allocated per round.
  std::vector<Pending> queue_;
  uint64_t queued_bytes_ = 0;                     // guarded by queue_mu_
  StringMap<uint64_t> queued_by_partition_;       // guarded by queue_mu_: queued_bytes_ by name
  bool stopping_ = false;                         // guarded by queue_mu_
  Status last_write_status_;                      // guarded by queue_mu_
  int64_t last_probe_ms_ = 0;                     // writer thread: when ProbeWritable last ran
  int64_t last_free_check_ms_ = 0;                // writer thread: RefreshFreeBytes
  std::atomic<uint64_t> free_bytes_{UINT64_MAX};  // the last RefreshFreeBytes
  RateLimitedLog pressure_log_{60'000};           // retention thread: early deletions
  RateLimitedLog failure_log_;                    // writer thread: failed commits
  std::thread writer_;
  // With queue_mu_: stopping_, for the dropper and the retention thread.
  std::condition_variable drop_cv_;
  std::thread dropper_;    // only with drop_cache_ms and retention_consumers
  std::thread retention_;  // only with retention_consumers

  // Committed offsets as last read or written, per partition, so that /metrics (on an HTTP
  // loop), the dropper (every second) and retention read no file per partition and consumer.
  // A server's consumers commit through this log only, so its files change only through
  // CommitOffset. Not used read-only: a tool reads the files a server is writing.
  struct KnownOffsets {
    bool listed = false;                                   // consumers holds the directory's too
    std::map<std::string, uint64_t, std::less<>> offsets;  // by consumer (0: never committed)
    std::set<std::string, std::less<>> consumers;          // those with an offset file
  };
  // The partition's entry of known_offsets_, made empty if it has none (offsets_mu_ held).
  KnownOffsets& KnownLocked(std::string_view partition);
  std::mutex offsets_mu_;
  std::map<std::string, KnownOffsets, std::less<>> known_offsets_;  // guarded by offsets_mu_

  std::mutex spare_mu_;
  std::condition_variable spare_cv_;
  std::vector<Partition*> spares_wanted_;  // guarded by spare_mu_
  std::atomic<bool> spare_stop_{false};    // set (with spare_mu_ held) to stop SpareLoop
  std::thread spare_preparer_;             // not in read-only mode
};

}  // namespace vigil::log
