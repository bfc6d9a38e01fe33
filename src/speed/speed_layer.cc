// The speed layer's micro-batch loop (see speed_layer.h).
#include "speed/speed_layer.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <vector>

#include "common/batch_record.h"
#include "common/ingest_burst.h"
#include "common/ingest_pause.h"
#include "common/prometheus_text.h"
#include "common/rate_limited_log.h"
#include "common/thread_name.h"
#include "common/thread_priority.h"

namespace vigil::speed {

namespace {

constexpr std::string_view kNextPrefix = "speed/next/";
constexpr std::string_view kEventsPrefix = "speed/events/";
// speed/sentinel/<app>/<event id> → "<occurred ms> <group id>": a crash speed counted in a
// sentinel group, so that when it is processed again it can be moved to its real group.
constexpr std::string_view kSentinelPrefix = "speed/sentinel/";

std::string SentinelKey(std::string_view app, std::string_view event_id) {
  std::string k(kSentinelPrefix);
  k.append(app).append(1, '/').append(event_id);
  return k;
}

uint64_t ParseU64(std::string_view s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

int64_t MicroBatchInterval(const SpeedOptions& options, int64_t took_ms) {
  const int64_t spaced =
      std::min(took_ms * options.batch_spacing, options.freshness_budget_ms - took_ms);
  return std::max(options.min_batch_interval_ms, spaced);
}

Result<std::unique_ptr<SpeedLayer>> SpeedLayer::Open(log::LogStore* processed,
                                                     serve::AggregateStore* store, Clock* clock,
                                                     SpeedOptions options) {
  std::unique_ptr<SpeedLayer> s(new SpeedLayer(processed, store, clock, std::move(options)));
  VIGIL_RETURN_IF_ERROR(s->Load());
  return s;
}

Status SpeedLayer::Load() {
  VIGIL_RETURN_IF_ERROR(
      store_->ScanMeta(kNextPrefix, [&](std::string_view name, std::string_view v) {
        next_[std::string(name.substr(kNextPrefix.size()))] = ParseU64(v);
      }));
  std::lock_guard<std::mutex> lock(mu_);
  aggregated_to_ = next_;
  return store_->ScanMeta(kEventsPrefix, [&](std::string_view name, std::string_view v) {
    events_[std::string(name.substr(kEventsPrefix.size()))] = ParseU64(v);
  });
}

SpeedLayer::~SpeedLayer() { Stop(); }

void SpeedLayer::Start() {
  last_sweep_ms_ = clock_->NowMs();
  worker_ = std::thread([this] { Run(); });
}

void SpeedLayer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void SpeedLayer::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
  }
  cv_.notify_all();
}

void SpeedLayer::Run() {
  SetThreadName("vigil-speed");
  EnterBackgroundPriority();
  RateLimitedLog errors;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    YieldToIngestBurst([this] {
      std::lock_guard<std::mutex> lock(mu_);
      return stopping_;
    });
    bool did = false;
    const int64_t started_ms = clock_->NowMs();
    const int64_t started_ns = clock_->MonotonicNs();
    Status st = RunMicroBatch(&did);
    const int64_t took_ms = (clock_->MonotonicNs() - started_ns) / 1'000'000;
    if (st.ok() && !did) st = CommitWhileIdle();
    if (!st.ok()) {
      errors_++;
      errors.Print("vigil: speed: " + st.ToString());
    }
    int64_t now = clock_->NowMs();
    if (now - last_sweep_ms_ >= options_.sweep_interval_ms) {
      last_sweep_ms_ = now;
      st = Sweep();
      if (!st.ok()) errors.Print("vigil: speed: sweep: " + st.ToString());
    }
    if (!did || !st.ok()) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(options_.idle_wait_ms),
                   [&] { return stopping_ || notified_; });
      notified_ = false;
    } else if (int64_t rest = started_ms + MicroBatchInterval(options_, took_ms) - clock_->NowMs();
               rest > 0) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(rest), [&] { return stopping_; });
    }
  }
}

Result<aggregate::RollupCell*> SpeedLayer::StateCell(const aggregate::RollupKey& key) {
  auto it = state_.find(key);
  if (it != state_.end()) return &it->second;
  aggregate::RollupCell cell;
  Result<std::optional<std::string>> stored = store_->GetCell(serve::Layer::kSpeed, key);
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    Status st = aggregate::RollupCell::Decode(**stored, &cell);
    if (!st.ok()) {
      // A damaged cell is replaced by what comes next rather than stopping the layer.
      std::fprintf(stderr, "vigil: speed: stored cell of %s/%s does not decode: %s\n",
                   key.app.c_str(), key.metric.c_str(), st.ToString().c_str());
      cell = aggregate::RollupCell();
    }
  }
  return &state_.emplace(key, std::move(cell)).first->second;
}

Status SpeedLayer::RunMicroBatch(bool* did_work) {
  *did_work = false;
  const int64_t now = clock_->NowMs();
  const int64_t start_ns = clock_->MonotonicNs();
  const int64_t oldest = now - options_.window_ms;
  const int64_t newest = now + options_.future_ms;
  aggregate::Aggregator agg(Granularity::kMinute);
  std::map<std::string, uint64_t> next = next_;
  std::map<std::string, uint64_t> added;
  std::map<std::string, std::string> sentinels;  // this micro-batch's sentinel marks ("": gone)
  int64_t lag = 0;
  std::vector<log::PartitionInfo> partitions = processed_->Partitions();
  bool more = true;
  while (more && clock_->MonotonicNs() - start_ns < options_.max_batch_ms * 1'000'000) {
    more = false;
    for (const log::PartitionInfo& p : partitions) {
      uint64_t& from = next[p.name];
      from = std::max(from, p.start_offset);
      if (from >= p.end_offset) continue;
      std::vector<log::LogRecord> records;
      VIGIL_RETURN_IF_ERROR(processed_->Read(p.name, from, options_.records_per_turn, &records));
      BatchRecord batch;  // reused: its events' room is kept from record to record
      uint64_t& added_here = added[p.name];
      for (const log::LogRecord& r : records) {
        from = r.offset + 1;
        if (!DecodeBatchRecord(r.payload, &batch, ValueCheck::kShallow).ok()) {
          corrupt_++;
          continue;
        }
        aggregate::EventContext context = aggregate::ContextOf(batch.header);
        const aggregate::Aggregator::Fact batch_fact = agg.BatchFact(p.name, context);
        for (const EventView& e : batch.events) {
          PauseForIngest();
          if (e.ts_ms < oldest) {
            late_++;
            continue;
          }
          if (e.ts_ms > newest) {
            future_++;
            continue;
          }
          // Only crash events are ever processed again or sentinel; others skip the lookups.
          const bool crash = e.type == EventType::kCrash || e.type == EventType::kHandledException;
          if (crash) {
            BinaryValue processed = e.fields.Get("processed");
            const bool sentinel = processed.Get("sentinel").is_true();
            if (e.fields.Get("processing").Get("reprocessed").is_true()) {
              reprocessed_++;
              Result<std::string> previous = SentinelGroupOf(p.name, e.id, &sentinels);
              if (!previous.ok()) return previous.status();
              std::string group = aggregate::CrashGroupOf(e);
              if (previous->empty() || *previous == group) continue;
              agg.AddRegroupedCrash(p.name, context, e, *previous);
              regrouped_++;
              sentinels[SentinelKey(p.name, e.id)] =
                  sentinel ? std::to_string(e.ts_ms) + " " + group : std::string();
              continue;
            }
            if (sentinel) {
              sentinels[SentinelKey(p.name, e.id)] =
                  std::to_string(e.ts_ms) + " " + aggregate::CrashGroupOf(e);
            }
          }
          agg.AddEvent(batch_fact, e);
          added_here++;
        }
      }
      if (from < p.end_offset) {
        more = true;
        if (!records.empty()) lag = std::max(lag, now - records.back().append_time_ms);
      }
    }
  }
  if (next == next_) {
    lag_ms_ = 0;
    return Status::Ok();
  }
  aggregate::RollupMap deltas;
  agg.Emit({Granularity::kMinute, Granularity::kHour, Granularity::kDay}, &deltas);
  serve::WriteSet writes;
  const int64_t minute_oldest = now - options_.minute_window_ms;
  for (auto& [key, delta] : deltas) {
    if (key.granularity == Granularity::kMinute && key.bucket_ms < minute_oldest) continue;
    Result<aggregate::RollupCell*> cell = StateCell(key);
    if (!cell.ok()) return cell.status();
    (*cell)->Merge(delta);
    writes.PutCell(serve::Layer::kSpeed, key, **cell);
  }
  std::map<std::string, uint64_t> events_after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_after = events_;
  }
  for (const auto& [key, value] : sentinels) {
    if (value.empty()) {
      writes.DeleteMeta(key);
    } else {
      writes.PutMeta(key, value);
    }
  }
  for (const auto& [app, offset] : next) {
    if (next_.count(app) != 0 && next_[app] == offset) continue;
    writes.PutMeta(std::string(kNextPrefix) + app, std::to_string(offset));
    events_after[app] += added[app];
    writes.PutMeta(std::string(kEventsPrefix) + app, std::to_string(events_after[app]));
  }
  // Now and then the write is synced and its offsets committed in the log as well: the store is
  // then durably at least as far as the log's commit, which lets log retention go that far.
  const bool commit = now - last_log_commit_ms_ >= options_.log_commit_interval_ms;
  Status st = store_->Apply(writes, /*sync=*/commit);
  if (!st.ok()) {
    // The cells in memory are ahead of the store now: drop them, they reload from the store.
    state_.clear();
    return st;
  }
  next_ = std::move(next);
  if (commit) CommitToLog(now);
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_ = std::move(events_after);
    aggregated_to_ = next_;
  }
  uint64_t total = 0;
  for (const auto& [app, n] : added) total += n;
  events_total_ += total;
  micro_batches_++;
  cells_written_ += deltas.size();
  lag_ms_ = lag;
  *did_work = true;
  return Status::Ok();
}

void SpeedLayer::CommitToLog(int64_t now_ms) {
  last_log_commit_ms_ = now_ms;
  for (const auto& [app, offset] : next_) {
    auto it = log_committed_.find(app);
    if (it != log_committed_.end() && it->second == offset) continue;
    if (Status c = processed_->CommitOffset(options_.consumer, app, offset); !c.ok()) {
      std::fprintf(stderr, "vigil: speed: offset of %s not committed in the log: %s\n", app.c_str(),
                   c.ToString().c_str());
      return;  // tried again at the next commit
    }
    log_committed_[app] = offset;
  }
}

Status SpeedLayer::CommitWhileIdle() {
  const int64_t now = clock_->NowMs();
  if (now - last_log_commit_ms_ < options_.log_commit_interval_ms) return Status::Ok();
  serve::WriteSet writes;  // the offsets the store holds, written again to sync them
  for (const auto& [app, offset] : next_) {
    auto it = log_committed_.find(app);
    if (it == log_committed_.end() || it->second != offset) {
      writes.PutMeta(std::string(kNextPrefix) + app, std::to_string(offset));
    }
  }
  if (writes.empty()) {
    last_log_commit_ms_ = now;
    return Status::Ok();
  }
  VIGIL_RETURN_IF_ERROR(store_->Apply(writes, /*sync=*/true));
  CommitToLog(now);
  return Status::Ok();
}

Result<std::string> SpeedLayer::SentinelGroupOf(std::string_view app, std::string_view event_id,
                                                const std::map<std::string, std::string>* pending) {
  std::string key = SentinelKey(app, event_id);
  std::string value;
  if (auto it = pending->find(key); it != pending->end()) {
    value = it->second;
  } else {
    Result<std::optional<std::string>> stored = store_->GetMeta(key);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return std::string();
    value = std::move(**stored);
  }
  size_t space = value.find(' ');
  return space == std::string::npos ? std::string() : value.substr(space + 1);
}

Status SpeedLayer::Sweep() {
  const int64_t now = clock_->NowMs();
  const int64_t minute_before = now - options_.minute_window_ms;
  const int64_t hour_before = BucketStart(now - options_.window_ms, Granularity::kHour);
  const int64_t day_before = BucketStart(now - options_.window_ms, Granularity::kDay);
  for (auto it = state_.begin(); it != state_.end();) {
    const aggregate::RollupKey& k = it->first;
    int64_t before = k.granularity == Granularity::kMinute ? minute_before
                     : k.granularity == Granularity::kHour ? hour_before
                                                           : day_before;
    it = k.bucket_ms < before ? state_.erase(it) : std::next(it);
  }
  for (auto [g, before] :
       {std::pair{Granularity::kMinute, minute_before}, std::pair{Granularity::kHour, hour_before},
        std::pair{Granularity::kDay, day_before}}) {
    Result<uint64_t> n = store_->DeleteCellsBefore(serve::Layer::kSpeed, g, before);
    if (!n.ok()) return n.status();
  }
  // Sentinel marks of crashes that left the window: speed will not count them again.
  serve::WriteSet expired;
  VIGIL_RETURN_IF_ERROR(
      store_->ScanMeta(kSentinelPrefix, [&](std::string_view name, std::string_view v) {
        int64_t ts = 0;
        std::from_chars(v.data(), v.data() + v.size(), ts);
        if (ts < now - options_.window_ms) expired.DeleteMeta(name);
      }));
  if (!expired.empty()) VIGIL_RETURN_IF_ERROR(store_->Apply(expired, /*sync=*/false));
  return Status::Ok();
}

SpeedStats SpeedLayer::stats() const {
  SpeedStats s;
  s.events = events_total_;
  s.late = late_;
  s.future = future_;
  s.reprocessed = reprocessed_;
  s.regrouped = regrouped_;
  s.micro_batches = micro_batches_;
  s.cells_written = cells_written_;
  s.corrupt_records = corrupt_;
  s.errors = errors_;
  return s;
}

int64_t SpeedLayer::lag_ms(const std::string& app) const {
  uint64_t next = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = aggregated_to_.find(app);
    if (it != aggregated_to_.end()) next = it->second;
  }
  for (const log::PartitionInfo& p : processed_->Partitions()) {
    if (p.name != app) continue;
    next = std::max(next, p.start_offset);  // records retention deleted are nobody's lag
    if (next >= p.end_offset) return 0;
    std::vector<log::LogRecord> oldest;
    if (!processed_->Read(app, next, 1, &oldest).ok() || oldest.empty()) return 1;
    return std::max<int64_t>(1, clock_->NowMs() - oldest.front().append_time_ms);
  }
  return 0;  // nothing of the app in the processed log
}

uint64_t SpeedLayer::events_processed(const std::string& app) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = events_.find(app);
  return it == events_.end() ? 0 : it->second;
}

void SpeedLayer::RenderMetrics(std::string* out) const {
  SpeedStats s = stats();
  AppendMetric(out, "vigil_speed_events_total", "counter", "Events the speed layer aggregated.",
               s.events);
  AppendMetric(out, "vigil_speed_late_events_total", "counter",
               "Events older than the speed window (48 h): left to the batch layer.", s.late);
  AppendMetric(out, "vigil_speed_future_events_total", "counter",
               "Events more than an hour in the future: skipped by the speed layer.", s.future);
  AppendMetric(out, "vigil_speed_reprocessed_events_total", "counter",
               "Crash events processed again, not counted a second time by speed.", s.reprocessed);
  AppendMetric(
      out, "vigil_speed_regrouped_events_total", "counter",
      "Crash events processed again that speed moved from a sentinel group to their group.",
      s.regrouped);
  AppendMetric(out, "vigil_speed_micro_batches_total", "counter",
               "Micro-batches written to the aggregate store.", s.micro_batches);
  AppendMetric(out, "vigil_speed_cells_written_total", "counter",
               "Rollup cells written by the speed layer.", s.cells_written);
  AppendMetric(out, "vigil_speed_corrupt_records_total", "counter",
               "Processed records that did not decode (skipped).", s.corrupt_records);
  AppendMetric(out, "vigil_speed_errors_total", "counter", "Failed micro-batches (retried).",
               s.errors);
  AppendMetric(out, "vigil_speed_lag_ms", "gauge",
               "Age of the oldest processed record speed has not aggregated (0 when caught up).",
               static_cast<uint64_t>(std::max<int64_t>(0, lag_ms())));
}

}  // namespace vigil::speed
