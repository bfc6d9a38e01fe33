// Metrics: the server's counters and histograms, rendered in Prometheus text format on /metrics.
//
// Fixed label sets (status codes, drop reasons) live in arrays of relaxed atomics, so counting on
// the request path is a few uncontended atomic adds. Log size and consumer lag are read from the
// LogStore when scraped. All names are prefixed vigil_. Safe from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ingest/drop_reason.h"
#include "log/log_store.h"

namespace vigil::ingest {

// A histogram with fixed upper bounds (Prometheus "le" buckets).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  void Render(const std::string& name, const std::string& help, std::string* out) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 (the +Inf bucket)
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

class Metrics {
 public:
  // `log` must outlive the Metrics; it may be null (then no log gauges).
  explicit Metrics(log::LogStore* log);

  void CountRequest(int status);
  void CountEventsAccepted(uint64_t n) { events_accepted_.fetch_add(n, std::memory_order_relaxed); }
  void CountEventRejected(DropReason r) {
    events_rejected_[static_cast<int>(r)].fetch_add(1, std::memory_order_relaxed);
  }
  void CountBytesIn(uint64_t wire, uint64_t decoded) {
    bytes_in_.fetch_add(wire, std::memory_order_relaxed);
    bytes_decoded_.fetch_add(decoded, std::memory_order_relaxed);
  }
  void CountEventsFiltered(uint64_t n) { events_filtered_.fetch_add(n, std::memory_order_relaxed); }
  void CountDuplicateBatch() { duplicate_batches_.fetch_add(1, std::memory_order_relaxed); }
  void CountSkewCorrected() { skew_corrected_.fetch_add(1, std::memory_order_relaxed); }
  void ObserveBatchEvents(uint32_t n) { batch_events_.Observe(n); }
  void ObserveFsync(int64_t ns, size_t records);
  // A POST /v1/events from its reading to its answer's being written out (negative: 0).
  void ObserveRequest(double seconds) { request_seconds_.Observe(seconds > 0 ? seconds : 0); }
  // How late an HTTP loop's periodic probe ran (HttpServerOptions::observe_loop_lag).
  void ObserveLoopLag(int64_t late_ns) {
    loop_lag_seconds_.Observe(static_cast<double>(late_ns) / 1e9);
  }

  // Adds a section to Render(): other stages' counters, already in Prometheus text format.
  // Register before the server starts; `render` is called on the scraping thread.
  void AddRenderer(std::function<void(std::string* out)> render) {
    renderers_.push_back(std::move(render));
  }

  std::string Render() const;

 private:
  static constexpr std::array<int, 14> kStatuses = {200, 201, 202, 400, 401, 403, 404,
                                                    405, 413, 415, 429, 500, 503, 0};
  log::LogStore* const log_;
  std::array<std::atomic<uint64_t>, kStatuses.size()> requests_{};
  std::atomic<uint64_t> events_accepted_{0};
  std::atomic<uint64_t> events_filtered_{0};
  std::array<std::atomic<uint64_t>, static_cast<int>(DropReason::kCount)> events_rejected_{};
  std::atomic<uint64_t> bytes_in_{0}, bytes_decoded_{0};
  std::atomic<uint64_t> duplicate_batches_{0}, skew_corrected_{0};
  Histogram batch_events_;
  Histogram fsync_seconds_;
  Histogram records_per_fsync_;
  Histogram request_seconds_;
  Histogram loop_lag_seconds_;
  std::vector<std::function<void(std::string*)>> renderers_;
};

}  // namespace vigil::ingest
