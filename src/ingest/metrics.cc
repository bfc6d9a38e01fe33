// Prometheus text rendering of Vigil's metrics.
#include "ingest/metrics.h"

#include <cstdio>

#include "common/prometheus_text.h"

namespace vigil::ingest {

namespace {
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}
void Header(std::string* out, const std::string& name, const char* type, const std::string& help) {
  AppendMetricHeader(out, name, type, help);
}
}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double old = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

void Histogram::Render(const std::string& name, const std::string& help, std::string* out) const {
  Header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    *out += name + "_bucket{le=\"" + Num(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += counts_[bounds_.size()].load(std::memory_order_relaxed);
  *out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  *out += name + "_sum " + Num(sum_.load(std::memory_order_relaxed)) + "\n";
  *out += name + "_count " + std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

Metrics::Metrics(log::LogStore* log)
    : log_(log),
      batch_events_({1, 5, 10, 20, 50, 100, 200, 500, 1000, 10000}),
      fsync_seconds_(
          {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}),
      records_per_fsync_({1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}),
      request_seconds_({0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.0075, 0.01, 0.025, 0.05,
                        0.1, 0.25, 1}),
      loop_lag_seconds_({0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}) {}

void Metrics::CountRequest(int status) {
  size_t i = 0;
  while (i + 1 < kStatuses.size() && kStatuses[i] != status) ++i;
  requests_[i].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::ObserveFsync(int64_t ns, size_t records) {
  fsync_seconds_.Observe(static_cast<double>(ns) / 1e9);
  records_per_fsync_.Observe(static_cast<double>(records));
}

std::string Metrics::Render() const {
  std::string out;
  Header(&out, "vigil_http_requests_total", "counter", "HTTP requests answered, by status code.");
  for (size_t i = 0; i < kStatuses.size(); ++i) {
    std::string code = kStatuses[i] == 0 ? "other" : std::to_string(kStatuses[i]);
    out += "vigil_http_requests_total{code=\"" + code + "\"} " +
           std::to_string(requests_[i].load(std::memory_order_relaxed)) + "\n";
  }
  Header(&out, "vigil_events_accepted_total", "counter", "Events appended to the log.");
  out += "vigil_events_accepted_total " + std::to_string(events_accepted_.load()) + "\n";
  Header(&out, "vigil_events_filtered_total", "counter",
         "Valid events not stored because their app's drop rules drop them.");
  out += "vigil_events_filtered_total " + std::to_string(events_filtered_.load()) + "\n";
  Header(&out, "vigil_events_rejected_total", "counter", "Events rejected, by reason.");
  for (int r = 0; r < static_cast<int>(DropReason::kCount); ++r) {
    out += "vigil_events_rejected_total{reason=\"" +
           std::string(DropReasonName(static_cast<DropReason>(r))) + "\"} " +
           std::to_string(events_rejected_[r].load()) + "\n";
  }
  Header(&out, "vigil_ingest_bytes_total", "counter",
         "Request body bytes: as received (wire) and after decompression (decoded).");
  out += "vigil_ingest_bytes_total{stage=\"wire\"} " + std::to_string(bytes_in_.load()) + "\n";
  out +=
      "vigil_ingest_bytes_total{stage=\"decoded\"} " + std::to_string(bytes_decoded_.load()) + "\n";
  Header(&out, "vigil_duplicate_batches_total", "counter",
         "Batches whose batch_id was already accepted (SDK retries); not appended again.");
  out += "vigil_duplicate_batches_total " + std::to_string(duplicate_batches_.load()) + "\n";
  Header(&out, "vigil_clock_skew_corrected_batches_total", "counter",
         "Batches whose timestamps were shifted because sent_at was off by over a minute.");
  out +=
      "vigil_clock_skew_corrected_batches_total " + std::to_string(skew_corrected_.load()) + "\n";
  batch_events_.Render("vigil_batch_events", "Events per accepted batch.", &out);
  fsync_seconds_.Render("vigil_log_fsync_seconds", "Duration of each log fsync (group commit).",
                        &out);
  records_per_fsync_.Render("vigil_log_records_per_fsync", "Batches made durable per fsync.", &out);
  request_seconds_.Render("vigil_ingest_request_seconds",
                          "POST /v1/events from its handler getting it, read whole, to its answer "
                          "being written out (a 202 waits for the batch's fsync).",
                          &out);
  loop_lag_seconds_.Render(
      "vigil_http_loop_lag_seconds",
      "How late each HTTP event loop's 100 ms probe timer fired: time a loop could not run, busy "
      "with one round of events or not scheduled by the kernel. Requests arriving meanwhile wait "
      "that long before vigil_ingest_request_seconds starts counting.",
      &out);
  if (log_ != nullptr) {
    std::vector<log::PartitionInfo> parts = log_->Partitions();
    Header(&out, "vigil_log_bytes", "gauge", "Bytes of log segments, by partition (app).");
    for (const auto& p : parts) {
      out += "vigil_log_bytes{app=\"" + p.name + "\"} " + std::to_string(p.bytes) + "\n";
    }
    Header(&out, "vigil_log_segment_rolls_total", "counter",
           "New raw log segments since start, by partition and whether the segment was written "
           "ahead of time (spare=\"ready\") or had to be extended as it filled (spare=\"none\").");
    for (const auto& p : parts) {
      out += "vigil_log_segment_rolls_total{app=\"" + p.name + "\",spare=\"ready\"} " +
             std::to_string(p.rolls_into_spare) + "\n";
      out += "vigil_log_segment_rolls_total{app=\"" + p.name + "\",spare=\"none\"} " +
             std::to_string(p.rolls - p.rolls_into_spare) + "\n";
    }
    Header(&out, "vigil_log_dedup_keys", "gauge",
           "Batch ids remembered for deduplication (the dedup window's, and expired ones not yet "
           "swept), by partition.");
    for (const auto& p : parts) {
      out += "vigil_log_dedup_keys{app=\"" + p.name + "\"} " + std::to_string(p.dedup_keys) + "\n";
    }
    Header(&out, "vigil_log_dedup_bytes", "gauge",
           "Memory of the dedup window's table, by partition (docs/log_format.md).");
    for (const auto& p : parts) {
      out +=
          "vigil_log_dedup_bytes{app=\"" + p.name + "\"} " + std::to_string(p.dedup_bytes) + "\n";
    }
    Header(&out, "vigil_log_end_offset", "gauge", "Next offset to be written, by partition.");
    for (const auto& p : parts) {
      out += "vigil_log_end_offset{app=\"" + p.name + "\"} " + std::to_string(p.end_offset) + "\n";
    }
    Header(&out, "vigil_log_consumer_lag", "gauge",
           "Records not yet committed by a consumer, by partition and consumer.");
    for (const auto& p : parts) {
      for (const std::string& c : log_->Consumers(p.name)) {
        Result<uint64_t> committed = log_->CommittedOffset(c, p.name);
        if (!committed.ok()) continue;
        uint64_t lag = p.end_offset > *committed ? p.end_offset - *committed : 0;
        out += "vigil_log_consumer_lag{app=\"" + p.name + "\",consumer=\"" + c + "\"} " +
               std::to_string(lag) + "\n";
      }
    }
  }
  for (const auto& render : renderers_) render(&out);
  return out;
}

}  // namespace vigil::ingest
