// SymbolsHandler: the symbol upload API under /v1/apps/{app}/symbols, with the app's API token.
//
//   POST   /v1/apps/{app}/symbols[?name=libfoo.so]  body: a .sym, ELF, Mach-O or mapping.txt
//   GET    /v1/apps/{app}/symbols                   what is stored, newest first
//   DELETE /v1/apps/{app}/symbols/{id}
//
// Converting a large binary takes seconds, so uploads run on the handler's own worker thread and
// answer through a DeferredReply; the event loops never wait for a conversion. docs/protocol.md
// has every answer. Symbol files go to the data directory's disk like the log: an upload that
// would leave less free than the reserve kept for the stages behind ingest (min_free_disk_mb)
// is refused with 503, as the log refuses batches.
#pragma once

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "ingest/app_registry.h"
#include "ingest/metrics.h"
#include "symbols/symbol_store.h"

namespace vigil::ingest {

class SymbolsHandler {
 public:
  // Pointers must outlive the handler. Starts the worker thread. `min_free_bytes`: the disk
  // reserve (0: none).
  SymbolsHandler(AppRegistry* apps, symbols::SymbolStore* store, Metrics* metrics, Clock* clock,
                 uint64_t min_free_bytes = 0);
  // Finishes queued uploads, then joins the worker.
  ~SymbolsHandler();

  // Loop thread. The router has checked the API token is `app`'s; `rest` follows
  // /v1/apps/{app}/symbols: "", "/" or "/{id}".
  void Handle(h2o_req_t* req, const App& app, std::string_view rest);

 private:
  void Reply(h2o_req_t* req, int status, std::string_view json);
  void Error(h2o_req_t* req, int status, std::string_view message);
  void Upload(h2o_req_t* req, const App& app);
  void RunWorker();
  // Unavailable, saying what to do, if storing an upload of `bytes` (kept as sent and
  // converted: about twice that) would take the disk under the reserve.
  Status CheckReserve(uint64_t bytes) const;

  AppRegistry* const apps_;
  symbols::SymbolStore* const store_;
  Metrics* const metrics_;
  Clock* const clock_;
  const uint64_t min_free_bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace vigil::ingest
