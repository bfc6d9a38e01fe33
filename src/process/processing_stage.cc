// The processing loop: round-robin over apps, process, append durably, then commit.
#include "process/processing_stage.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "common/batch_record.h"
#include "common/binary_value.h"
#include "common/ingest_burst.h"
#include "common/ingest_pause.h"
#include "common/prometheus_text.h"
#include "common/rate_limited_log.h"
#include "common/thread_name.h"
#include "common/thread_priority.h"
#include "log/resolving_log.h"
#include "process/crash_processor.h"

namespace vigil::process {

namespace {

// One app's symbols, as the crash processor asks for them.
class AppSymbols : public CrashSymbols {
 public:
  AppSymbols(symbols::SymbolStore* store, const std::string& app) : store_(store), app_(app) {}
  std::shared_ptr<const symbols::SymCache> FindByDebugId(const symbols::DebugId& id) override {
    return store_->FindNative(app_, id);
  }
  std::shared_ptr<const symbols::SymCache> FindByCodeId(std::string_view code_id) override {
    return store_->FindNativeByCodeId(app_, code_id);
  }
  std::shared_ptr<const symbols::ProguardMapping> FindMapping(std::string_view id) override {
    return store_->FindMapping(app_, id);
  }
  std::shared_ptr<const symbols::ProguardMapping> FindMappingForVersion(
      std::string_view version) override {
    return store_->FindMappingForVersion(app_, version);
  }

 private:
  symbols::SymbolStore* const store_;
  const std::string& app_;
};

// Dedup keys of processed records: a function of the raw offset (and, for reprocessing, of the
// job), never 0.
uint64_t DedupKey(char kind, uint64_t raw_offset, uint64_t job) {
  char buf[17];
  buf[0] = kind;
  std::memcpy(buf + 1, &raw_offset, 8);
  std::memcpy(buf + 9, &job, 8);
  uint64_t h = XXH3_64bits(buf, sizeof(buf));
  return h == 0 ? 1 : h;
}

constexpr int64_t kCommitIntervalMs = 1000;

}  // namespace

ProcessingStage::ProcessingStage(log::LogStore* raw, log::LogStore* processed,
                                 symbols::SymbolStore* symbols, Clock* clock,
                                 ProcessingOptions options)
    : raw_(raw),
      processed_(processed),
      symbols_(symbols),
      clock_(clock),
      options_(std::move(options)),
      last_commit_ms_(clock->NowMs()) {}

ProcessingStage::~ProcessingStage() { Stop(); }

void ProcessingStage::Start() {
  worker_ = std::thread([this] { Run(); });
}

void ProcessingStage::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void ProcessingStage::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
  }
  cv_.notify_all();
}

namespace {

std::string QueuedKey(const std::string& app, uint64_t offset, const std::string& event_id) {
  return app + "/" + std::to_string(offset) + "/" + event_id;
}

}  // namespace

void ProcessingStage::Reprocess(const std::string& app, std::vector<ReprocessTarget> targets) {
  std::sort(targets.begin(), targets.end(), [](const ReprocessTarget& a, const ReprocessTarget& b) {
    return a.raw_offset < b.raw_offset;
  });
  ReprocessJob job;
  job.app = app;
  {
    // Unique across jobs and restarts: the reprocessed records of two jobs must not share keys.
    std::lock_guard<std::mutex> lock(mu_);
    job.id = (static_cast<uint64_t>(clock_->NowMs()) << 16) + (next_job_seq_++ & 0xffff);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (ReprocessTarget& t : targets) {
      std::vector<std::string> ids;
      for (std::string& id : t.event_ids) {
        if (queued_.insert(QueuedKey(app, t.raw_offset, id)).second) ids.push_back(std::move(id));
      }
      if (ids.empty()) continue;
      t.event_ids = std::move(ids);
      job.targets.push_back(std::move(t));
    }
    if (job.targets.empty()) return;
    jobs_.push_back(std::move(job));
    notified_ = true;
  }
  cv_.notify_all();
}

size_t ProcessingStage::pending_reprocess() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const ReprocessJob& j : jobs_) n += j.targets.size();
  return n;
}

ProcessingStats ProcessingStage::stats() const {
  ProcessingStats s;
  s.records = records_.load(std::memory_order_relaxed);
  s.crashes = crashes_.load(std::memory_order_relaxed);
  s.sentinel = sentinel_.load(std::memory_order_relaxed);
  s.reprocessed = reprocessed_.load(std::memory_order_relaxed);
  s.reprocess_gone = reprocess_gone_.load(std::memory_order_relaxed);
  s.corrupt_records = corrupt_.load(std::memory_order_relaxed);
  return s;
}

void ProcessingStage::RenderMetrics(std::string* out) const {
  ProcessingStats s = stats();
  AppendMetric(out, "vigil_process_records_total", "counter", "Raw log records processed.",
               s.records);
  AppendMetric(out, "vigil_process_crashes_total", "counter",
               "Crash and handled-exception events processed.", s.crashes);
  AppendMetric(out, "vigil_process_sentinel_total", "counter",
               "Crash events that went to a sentinel group (symbols missing).", s.sentinel);
  AppendMetric(out, "vigil_process_reprocessed_total", "counter", "Crash events processed again.",
               s.reprocessed);
  AppendMetric(out, "vigil_process_reprocess_gone_total", "counter",
               "Crashes to reprocess whose raw record was already deleted.", s.reprocess_gone);
  AppendMetric(out, "vigil_process_corrupt_records_total", "counter",
               "Raw records that did not decode (skipped).", s.corrupt_records);
  AppendMetric(out, "vigil_process_reprocess_pending", "gauge",
               "Raw records queued for reprocessing.", pending_reprocess());
}

bool ProcessingStage::ProcessRecord(const std::string& app, const log::LogRecord& record,
                                    const std::vector<std::string>* only, std::string* out) {
  PauseForIngest();
  BatchRecord& batch = batch_;
  if (!DecodeBatchRecord(record.payload, &batch).ok()) return false;
  bool any = false;
  for (const EventView& e : batch.events) any |= IsCrashEvent(e.type);
  if (!any && only == nullptr) {
    *out = log::EncodeReference(record.offset);  // its readers get the raw record itself
    return true;
  }
  std::string_view version = batch.header.app.Get("version").AsString();
  AppSymbols symbols(symbols_, app);
  // About the raw record's size plus each crash's processed fields: reserved once, not grown.
  out->reserve(record.payload.size() + 1024);
  BatchRecordBuilder builder;
  builder.Begin(batch.header, out);
  std::string fields;
  for (const EventView& e : batch.events) {
    if (only != nullptr &&
        (!IsCrashEvent(e.type) || std::find(only->begin(), only->end(), e.id) == only->end())) {
      continue;
    }
    if (!IsCrashEvent(e.type)) {
      builder.AddEvent(e.id, e.type, e.ts_ms, e.fields.bytes());
      continue;
    }
    ProcessedCrash crash = ProcessCrash(e.fields.Get("error"), version, &symbols);
    crashes_.fetch_add(1, std::memory_order_relaxed);
    if (crash.group.sentinel) sentinel_.fetch_add(1, std::memory_order_relaxed);
    if (only != nullptr) reprocessed_.fetch_add(1, std::memory_order_relaxed);
    fields.clear();
    BinaryValueWriter w(&fields);
    w.BeginObject();
    e.fields.ForEach([&](std::string_view key, const BinaryValue& v) {
      if (key == "processed" || key == "processing") return;  // ours, not the SDK's
      w.Key(key);
      w.Encoded(v.bytes());
    });
    w.Key("processed");
    crash.WriteTo(&w);
    w.Key("processing");
    w.BeginObject();
    w.Key("raw_offset");
    w.Uint(record.offset);
    w.Key("at");
    w.Int(clock_->NowMs());
    w.Key("reprocessed");
    w.Bool(only != nullptr);
    w.EndObject();
    w.EndObject();
    builder.AddEvent(e.id, e.type, e.ts_ms, fields);
  }
  builder.Finish();
  return builder.event_count() > 0 || only == nullptr;
}

Status ProcessingStage::AppendAll(std::vector<Output>* outputs) {
  if (outputs->empty()) return Status::Ok();
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    size_t left = 0;
    Status first;
  };
  auto waiter = std::make_shared<Waiter>();
  waiter->left = outputs->size();
  auto done = [waiter](const Status& status, const log::AppendResult&) {
    std::lock_guard<std::mutex> lock(waiter->mu);
    if (!status.ok() && waiter->first.ok()) waiter->first = status;
    if (--waiter->left == 0) waiter->cv.notify_all();
  };
  // All at once: this thread runs in the background, and the log's writer, woken by a first
  // Append, would commit the round a few records at a time (~3 fsyncs per round, measured).
  std::vector<log::AppendRequest> requests(outputs->size());
  for (size_t i = 0; i < outputs->size(); ++i) {
    Output& o = (*outputs)[i];
    requests[i] = {std::string(o.partition), o.dedup_key, o.items, std::move(o.payload), done};
  }
  size_t queued = 0;
  Status st = processed_->AppendMany(&requests, &queued);
  if (!st.ok()) {
    std::lock_guard<std::mutex> lock(waiter->mu);
    if (waiter->first.ok()) waiter->first = st;
    waiter->left -= outputs->size() - queued;  // these callbacks will never run
  }
  std::unique_lock<std::mutex> lock(waiter->mu);
  waiter->cv.wait(lock, [&] { return waiter->left == 0; });
  return waiter->first;
}

Status ProcessingStage::RunRound(bool* did_work) {
  *did_work = false;
  std::vector<log::PartitionInfo> parts = raw_->Partitions();
  std::vector<Output> outputs;
  std::map<std::string, uint64_t> advanced;  // app -> next offset, once the outputs are durable
  size_t output_bytes = 0;
  const size_t n = parts.size();
  // Turns of at most records_per_turn per app, rotating, until caught up or the round is full:
  // fairness comes from the turns, and the whole round becomes durable with one append.
  bool more = n > 0;
  for (size_t turn = 0;
       more && turn < options_.turns_per_round && output_bytes < options_.max_round_bytes; ++turn) {
    more = false;
    for (size_t k = 0; k < n; ++k) {
      const log::PartitionInfo& p = parts[(rotate_ + k) % n];
      uint64_t next;
      if (auto a = advanced.find(p.name); a != advanced.end()) {
        next = a->second;
      } else {
        auto it = next_.find(p.name);
        if (it == next_.end()) {
          Result<uint64_t> committed = raw_->CommittedOffset(options_.consumer, p.name);
          if (!committed.ok()) return committed.status();
          it = next_.emplace(p.name, *committed).first;
        }
        next = it->second;
      }
      next = std::max(next, p.start_offset);
      if (next >= p.end_offset) continue;
      std::vector<log::LogRecord> records;
      VIGIL_RETURN_IF_ERROR(raw_->Read(p.name, next, options_.records_per_turn, &records));
      for (const log::LogRecord& r : records) {
        Output o{p.name, DedupKey('p', r.offset, 0), r.item_count, {}};
        if (ProcessRecord(p.name, r, nullptr, &o.payload)) {
          output_bytes += o.payload.size();
          outputs.push_back(std::move(o));
        } else {
          corrupt_.fetch_add(1, std::memory_order_relaxed);
          std::fprintf(stderr, "vigil: process: raw record %s/%llu does not decode; skipped\n",
                       p.name.c_str(), static_cast<unsigned long long>(r.offset));
        }
        next = r.offset + 1;
      }
      records_.fetch_add(records.size(), std::memory_order_relaxed);
      advanced[p.name] = next;
      if (!records.empty() && next < p.end_offset) more = true;
    }
    if (n > 0) rotate_ = (rotate_ + 1) % n;
  }
  backlog_ = more;

  // One slice of the oldest reprocessing job.
  std::string job_app;
  uint64_t job_id = 0;
  std::vector<ReprocessTarget> taken;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!jobs_.empty()) {
      ReprocessJob& job = jobs_.front();
      job_app = job.app;
      job_id = job.id;
      while (!job.targets.empty() && taken.size() < options_.records_per_turn) {
        for (const std::string& id : job.targets.front().event_ids) {
          queued_.erase(QueuedKey(job_app, job.targets.front().raw_offset, id));
        }
        taken.push_back(std::move(job.targets.front()));
        job.targets.pop_front();
      }
      if (job.targets.empty()) jobs_.pop_front();
    }
  }
  for (const ReprocessTarget& t : taken) {
    std::vector<log::LogRecord> records;
    Status st = raw_->Read(job_app, t.raw_offset, 1, &records);
    if (!st.ok() || records.empty() || records[0].offset != t.raw_offset) {
      reprocess_gone_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    Output o{job_app, DedupKey('r', t.raw_offset, job_id), records[0].item_count, {}};
    if (ProcessRecord(job_app, records[0], &t.event_ids, &o.payload)) {
      outputs.push_back(std::move(o));
    }
  }

  *did_work = !advanced.empty() || !taken.empty();
  Status st = AppendAll(&outputs);
  if (!st.ok()) {
    // Nothing is committed: those records are read again next round (their appends that did
    // succeed are deduplicated by key), and the reprocessing slice goes back to the queue.
    for (const auto& [app, next] : advanced) next_.erase(app);
    if (!taken.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      ReprocessJob job;
      job.app = job_app;
      job.id = job_id;
      for (const ReprocessTarget& t : taken) {
        for (const std::string& id : t.event_ids) {
          queued_.insert(QueuedKey(job_app, t.raw_offset, id));
        }
      }
      job.targets.assign(std::make_move_iterator(taken.begin()),
                         std::make_move_iterator(taken.end()));
      jobs_.push_front(std::move(job));
    }
    return st;
  }
  for (const auto& [app, next] : advanced) next_[app] = next;
  return CommitOffsets(false);
}

Status ProcessingStage::CommitOffsets(bool force) {
  int64_t now = clock_->NowMs();
  if (!force && now - last_commit_ms_ < kCommitIntervalMs) return Status::Ok();
  last_commit_ms_ = now;
  for (const auto& [app, next] : next_) {
    auto c = committed_.find(app);
    if (c != committed_.end() && c->second == next) continue;
    VIGIL_RETURN_IF_ERROR(raw_->CommitOffset(options_.consumer, app, next));
    committed_[app] = next;
    if (options_.on_committed) options_.on_committed(app);
  }
  return Status::Ok();
}

void ProcessingStage::Run() {
  SetThreadName("vigil-process");
  EnterBackgroundPriority();
  RateLimitedLog errors;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
    }
    YieldToIngestBurst([this] {
      std::lock_guard<std::mutex> lock(mu_);
      return stopping_ || !jobs_.empty();  // reprocessing was asked for: a user waits on it
    });
    bool did = false;
    Status st = RunRound(&did);
    if (!st.ok()) {
      errors.Print("vigil: process: " + st.ToString() + " (retrying)");
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_; });
      continue;
    }
    // Caught up: let records gather for a moment, so that each round (and each fsync of the
    // processed log) carries many of them instead of one per ingest commit.
    if (!did || !backlog_) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(options_.idle_wait_ms),
                   [&] { return stopping_ || notified_; });
      notified_ = false;
    }
  }
  Status st = CommitOffsets(true);
  if (!st.ok()) {
    std::fprintf(stderr, "vigil: process: cannot commit offsets: %s\n", st.ToString().c_str());
  }
}

}  // namespace vigil::process
