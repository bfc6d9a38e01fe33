// Partition: one app's sequence of records in LocalLog — its segment files, the offset index,
// the dedup window, crash recovery and retention.
//
// Files: <log dir>/<partition>/<base offset, 20 digits>.seg, the sealed ones each with a
// <base>.summary, plus consumers/ (consumer_offsets.h).
//
// Recovery (Open, writable mode): a sealed segment with a valid summary (segment_summary.h,
// written when it was sealed) is not read: its summary gives the sparse index, the counts and
// the dedup keys. Every other segment is scanned, and a sealed one gets its summary then (a
// log from before summaries, or a crash just after a seal). In the last one, the writer's zero
// tail (segment_writer.h) or the first record that is torn or fails its CRC ends the valid data
// and the file is truncated there (the bytes cut are kept in <segment>.corrupt-<position> when
// they held a complete but damaged record).
// Nothing acknowledged is lost by this: a record is acknowledged only after its fsync, so only
// unacknowledged writes can be torn. A last segment too short to hold its header (a crash while
// rolling) is removed. Damage in an earlier, sealed segment stops reading at that point and is
// reported, but the file is left as it is.
//
// Page cache: a record is read soon after it is written (by processing, then through references
// by the stages behind it) and seldom again, so once every consumer has committed past it its
// cached pages are dropped (DropCachedPages). The files stay until retention deletes them; a
// late reader (log dump, a replay) reads them from disk. Without this the log fills the page
// cache with pages read once or twice, which then push out pages that are read again (the
// archive's parts, the aggregates), and every page it writes is a newly allocated one: on a VM
// whose free memory goes back to the host (virtio-balloon free page reporting) a new page cost
// ~9 µs of the writer's CPU here, against ~0.6 µs for a page just freed (3 GB written: 7.3 s of
// system time against 0.5 s).
//
// Spare segment: when the active segment will be full within kSpareLeadSeconds at the rate it is
// written, WantsSpare asks for the next one to be written as zeros ahead of time, off the writer
// thread (PrepareSpare: the file "spare" in the partition's directory), and the roll renames it
// into place (segment_writer.h, "Spares", says why). A partition written slowly has none: its
// segments are extended as they fill. Nor does a disk with less than kSpareRoomFactor spares'
// worth of space free, and a failed round (a full disk) deletes a ready spare, so that its space
// goes to records. Recovery removes a spare a crash left behind; it never held a
// record.
//
// Threads: Stage/Commit/WantsSpare are called by LocalLog's single writer thread; ApplyRetention
// by its retention thread (it takes mu_, and never deletes the last segment: a roll writes the
// summary of the segment it seals before the next segment exists); PrepareSpare by one other
// thread at a time; Read, Info and DropCachedPages from any thread (they take mu_; concurrent
// DropCachedPages calls each claim a different range of pages under it).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "log/dedup_table.h"
#include "log/log_store.h"
#include "log/segment_summary.h"
#include "log/segment_writer.h"

namespace vigil::log {

struct PartitionOptions {
  uint64_t segment_bytes = 64ull << 20;
  int64_t dedup_window_ms = 25 * 3600 * 1000LL;
  bool read_only = false;  // for tools reading a live log: no truncation, no writes
  // Called by Open after each segment it scanned, with the bytes read (recovery progress);
  // never after Open returns.
  std::function<void(uint64_t bytes)> on_segment_scanned;
};

class Partition {
 public:
  static Result<std::unique_ptr<Partition>> Open(const std::string& dir, std::string name,
                                                 const PartitionOptions& options, Clock* clock);

  const std::string& name() const { return name_; }
  const std::string& dir() const { return dir_; }

  // Keys in the dedup table: those in the window, and those past it that its sweep has not
  // reached yet (dedup_table.h). Writer thread, or before the writer starts.
  size_t dedup_keys() const { return dedup_.size(); }

  // --- writer thread ---
  // If `key` (non-zero) was appended within the dedup window, its original offset.
  bool FindDuplicate(uint64_t key, uint64_t* offset) const;
  // Encodes a record at the next offset into the pending buffer and returns its offset.
  uint64_t Stage(uint64_t key, uint32_t item_count, std::string_view payload, int64_t now_ms);
  // Writes and fsyncs everything staged, then publishes the new end offset to readers. On failure
  // the round is cut from the file, nothing staged becomes visible, and its offsets are reused.
  Status Commit();
  bool has_staged() const { return !staged_.empty(); }
  size_t staged_count() const { return staged_records_.size(); }
  // Deletes sealed segments created before `cutoff_ms` whose records all lie below `min_offset`.
  // A deleted segment's summary stays while its records are in the dedup window (see
  // kept_summaries_); those that left it are deleted.
  Status ApplyRetention(int64_t cutoff_ms, uint64_t min_offset);
  // After a commit: whether the next segment's spare should be prepared now. True at most once
  // until that spare is used (or its preparation failed); the caller then has PrepareSpare run.
  bool WantsSpare();

  // --- the spare's preparer (one thread at a time) ---
  // Writes the spare WantsSpare asked for. `stop`, once set, ends it early (Unavailable); with
  // too little free space it writes nothing (TooLarge). On failure the next roll extends its
  // segment as it fills, and WantsSpare asks again after kSpareRetryMs.
  Status PrepareSpare(const std::atomic<bool>* stop);

  // --- any thread ---
  Status Read(uint64_t from, size_t max_records, std::vector<LogRecord>* out) const;
  // Drops the cached pages of records below `min_offset` (every consumer has committed past
  // them) that earlier calls have not dropped; returns the bytes newly dropped. Best effort: a
  // failure only leaves pages cached.
  uint64_t DropCachedPages(uint64_t min_offset);
  PartitionInfo Info() const;

 private:
  struct Segment {
    uint64_t base_offset;
    int64_t created_ms;
    std::string path;
    uint64_t bytes;
    uint64_t items = 0;    // sum of the records' item counts (events)
    uint64_t records = 0;  // records readable in it
    // (offset, file position) every ~1 MiB, for seeking.
    std::vector<std::pair<uint64_t, uint64_t>> index;
    uint64_t uncached = 0;  // the file's pages before this position were dropped from the cache
    int64_t last_append_ms = 0;  // the newest append time among its records
  };

  Partition(std::string dir, std::string name, PartitionOptions options, Clock* clock)
      : dir_(std::move(dir)), name_(std::move(name)), options_(options), clock_(clock) {}
  Status Recover();
  // Recovery of sealed segment `path` from its summary, if it has a valid one: false if not.
  // `next_base`: the next segment's base offset.
  bool RecoverFromSummary(uint64_t base, const std::string& path, uint64_t next_base,
                          int64_t dedup_since);
  // What a summary of `seg` says but its keys and file size (mu_ held, or before the writer
  // starts).
  static SegmentSummary SummaryOf(const Segment& seg);
  // Writes the summary `s` (with `keys`; s.file_size set) of the sealed segment at `path`, best
  // effort: without one, the next recovery reads the segment.
  void WriteSummary(SegmentSummary s, const std::string& path, const SummaryKeys& keys);
  // For retention about to delete sealed segment `seg` while its records are in the dedup
  // window (since `keys_since`): makes sure its summary is whole (ResummarizeForDeletion if not)
  // and durable. The error if it cannot.
  Status KeepSummary(const Segment& seg, int64_t keys_since);
  // Writes the summary of sealed segment `seg` again from its records, for retention about to
  // delete it while its keys are in the dedup window and its summary is missing or damaged.
  // Records it can no longer read (damaged since) are left out, with a warning.
  Status ResummarizeForDeletion(const Segment& seg);
  Status RollSegment(int64_t now_ms);
  // After a failed round (a full disk, most likely): deletes a ready spare, so that its space
  // goes to records when the round is retried, and asks for none for kSpareRetryMs.
  void ReleaseSpare();
  // Counts `bytes` just committed into the append rate WantsSpare judges by (monotonic clock).
  void NoteCommitted(uint64_t bytes);
  std::string SparePath() const { return dir_ + "/spare"; }
  int64_t MonotonicMs() const { return clock_->MonotonicNs() / 1000000; }
  // Forgets the staged records after a failed round (offsets and dedup keys are reused).
  void DropStaged();
  // Adds `key` to the dedup window (none with a window of 0).
  void RememberKey(uint64_t key, uint64_t offset, int64_t time_ms);
  // RememberKey of each of a summary's keys added at or after `since_ms`.
  void RememberKeys(const SegmentSummary& s, int64_t since_ms);
  std::string SegmentPath(uint64_t base) const;
  // One past the last offset readers take from segments_[i] (mu_ held): the durable end (past
  // it lie records being written, then the zero tail), or before it the next segment's base
  // (past which a segment holds only bytes of a failed round, see Recover).
  uint64_t SegmentEnd(size_t i) const;

  const std::string dir_;
  const std::string name_;
  PartitionOptions options_;  // const after Open (which clears on_segment_scanned)
  Clock* const clock_;

  // Writer thread only.
  std::unique_ptr<SegmentWriter> active_;
  // A failed round's bytes that could not be cut from the last segment (`size`: where its
  // records end); Commit cuts them before it writes or rolls again, and fails until it can.
  struct Uncut {
    std::string path;
    uint64_t size;
  };
  std::optional<Uncut> uncut_;
  // The dedup keys of the active segment's committed records, for its summary when it is
  // sealed.
  SummaryKeys active_keys_{0, 0};
  std::string staged_;
  struct StagedRecord {
    uint64_t offset;
    uint64_t key;
    uint64_t buffer_pos;  // start of the record in staged_
    int64_t time_ms;
    uint32_t items;
  };
  std::vector<StagedRecord> staged_records_;
  uint64_t next_offset_ = 0;  // including staged records
  DedupTable dedup_;          // empty with a dedup window of 0 (off)
  // Bytes committed in the one-second window starting at window_start_ms_ (monotonic ms), and
  // in the window before it (0 if that was not the one just before).
  int64_t window_start_ms_ = 0;
  uint64_t window_bytes_ = 0;
  uint64_t last_window_bytes_ = 0;

  // Spare: a segment is wanted within this much time at the current rate. At 100 MB/s a 64 MiB
  // spare took ~0.1 s to write here; the lead leaves room for a slower disk or a busier one.
  static constexpr int64_t kSpareLeadSeconds = 30;
  static constexpr int64_t kSpareRetryMs = 10 * 1000;
  // A spare is written only while the disk has this many times its size free (TooLarge else).
  static constexpr uint64_t kSpareRoomFactor = 4;
  enum class SpareState { kNone, kWanted, kReady };
  std::mutex spare_mu_;
  SpareState spare_ = SpareState::kNone;  // guarded by spare_mu_
  // Guarded by spare_mu_: no spare is wanted before this (monotonic ms), set kSpareRetryMs after
  // a spare failed to be written or used, or ReleaseSpare deleted one.
  int64_t spare_retry_ms_ = 0;

  // Where recent reads stopped: (segment base, next offset, file position). A consumer that
  // follows the tail reads from where it stopped, so its next Read starts there instead of at
  // the sparse index entry up to 1 MiB before it (and does not re-read what lies between).
  struct ReadHint {
    uint64_t segment_base = UINT64_MAX;
    uint64_t offset = 0;
    uint64_t position = 0;
  };
  static constexpr size_t kReadHints = 8;

  mutable std::mutex mu_;
  std::vector<Segment> segments_;  // guarded by mu_
  // Summaries of segments retention deleted while their records were still in the dedup window,
  // kept for their keys until they leave it (newest append ms, path), in deletion order:
  // without them a restart would forget those keys and take a retried batch again.
  std::deque<std::pair<int64_t, std::string>> kept_summaries_;  // guarded by mu_
  uint64_t end_offset_ = 0;             // guarded by mu_: one past the last durable record
  mutable ReadHint hints_[kReadHints];  // guarded by mu_
  mutable size_t next_hint_ = 0;        // guarded by mu_: the slot to overwrite next
  uint64_t dedup_keys_shown_ = 0;       // guarded by mu_: dedup_.size() as of the last round
  uint64_t dedup_bytes_shown_ = 0;      // guarded by mu_: and its memory_bytes()
  uint64_t rolls_ = 0;                  // guarded by mu_
  uint64_t rolls_into_spare_ = 0;       // guarded by mu_
};

}  // namespace vigil::log
