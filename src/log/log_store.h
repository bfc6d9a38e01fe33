// LogStore: the durable, ordered, partitioned log between stages — the only log API stages see.
//
// The embedded implementation is LocalLog (segment files on local disk); a NATS JetStream backend
// implements the same interface for scale-out. Nothing above this interface may depend on files.
//
// Model: a log holds partitions (one per app), each an append-only sequence of records numbered by
// offset from 0. Appends are idempotent by key: a record whose non-zero `dedup_key` was already
// appended to the same partition within the dedup window is not appended again (JetStream's
// Nats-Msg-Id duplicate window gives the same guarantee). Consumers are named; each commits, per
// partition, the next offset it wants, durably, and resumes there after a restart.
//
// Thread-safety: every method is safe from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vigil::log {

struct AppendResult {
  // Offset of the record (of the original, for a duplicate: exact unless 2^32 records came
  // after it, log/dedup_table.h).
  uint64_t offset = 0;
  bool duplicate = false;  // the key was already in the log: nothing was appended
};

// Called exactly once per accepted Append, on a log thread, after the record is durable (fsynced)
// or the append failed. Must not block: hand the result to the caller's own thread.
using AppendCallback = std::function<void(const Status& status, const AppendResult& result)>;

// One record for AppendMany: Append's arguments.
struct AppendRequest {
  std::string partition;
  uint64_t dedup_key = 0;
  uint32_t item_count = 0;
  std::string payload;
  AppendCallback done;
};

struct LogRecord {
  uint64_t offset = 0;
  int64_t append_time_ms = 0;
  uint64_t dedup_key = 0;
  uint32_t item_count = 0;  // events in the record (informational, for stats)
  std::string payload;
};

struct PartitionInfo {
  std::string name;
  uint64_t start_offset = 0;  // earliest retained record
  uint64_t end_offset = 0;    // one past the last durable record
  uint64_t bytes = 0;
  uint64_t segments = 0;
  uint64_t records = 0;  // retained records (readable ones: damage in a segment ends it)
  uint64_t items = 0;    // events in the retained records (sum of their item counts)
  // Local segments only (0 elsewhere): new segments since the log was opened, and how many of
  // them were spares written ahead of time (log/partition.h).
  uint64_t rolls = 0;
  uint64_t rolls_into_spare = 0;
  // Local log only: keys in the dedup table (the window's, and expired ones not swept yet) and
  // its memory, as of the last write round (0 for a read-only open, which keeps none).
  uint64_t dedup_keys = 0;
  uint64_t dedup_bytes = 0;
};

class LogStore {
 public:
  virtual ~LogStore() = default;

  // Queues `payload` for `partition`. An OK return means `done` will be called; a non-OK return
  // (Unavailable: the backlog bound is reached, or the log failed and is read-only) means it will
  // not, and nothing was queued.
  [[nodiscard]] virtual Status Append(std::string_view partition, uint64_t dedup_key,
                                      uint32_t item_count, std::string payload,
                                      AppendCallback done) = 0;

  // Append of each request in order (their payloads and callbacks are moved out), in one step
  // where the log can: LocalLog queues them together, so that one write round and one fsync
  // take them all, where separate Appends from a thread slower than the log's writer were
  // committed a few at a time. *queued: how many were queued, whose callbacks will run; when
  // fewer than all, the status says why the next one was not, and none after it was either.
  [[nodiscard]] virtual Status AppendMany(std::vector<AppendRequest>* requests, size_t* queued);

  // Appends to `out` up to `max_records` durable records of `partition` with offset >= `from`
  // (starting at the earliest retained one if `from` is older). NotFound for an unknown partition.
  [[nodiscard]] virtual Status Read(std::string_view partition, uint64_t from, size_t max_records,
                                    std::vector<LogRecord>* out) = 0;

  [[nodiscard]] virtual Status CommitOffset(std::string_view consumer, std::string_view partition,
                                            uint64_t next_offset) = 0;
  // 0 when the consumer never committed an offset for the partition.
  [[nodiscard]] virtual Result<uint64_t> CommittedOffset(std::string_view consumer,
                                                         std::string_view partition) = 0;

  virtual std::vector<PartitionInfo> Partitions() = 0;
  // Names of consumers that committed an offset in `partition`.
  virtual std::vector<std::string> Consumers(std::string_view partition) = 0;
  // OK if an append made now could succeed (the disk was writable at the last append).
  virtual Status Writable() = 0;
};

inline Status LogStore::AppendMany(std::vector<AppendRequest>* requests, size_t* queued) {
  for (*queued = 0; *queued < requests->size(); ++*queued) {
    AppendRequest& r = (*requests)[*queued];
    VIGIL_RETURN_IF_ERROR(
        Append(r.partition, r.dedup_key, r.item_count, std::move(r.payload), std::move(r.done)));
  }
  return Status::Ok();
}

}  // namespace vigil::log
