// EventsHandler: POST /v1/events — authenticate, decompress, parse and validate, apply the
// app's drop rules and quota, append to the log, and answer 202 only once the log has fsynced
// the batch.
//
// Every answer and its cause are in docs/protocol.md. Runs on the HTTP loop threads; the reply
// for an appended batch is sent from the log's writer thread through a DeferredReply.
#pragma once

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "common/clock.h"
#include "ingest/app_registry.h"
#include "ingest/batch_parser.h"
#include "ingest/metrics.h"
#include "ingest/quota_limiter.h"
#include "log/log_store.h"

namespace vigil::ingest {

struct IngestLimits {
  size_t max_body_bytes = 1 << 20;           // as received (compressed or not)
  size_t max_decompressed_bytes = 16 << 20;  // after decompression
  BatchLimits batch;
  int retry_after_s = 1;  // on 503
};

class EventsHandler {
 public:
  // Pointers must outlive the handler. `quotas` may be null (no app quotas enforced).
  EventsHandler(AppRegistry* apps, log::LogStore* log, Metrics* metrics, Clock* clock,
                IngestLimits limits, QuotaLimiter* quotas = nullptr)
      : apps_(apps),
        log_(log),
        metrics_(metrics),
        clock_(clock),
        limits_(limits),
        quotas_(quotas) {}

  void Handle(h2o_req_t* req);

 private:
  void Reply(h2o_req_t* req, int status, std::string_view message, int retry_after_s = 0);
  // The 429 for a batch of `app` refused by its quota.
  void ReplyOverQuota(h2o_req_t* req, const App& app, int retry_after_s);

  AppRegistry* const apps_;
  log::LogStore* const log_;
  Metrics* const metrics_;
  Clock* const clock_;
  const IngestLimits limits_;
  QuotaLimiter* const quotas_;
};

// The 202 body for a parsed batch (a duplicate's adds "duplicate": true).
std::string AcceptedBody(const ParsedBatch& batch);

}  // namespace vigil::ingest
