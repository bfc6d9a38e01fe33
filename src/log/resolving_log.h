// ResolvingLog: a log whose records may stand for records of another log, as its readers see it.
//
// Why: the processed log repeats most raw records unchanged (a batch without crashes). Copying
// them made the processed log as large as the raw one, written and fsynced a second time by a
// background stage. Such a record is now a reference (12 bytes, below) to its raw record, and a
// reader of the processed log gets the raw record's payload in its place.
//
// Reference payload: "VR", u8 version (1), u8 reserved (0), u64 little-endian offset of the
// record in the base log, same partition. Nothing else starts with "VR" (batch records start with
// "VB").
//
// Reads: Read() returns the records of `log` with each reference replaced by the payload of the
// base record it names (one Read of the base log per call in the common case). A reference whose
// base record is gone (retention, a damaged base log) is returned as is, counted in
// unresolved_references(), so that a reader's decoder rejects it like any damaged record instead
// of the whole read failing.
//
// Retention: a reader that commits an offset here also commits, in the base log and under the
// same consumer name, the base offset below which it needs nothing any more: the least base offset
// named by a reference among the next kLookAhead records from its offset; if the log ends before,
// no more than the base offset that `writer_consumer` (the stage writing the references) has
// committed, read first, since whatever the writer appends later names that or above. A writer
// appends references in base order and, after a crash, again from its commit: so a reference
// further on that names less is a replay of one the reader read before its offset, and if its
// base record is gone by then, the reader skips a duplicate. With no reference within reach and
// no end, the base commit stays where it was. Base-log retention must list these consumers (vigil
// serve lists archive and speed next to process). The log's own offset is committed first, so a
// crash in between only keeps more of the base log.
//
// A reader that reached the end commits no further than the writer's commit, which lags (the
// processing stage commits once a second); a reader that then goes idle would never commit
// again, and the base log would keep those segments until the app sends more. So whenever the
// writer commits, RefreshBase recomputes each reader's base commit from its commit here. Base
// commits only move forward and are made one at a time, so a reader's commit racing a refresh
// cannot leave the older of the two.
//
// Ownership: borrows both logs, which must outlive it. Thread-safety: as LogStore (any thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "log/log_store.h"

namespace vigil::log {

inline constexpr size_t kReferenceSize = 12;
std::string EncodeReference(uint64_t base_offset);
// True, with *base_offset set, if `payload` is a reference.
bool DecodeReference(std::string_view payload, uint64_t* base_offset);

class ResolvingLog : public LogStore {
 public:
  ResolvingLog(LogStore* log, LogStore* base, std::string writer_consumer)
      : log_(log), base_(base), writer_consumer_(std::move(writer_consumer)) {}

  Status Append(std::string_view partition, uint64_t dedup_key, uint32_t item_count,
                std::string payload, AppendCallback done) override {
    return log_->Append(partition, dedup_key, item_count, std::move(payload), std::move(done));
  }
  Status AppendMany(std::vector<AppendRequest>* requests, size_t* queued) override {
    return log_->AppendMany(requests, queued);
  }
  Status Read(std::string_view partition, uint64_t from, size_t max_records,
              std::vector<LogRecord>* out) override;
  Status CommitOffset(std::string_view consumer, std::string_view partition,
                      uint64_t next_offset) override;
  // Moves `consumer`'s base commit in `partition` up to what its commit in this log allows now
  // (no further than the writer's commit). Call it after the writer commits. Any thread.
  Status RefreshBase(std::string_view consumer, std::string_view partition);
  Result<uint64_t> CommittedOffset(std::string_view consumer, std::string_view partition) override {
    return log_->CommittedOffset(consumer, partition);
  }
  std::vector<PartitionInfo> Partitions() override { return log_->Partitions(); }
  std::vector<std::string> Consumers(std::string_view partition) override {
    return log_->Consumers(partition);
  }
  Status Writable() override { return log_->Writable(); }

  uint64_t unresolved_references() const { return unresolved_.load(std::memory_order_relaxed); }
  // Appends vigil_log_unresolved_references_total in Prometheus text format.
  void RenderMetrics(std::string* out) const;

  // How far CommitOffset reads ahead for a reference or the end of the log.
  static constexpr size_t kLookAhead = 256;

 private:
  // The base offset below which a reader at `next` in `partition` needs nothing; false when
  // kLookAhead records hold no reference and do not reach the end.
  Result<bool> NeededBase(std::string_view partition, uint64_t next, uint64_t* base);
  // Commits NeededBase(partition, next) for `consumer` in the base log if that is further.
  Status CommitBase(std::string_view consumer, std::string_view partition, uint64_t next);

  LogStore* const log_;
  LogStore* const base_;
  const std::string writer_consumer_;
  std::mutex base_mu_;  // one base commit at a time: compute, compare and commit together
  std::atomic<uint64_t> unresolved_{0};
};

}  // namespace vigil::log
