// ApiRouter: maps each request to its handler by path and method, and serves the health and
// metrics endpoints (/healthz, /readyz, /metrics).
#pragma once

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "ingest/admin_handler.h"
#include "ingest/events_handler.h"
#include "ingest/metrics.h"
#include "ingest/symbols_handler.h"
#include "log/log_store.h"

namespace vigil::ingest {

class ApiRouter {
 public:
  // Pointers must outlive the router.
  ApiRouter(EventsHandler* events, AdminHandler* admin, SymbolsHandler* symbols, Metrics* metrics,
            log::LogStore* log)
      : events_(events), admin_(admin), symbols_(symbols), metrics_(metrics), log_(log) {}

  // Loop thread.
  void Handle(h2o_req_t* req);

 private:
  EventsHandler* const events_;
  AdminHandler* const admin_;
  SymbolsHandler* const symbols_;
  Metrics* const metrics_;
  log::LogStore* const log_;
};

}  // namespace vigil::ingest
