// ApiRouter: maps each request to its handler by path and method, and serves the health and
// metrics endpoints (/healthz, /readyz, /metrics).
#pragma once

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "ingest/admin_handler.h"
#include "ingest/app_registry.h"
#include "ingest/events_handler.h"
#include "ingest/metrics.h"
#include "ingest/symbols_handler.h"
#include "log/log_store.h"

namespace vigil::ingest {

class ApiRouter {
 public:
  // Pointers must outlive the router.
  ApiRouter(EventsHandler* events, AdminHandler* admin, SymbolsHandler* symbols, AppRegistry* apps,
            Metrics* metrics, log::LogStore* log)
      : events_(events),
        admin_(admin),
        symbols_(symbols),
        apps_(apps),
        metrics_(metrics),
        log_(log) {}

  // Serves /v1/apps/{app}/{resource}[/...] with `handler`, once the request's API token is
  // checked to be that app's (401/403 otherwise). `rest` is what follows the resource name
  // ("" or "/..."). Register before the server starts.
  using AppResourceHandler =
      std::function<void(h2o_req_t* req, const App& app, std::string_view rest)>;
  void AddAppResource(std::string resource, AppResourceHandler handler) {
    app_resources_[std::move(resource)] = std::move(handler);
  }

  // Loop thread.
  void Handle(h2o_req_t* req);

  // Whether `req` uploads a symbol file or part of one (POST /v1/apps/{app}/symbols, POST and
  // PUT under /v1/apps/{app}/symbols/uploads).
  static bool IsSymbolUpload(h2o_req_t* req);

 private:
  EventsHandler* const events_;
  AdminHandler* const admin_;
  SymbolsHandler* const symbols_;
  AppRegistry* const apps_;
  Metrics* const metrics_;
  std::map<std::string, AppResourceHandler, std::less<>> app_resources_;
  log::LogStore* const log_;
};

}  // namespace vigil::ingest
