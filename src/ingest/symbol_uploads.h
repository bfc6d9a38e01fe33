// SymbolUploads: symbol files sent in chunks, assembled on disk until the client finishes them.
//
// h2o reads a request's whole body before any handler runs, up to one cap per listener. A
// listener that takes 512 MiB symbol files in one request lets any client make ingest read that
// much before its 413. Chunks keep every request small (kChunkBytes), so one listener can serve
// ingest and symbols with a cap of a few MiB, and an upload cut off mid-way goes on from the
// last chunk received instead of from the start (as `sentry-cli` uploads debug files).
//
// An upload is created with its total size, filled by chunks at offsets up to what it has
// received (a chunk sent again is written again: same bytes, same place), then finished: taken
// out for conversion as one file. Uploads live in one directory: <id>.part, the bytes, and
// <id>.state, its app, size, bytes received and last chunk's time. A chunk is answered once
// both are synced, so an upload survives a restart or a kill -9 (a deploy in the middle of a
// CI job's upload) with every chunk it acknowledged, and its client goes on from `received`.
// Uploads expire after kIdleExpiryMs without a chunk: every call but PendingBytes first deletes
// the uploads expired by then, so an expired upload is never found, and its files go at the
// next call for any upload. Removals are not synced: after a power loss a removed upload may
// come back, and expires.
//
// Finished uploads: the answer of a finish that ended an upload is kept, in memory, for
// kIdleExpiryMs (at most kMaxFinishedKept of them, the oldest go first), and a finish sent
// again gets it: a client whose connection a load balancer cut while a large file converted
// learns what was stored instead of "no such upload". A restart forgets them. Thread-safe. Chunk
// writes block on the disk (two syncs), so callers keep them off event loops; Create writes two
// small files unsynced, and removals unlink two.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace vigil::ingest {

struct SymbolUploadState {
  std::string id;
  uint64_t size = 0;      // bytes the whole file has
  uint64_t received = 0;  // bytes [0, received) are written

  // {"upload_id","size","received","chunk_bytes"}
  std::string ToJson() const;
};

class SymbolUploads {
 public:
  static constexpr uint64_t kChunkBytes = uint64_t{8} << 20;
  static constexpr size_t kMaxOpenPerApp = 16;
  static constexpr int64_t kIdleExpiryMs = int64_t{24} * 3600 * 1000;
  static constexpr size_t kMaxFinishedKept = 4096;

  // Opens `dir`, creating it, with the uploads an earlier run left open; files of none (a
  // state half written, a part without its state) are deleted. `clock` must outlive this
  // object.
  static Result<std::unique_ptr<SymbolUploads>> Open(std::string dir, Clock* clock);

  // InvalidArgument for a size of 0, TooLarge over the symbol file cap.
  static Status CheckSize(uint64_t size);
  // A new, empty upload of `size` bytes for `app`. CheckSize's errors; Unavailable when `app`
  // has kMaxOpenPerApp uploads open or the disk is full; IoError when its files cannot be made.
  Result<SymbolUploadState> Create(std::string_view app, uint64_t size);
  // NotFound when `app` has no upload `id` (never made, finished, deleted or expired).
  Result<SymbolUploadState> Get(std::string_view app, std::string_view id);
  // Whether a chunk of `size` bytes at `offset` fits the upload now: Write's refusals but the
  // one for a chunk being written (a caller checks before it queues the chunk for Write).
  Status CheckChunk(std::string_view app, std::string_view id, uint64_t offset, size_t size);
  // Writes `data` at `offset`. NotFound as Get; AlreadyExists (a conflict) when `offset` is
  // past what was received, the upload is being finished or another chunk is being written;
  // TooLarge when the chunk is over kChunkBytes or ends past the size; InvalidArgument for an
  // empty chunk; Unavailable when the disk is full.
  Result<SymbolUploadState> Write(std::string_view app, std::string_view id, uint64_t offset,
                                  std::string_view data);
  // Takes a complete upload for conversion: its part's path. AlreadyExists while bytes are
  // missing or another finish runs. Until EndFinish, chunks and a second finish are refused.
  Result<std::string> BeginFinish(std::string_view app, std::string_view id);
  // After BeginFinish: `keep` leaves the upload as it was (a finish that may be retried, e.g.
  // the disk was full); otherwise the upload and its files are gone, and `answer` is what a
  // finish sent again gets (FinishedAnswer).
  struct Answer {
    int status = 0;
    std::string body;
  };
  void EndFinish(std::string_view app, std::string_view id, bool keep, Answer answer);
  // The answer of the finish that ended upload `id` of `app`, if it is still kept.
  std::optional<Answer> FinishedAnswer(std::string_view app, std::string_view id);
  // Deletes an upload and its files. NotFound as Get; AlreadyExists while it is being finished.
  Status Remove(std::string_view app, std::string_view id);
  // Deletes uploads that received nothing for kIdleExpiryMs; how many.
  size_t ExpireIdle();

  // Bytes the open uploads still have to receive (for the disk reserve).
  uint64_t PendingBytes() const;

 private:
  struct Upload {
    std::string app;
    uint64_t size = 0;
    uint64_t received = 0;
    int64_t touched_ms = 0;  // the last chunk (or the creation)
    bool writing = false;    // a chunk is being written, outside mu_
    bool finishing = false;  // between BeginFinish and EndFinish
  };
  SymbolUploads(std::string dir, Clock* clock) : dir_(std::move(dir)), clock_(clock) {}
  Status Load();
  std::string PathOf(std::string_view id) const;       // <id>.part
  std::string StatePathOf(std::string_view id) const;  // <id>.state
  static std::string StateJson(const Upload& u);
  // The upload `id` of `app`, or null. Requires mu_.
  Upload* FindLocked(std::string_view app, std::string_view id);
  // CheckChunk's refusals for upload `u` (null: not found). Requires mu_.
  Status ChunkFitsLocked(const Upload* u, std::string_view id, uint64_t offset, size_t size) const;
  void RemoveLocked(std::map<std::string, Upload, std::less<>>::iterator it);

  const std::string dir_;
  Clock* const clock_;
  mutable std::mutex mu_;
  std::map<std::string, Upload, std::less<>> uploads_;  // by id
  struct Finished {
    std::string app;
    Answer answer;
    int64_t finished_ms = 0;
  };
  std::map<std::string, Finished, std::less<>> finished_;  // by id
  std::deque<std::string> finished_order_;                 // their ids, oldest first
  // Forgets the oldest finished answer. Requires mu_ and one to forget.
  void DropOldestFinishedLocked();
};

}  // namespace vigil::ingest
