// BatchApi: POST /v1/admin/batch/run {"app"?, "from"?, "to"?} (admin token) — runs the batch
// layer over the range and answers when done with {"days", "events", "duplicates", "seconds"}.
//
// The run happens on a thread of its own (runs are serialized by the batch layer), and the
// answer goes back to the request's loop through a DeferredReply, so the event loop never
// waits. Defaults: every app, the last 30 days up to now.
#pragma once

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <mutex>
#include <thread>
#include <vector>

#include "batch/batch_layer.h"
#include "common/clock.h"
#include "ingest/app_registry.h"
#include "ingest/metrics.h"

namespace vigil::serve {

class BatchApi {
 public:
  // Pointers must outlive the API.
  BatchApi(batch::BatchLayer* batch, ingest::AppRegistry* apps, ingest::Metrics* metrics,
           Clock* clock)
      : batch_(batch), apps_(apps), metrics_(metrics), clock_(clock) {}
  ~BatchApi();  // Stop()

  // Loop thread, after the admin token was checked.
  void HandleRun(h2o_req_t* req);
  // Waits for runs in progress (their replies are sent or dropped).
  void Stop();

 private:
  batch::BatchLayer* const batch_;
  ingest::AppRegistry* const apps_;
  ingest::Metrics* const metrics_;
  Clock* const clock_;
  std::mutex mu_;
  std::vector<std::thread> runs_;  // guarded by mu_
};

}  // namespace vigil::serve
