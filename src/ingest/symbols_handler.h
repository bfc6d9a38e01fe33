// SymbolsHandler: the symbol upload API under /v1/apps/{app}/symbols, with the app's API token.
//
//   POST   /v1/apps/{app}/symbols[?name=libfoo.so]  body: a .sym, ELF, Mach-O or mapping.txt
//   GET    /v1/apps/{app}/symbols                   what is stored, newest first
//   DELETE /v1/apps/{app}/symbols/{id}
//
// Files larger than one request may carry go in chunks (SymbolUploads):
//
//   POST   /v1/apps/{app}/symbols/uploads?size=N          a new upload -> {"upload_id", ...}
//   PUT    /v1/apps/{app}/symbols/uploads/{up}?offset=K   body: the next chunk
//   GET    /v1/apps/{app}/symbols/uploads/{up}            how much has arrived (to resume)
//   POST   /v1/apps/{app}/symbols/uploads/{up}/finish[?name=...]   as the one-request POST
//   DELETE /v1/apps/{app}/symbols/uploads/{up}
//
// Converting a large binary takes seconds, so uploads run on the handler's own worker thread and
// answer through a DeferredReply; chunks are written (and synced) by a second one, so that they
// never wait behind a conversion and the event loops never wait for a sync (they only create
// and unlink an upload's two small files). docs/protocol.md has every
// answer. Symbol files go to the data directory's disk like the log: an upload that would leave
// less free than the reserve kept for the stages behind ingest (min_free_disk_mb) is refused
// with 503, as the log refuses batches.
#pragma once

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <atomic>
#include <string>

#include "common/clock.h"
#include "common/job_thread.h"
#include "ingest/app_registry.h"
#include "ingest/metrics.h"
#include "ingest/symbol_uploads.h"
#include "symbols/symbol_store.h"

namespace vigil::ingest {

class DeferredReply;

class SymbolsHandler {
 public:
  // Pointers must outlive the handler. Starts the worker threads. `min_free_bytes`: the disk
  // reserve (0: none).
  SymbolsHandler(AppRegistry* apps, symbols::SymbolStore* store, SymbolUploads* uploads,
                 Metrics* metrics, Clock* clock, uint64_t min_free_bytes = 0);
  // Finishes queued uploads and chunks, then joins the workers.
  ~SymbolsHandler() = default;

  // Loop thread. The router has checked the API token is `app`'s; `rest` follows
  // /v1/apps/{app}/symbols: "", "/", "/{id}", or "/uploads[/...]" for chunked uploads.
  void Handle(h2o_req_t* req, const App& app, std::string_view rest);

 private:
  void Reply(h2o_req_t* req, int status, std::string_view json);
  void Error(h2o_req_t* req, int status, std::string_view message);
  void Upload(h2o_req_t* req, const App& app);
  // `rest` follows /v1/apps/{app}/symbols/uploads.
  void HandleChunked(h2o_req_t* req, const App& app, std::string_view rest);
  void CreateUpload(h2o_req_t* req, const App& app);
  void WriteChunk(h2o_req_t* req, const App& app, std::string_view id);
  void FinishUpload(h2o_req_t* req, const App& app, std::string_view id);
  // An answer to send: HTTP status, body, and the Status code it came from.
  struct Answer {
    int status;
    std::string body;
    StatusCode code;
  };
  // Converter thread: stores `data` for `app`; the answer says what was stored, or why not
  // (code Unavailable: the disk reserve).
  Answer Store(const std::string& app, std::string_view data, const std::string& name,
               const std::string& version);
  // Counts and sends `answer` (with Retry-After for a 503).
  void Complete(DeferredReply* reply, Answer answer);
  // Unavailable, saying what to do, if storing an upload of `bytes` (kept as sent and
  // converted: about twice that) would take the disk under the reserve.
  Status CheckReserve(uint64_t bytes) const;

  AppRegistry* const apps_;
  symbols::SymbolStore* const store_;
  SymbolUploads* const uploads_;
  Metrics* const metrics_;
  Clock* const clock_;
  const uint64_t min_free_bytes_;
  // Bytes of chunks copied and waiting for chunk_writer_; at most kMaxQueuedChunkBytes.
  static constexpr size_t kMaxQueuedChunkBytes = size_t{64} << 20;
  std::atomic<size_t> queued_chunk_bytes_{0};
  // Last, so that they finish their jobs while everything above is still there.
  JobThread converter_{"vigil-symbols"};
  JobThread chunk_writer_{"vigil-sym-write"};
};

}  // namespace vigil::ingest
