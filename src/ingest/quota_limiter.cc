// Per-app token buckets for ingest quotas; see quota_limiter.h.
#include "ingest/quota_limiter.h"

#include <algorithm>
#include <cmath>

#include "common/prometheus_text.h"

namespace vigil::ingest {

class QuotaLimiter::Bucket {
 public:
  Bucket(std::string app_id, const AppQuota& quota, int64_t now_ns)
      : app_id_(std::move(app_id)),
        tokens_(static_cast<double>(quota.burst())),
        burst_(static_cast<double>(quota.burst())),
        last_ns_(now_ns) {}

  // Whether `need` tokens are there (refilled to `now_ns` at `quota`'s rate); if so takes `take`.
  // Otherwise *retry_after_s: whole seconds until they would be.
  bool Admit(const AppQuota& quota, int64_t now_ns, uint64_t need, uint64_t take,
             int* retry_after_s) {
    std::lock_guard<std::mutex> lock(mu_);
    const double rate = static_cast<double>(quota.events_per_second);
    burst_ = static_cast<double>(quota.burst());  // follows a quota change at once
    if (now_ns > last_ns_) {
      tokens_ += static_cast<double>(now_ns - last_ns_) * rate / 1e9;
      last_ns_ = now_ns;
    }
    tokens_ = std::min(tokens_, burst_);
    const double wanted = static_cast<double>(need);
    if (tokens_ >= wanted) {
      tokens_ -= static_cast<double>(take);
      return true;
    }
    refused_.fetch_add(1, std::memory_order_relaxed);
    *retry_after_s = static_cast<int>(std::clamp(std::ceil((wanted - tokens_) / rate), 1.0,
                                                 static_cast<double>(kMaxRetryAfterS)));
    return false;
  }

  void Refund(uint64_t events) {
    std::lock_guard<std::mutex> lock(mu_);
    tokens_ = std::min(tokens_ + static_cast<double>(events), burst_);
  }

  const std::string& app_id() const { return app_id_; }
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  // A burst of 10^12 events at 1 event/s would otherwise ask for 30,000 years.
  static constexpr int kMaxRetryAfterS = 3600;

  const std::string app_id_;
  std::mutex mu_;
  double tokens_;  // may be negative: the debt of a batch larger than the burst
  double burst_;
  int64_t last_ns_;
  std::atomic<uint64_t> refused_{0};
};

QuotaLimiter::QuotaLimiter(Clock* clock) : clock_(clock) {}
QuotaLimiter::~QuotaLimiter() = default;

QuotaLimiter::Bucket* QuotaLimiter::BucketFor(const App& app) {
  {
    std::shared_lock lock(mu_);
    if (auto it = buckets_.find(app.id); it != buckets_.end()) return it->second.get();
  }
  std::unique_lock lock(mu_);
  auto [it, inserted] = buckets_.try_emplace(app.id);
  if (inserted) {
    it->second = std::make_unique<Bucket>(app.id, app.quota, clock_->MonotonicNs());
  }
  return it->second.get();
}

QuotaLimiter::Admission QuotaLimiter::Admit(const App& app, uint64_t need, uint64_t take) {
  Admission a;
  if (!app.quota.limited()) return a;
  a.bucket = BucketFor(app);
  a.admitted = a.bucket->Admit(app.quota, clock_->MonotonicNs(), need, take, &a.retry_after_s);
  return a;
}

QuotaLimiter::Admission QuotaLimiter::Check(const App& app) { return Admit(app, 1, 0); }

QuotaLimiter::Admission QuotaLimiter::Take(const App& app, uint64_t events) {
  return Admit(app, std::min(events, app.quota.burst()), events);
}

void QuotaLimiter::Refund(Bucket* bucket, uint64_t events) {
  if (bucket != nullptr) bucket->Refund(events);
}

void QuotaLimiter::Render(std::string* out) const {
  AppendMetricHeader(out, "vigil_ingest_quota_refused_batches_total", "counter",
                     "Batches answered 429 because their app was over its events_per_second "
                     "quota, by app (apps that had a quota since start).");
  std::shared_lock lock(mu_);
  for (const auto& [id, bucket] : buckets_) {
    *out += "vigil_ingest_quota_refused_batches_total{app=\"" + id + "\"} " +
            std::to_string(bucket->refused()) + "\n";
  }
}

}  // namespace vigil::ingest
