// AnalyticsApi: the dashboard endpoints of the read API (API token of the app), answered from the
// aggregate store with the serving layer's rule (layer_merge.h): batch where sealed, else speed.
//
//   GET /v1/apps/{app}/metrics?name=N&from=T&to=T&granularity=minute|hour|day[&version][&os]
//   GET /v1/apps/{app}/network?from&to[&version][&os]        per endpoint
//   GET /v1/apps/{app}/user-flows?from&to[&version][&os]     per flow and outcome
//   GET /v1/apps/{app}/custom-events?from&to[&version][&os]  per event name
//   GET /v1/apps/{app}/status                                how fresh every layer is
//
// docs/api.md has every field. Handlers run on the loop thread: each reads a few dozen cells.
#pragma once

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <string_view>

#include "archive/archiver.h"
#include "batch/batch_layer.h"
#include "common/clock.h"
#include "ingest/app_registry.h"
#include "ingest/metrics.h"
#include "log/log_store.h"
#include "serve/aggregate_store.h"
#include "speed/speed_layer.h"

namespace vigil::serve {

inline constexpr size_t kMaxSeriesPoints = 10'000;

class AnalyticsApi {
 public:
  // Pointers must outlive the API.
  AnalyticsApi(AggregateStore* store, batch::BatchLayer* batch, speed::SpeedLayer* speed,
               archive::Archiver* archiver, log::LogStore* raw_log, ingest::Metrics* metrics,
               Clock* clock)
      : store_(store),
        batch_(batch),
        speed_(speed),
        archiver_(archiver),
        raw_log_(raw_log),
        metrics_(metrics),
        clock_(clock) {}

  // Loop thread; `rest` is what follows the resource name (must be empty).
  void HandleMetrics(h2o_req_t* req, const ingest::App& app, std::string_view rest);
  // `resource` is "network", "user-flows" or "custom-events".
  void HandleBreakdown(h2o_req_t* req, const ingest::App& app, std::string_view resource,
                       std::string_view rest);
  void HandleStatus(h2o_req_t* req, const ingest::App& app, std::string_view rest);

 private:
  void Reply(h2o_req_t* req, int status, std::string_view json);
  void Error(h2o_req_t* req, int status, std::string_view message);

  AggregateStore* const store_;
  batch::BatchLayer* const batch_;
  speed::SpeedLayer* const speed_;
  archive::Archiver* const archiver_;
  log::LogStore* const raw_log_;
  ingest::Metrics* const metrics_;
  Clock* const clock_;
};

}  // namespace vigil::serve
