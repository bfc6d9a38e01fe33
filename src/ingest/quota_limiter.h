// QuotaLimiter: per-app ingest quotas (AppQuota), so that one app's flood is answered 429 with
// Retry-After instead of filling the log's backlog and CPUs that every other app shares.
//
// Each limited app has a token bucket of events: it refills at events_per_second up to
// burst(). A batch of n events is admitted while the bucket holds min(n, burst) tokens, and
// takes n (a batch larger than the burst is admitted from a full bucket and leaves it in debt,
// so that a quota never refuses a batch forever). Refusals are whole batches: the SDK sends the
// same batch, same batch_id, after Retry-After, and nothing is lost or counted twice.
//
// A batch of more events than the burst needs a full bucket, which an app's other devices can
// keep from filling while they send over the quota: it then waits; docs/protocol.md tells
// operators to keep the burst above their SDKs' largest batch.
//
// Quotas are per process: in the embedded default, per server. A bucket starts full at its
// app's first batch after the server starts, and follows quota changes at once.
//
// Thread-safety: every method is safe from any thread (a mutex per app's bucket; buckets are
// never freed while the limiter lives).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "common/clock.h"
#include "common/string_hash.h"
#include "ingest/app_registry.h"

namespace vigil::ingest {

class QuotaLimiter {
 public:
  class Bucket;
  struct Admission {
    bool admitted = true;
    int retry_after_s = 0;     // when refused: whole seconds until it would be admitted (>= 1)
    Bucket* bucket = nullptr;  // what was taken from (null: the app has no quota), for Refund
  };

  // `clock` must outlive the limiter.
  explicit QuotaLimiter(Clock* clock);
  ~QuotaLimiter();

  // Before a batch is read: refused if `app`'s bucket holds less than one event, so that a
  // flood past its quota costs no decompression or parsing. Takes nothing.
  Admission Check(const App& app);
  // Admits and takes a batch of `events` events for `app`, or refuses it (counted).
  Admission Take(const App& app, uint64_t events);
  // Gives back what an admitted batch took when nothing was stored after all (the log refused
  // it, or it was a duplicate). `bucket` may be null.
  static void Refund(Bucket* bucket, uint64_t events);

  // vigil_ingest_quota_refused_batches_total{app}, in Prometheus text format.
  void Render(std::string* out) const;

 private:
  Bucket* BucketFor(const App& app);
  Admission Admit(const App& app, uint64_t need, uint64_t take);

  Clock* const clock_;
  mutable std::shared_mutex mu_;  // guards buckets_ (the map, not the buckets)
  StringMap<std::unique_ptr<Bucket>> buckets_;
};

}  // namespace vigil::ingest
