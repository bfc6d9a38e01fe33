// The batch layer: archive days → exact rollups, sealing, and the scheduler (see batch_layer.h).
#include "batch/batch_layer.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <mutex>
#include <thread>

#include "aggregate/aggregator.h"
#include "archive/archive_layout.h"
#include "archive/part_file.h"
#include "batch/day_cell_keys.h"
#include "batch/id_set.h"
#include "common/ingest_burst.h"
#include "common/ingest_pause.h"
#include "common/prometheus_text.h"
#include "common/thread_name.h"
#include "common/thread_priority.h"
#include "common/time_bucket.h"
#include "common/time_format.h"

namespace vigil::batch {

namespace {

constexpr std::string_view kScheduleKey = "batch/schedule";
constexpr int64_t kStartDelayMs = 60 * 1000;

std::string SealedKey(const std::string& app, int64_t day_ms) {
  return "batch/sealed/" + app + "/" + FormatDay(day_ms);
}
std::string SignatureKey(const std::string& app, int64_t day_ms) {
  return "batch/signature/" + app + "/" + FormatDay(day_ms);
}
std::string CellKeysKey(const std::string& app, int64_t day_ms) {
  return "batch/cells/" + app + "/" + FormatDay(day_ms);
}
std::string DigestKey(const std::string& app, int64_t day_ms) {
  return "batch/digest/" + app + "/" + FormatDay(day_ms);
}

// What a day's archive is made of: its part files. Any flush, compaction or retention changes it.
std::string DaySignature(const std::vector<archive::PartEntry>& parts) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (const archive::PartEntry& p : parts) XXH3_64bits_update(state, p.path.data(), p.path.size());
  uint64_t h = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%zu-%016llx", parts.size(), static_cast<unsigned long long>(h));
  return buf;
}

// What a day's cells are, keys and values: the sum (mod 2^128) of each cell's XXH3-128 over its
// fingerprint (RollupCell::AppendFingerprintTo: its serialized form, with the users sketch
// hashed instead of sorted and packed), seeded with the hash of its encoded key. A sum needs no
// sorting of the cells. Equal digests, equal cells (a change goes unseen at ~2^-128 odds). An
// unchanged day's cells are never serialized: that was a twentieth of a rerun.
std::string CellsDigest(const aggregate::RollupMap& cells) {
  unsigned __int128 sum = 0;
  std::string key, value;
  for (const auto& [k, cell] : cells) {
    key = aggregate::EncodeRollupKey(k);
    value.clear();
    cell.AppendFingerprintTo(&value);
    const XXH128_hash_t h =
        XXH3_128bits_withSeed(value.data(), value.size(), XXH3_64bits(key.data(), key.size()));
    sum += static_cast<unsigned __int128>(h.high64) << 64 | h.low64;
  }
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%zu-%016llx%016llx", cells.size(),
                static_cast<unsigned long long>(sum >> 64), static_cast<unsigned long long>(sum));
  return buf;
}

// What a batch scan reads: the derived columns instead of the event bodies.
constexpr archive::ColumnMask kScanColumns =
    archive::ColumnBit(archive::kIdHash) | archive::ColumnBit(archive::kTs) |
    archive::ColumnBit(archive::kType) | archive::ColumnBit(archive::kVersion) |
    archive::ColumnBit(archive::kOs) | archive::ColumnBit(archive::kUser) |
    archive::ColumnBit(archive::kSubject) | archive::ColumnBit(archive::kFlags) |
    archive::ColumnBit(archive::kBytes) | archive::ColumnBit(archive::kLatency);
// Users are only hashed (sketches): read as hashes, never as values. Ids come hashed in id_hash.
constexpr archive::HashedColumns kScanHashes = {.xxh3_64 = archive::ColumnBit(archive::kUser)};

// The aggregator's ids of a part's dictionary column, each interned once; an empty value (no
// version or OS in the batch) counts as kUnknown.
std::vector<uint32_t> InternDictionary(const archive::PartColumns& cols, archive::Column c,
                                       aggregate::Aggregator* agg) {
  std::vector<uint32_t> ids(cols.dictionary_size(c));
  for (uint32_t k = 0; k < ids.size(); ++k) {
    std::string_view v = cols.dictionary(c, k);
    ids[k] = agg->Intern(v.empty() ? aggregate::kUnknown : v);
  }
  return ids;
}

}  // namespace

// The id set of a busy day is tens of MB and a part's columns several: a worker keeps them from
// one day to the next, and the layer from one run to the next (the id set released lazily in
// between), instead of faulting fresh memory in for each.
struct BatchLayer::DayScratch {
  IdSet seen;
  std::vector<uint8_t> fresh;
  std::vector<aggregate::Aggregator::Fact> maybe_seen;  // rows whose id IdSet could not clear
  archive::PartColumns cols;
};

BatchLayer::BatchLayer(std::string archive_root, archive::Archiver* archiver,
                       serve::AggregateStore* store, Clock* clock, BatchOptions options)
    : root_(std::move(archive_root)),
      archiver_(archiver),
      store_(store),
      clock_(clock),
      options_(options) {}

BatchLayer::~BatchLayer() { Stop(); }

void BatchLayer::Start() {
  if (options_.hourly_interval_ms <= 0) return;
  scheduler_ = std::thread([this] { Schedule(); });
}

void BatchLayer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
}

void BatchLayer::Pause(bool paused) {
  std::lock_guard<std::mutex> lock(mu_);
  paused_ = paused;
}

BatchSchedule ScheduleAtStart(std::string_view stored, int64_t now_ms,
                              const BatchOptions& options) {
  // "<next hourly ms> <next daily ms>", as FormatBatchSchedule writes it.
  uint64_t at[2];
  const char* p = stored.data();
  const char* end = p + stored.size();
  bool ok = !stored.empty();
  for (int i = 0; i < 2 && ok; ++i) {
    if (i == 1) ok = p < end && *p++ == ' ';
    auto [next, ec] = std::from_chars(p, end, at[i]);
    ok = ok && ec == std::errc() && next != p;
    p = next;
  }
  BatchSchedule s;
  if (!ok || p != end) {
    s.next_hourly_ms = s.next_daily_ms =
        now_ms + std::max(options.hourly_interval_ms, kStartDelayMs);
    return s;
  }
  // Not before a minute from now, nor later than one interval from now: the interval may have
  // been shortened since, or the clock that wrote it was ahead.
  const auto within = [&](uint64_t stored_ms, int64_t interval_ms) {
    const int64_t first = now_ms + kStartDelayMs;
    const int64_t last = std::max(first, now_ms + interval_ms);
    return std::clamp(static_cast<int64_t>(std::min<uint64_t>(stored_ms, INT64_MAX)), first, last);
  };
  s.next_hourly_ms = within(at[0], options.hourly_interval_ms);
  s.next_daily_ms = within(at[1], options.daily_interval_ms);
  return s;
}

std::string FormatBatchSchedule(const BatchSchedule& schedule) {
  return std::to_string(schedule.next_hourly_ms) + " " + std::to_string(schedule.next_daily_ms);
}

void BatchLayer::Schedule() {
  SetThreadName("vigil-batch");
  EnterBackgroundPriority();
  Result<std::optional<std::string>> stored = store_->GetMeta(kScheduleKey);
  if (!stored.ok()) {
    std::fprintf(stderr, "vigil: batch: cannot read the schedule (starting a new one): %s\n",
                 stored.status().ToString().c_str());
  }
  const BatchSchedule start = ScheduleAtStart(
      stored.ok() && stored->has_value() ? std::string_view(**stored) : std::string_view(),
      clock_->NowMs(), options_);
  int64_t next_hourly = start.next_hourly_ms;
  int64_t next_daily = start.next_daily_ms;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      int64_t wait = std::min(next_hourly, next_daily) - clock_->NowMs();
      if (wait > 0) {
        cv_.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(wait, 1000)),
                     [&] { return stopping_; });
      }
      if (stopping_) return;
      if (paused_ || clock_->NowMs() < std::min(next_hourly, next_daily)) continue;
    }
    int64_t now = clock_->NowMs();
    bool daily = now >= next_daily;
    BatchRunRequest req;
    req.to_ms = BucketStart(now, Granularity::kDay) + kDayMs;
    req.from_ms = req.to_ms - (daily ? options_.days_back : options_.hourly_days) * kDayMs;
    req.only_changed = true;
    req.yield_to_ingest = true;
    Result<BatchRunResult> r = Run(req);
    if (!r.ok()) {
      std::fprintf(stderr, "vigil: batch: scheduled run: %s\n", r.status().ToString().c_str());
    } else if (r->days > 0) {
      std::fprintf(stderr, "vigil: batch: %s run: %llu days, %llu events in %.2f s\n",
                   daily ? "daily" : "hourly", static_cast<unsigned long long>(r->days),
                   static_cast<unsigned long long>(r->events), r->seconds);
    }
    next_hourly = now + options_.hourly_interval_ms;
    if (daily) next_daily = now + options_.daily_interval_ms;
    serve::WriteSet writes;
    writes.PutMeta(kScheduleKey, FormatBatchSchedule({next_hourly, next_daily}));
    if (Status st = store_->Apply(writes, /*sync=*/false); !st.ok()) {
      std::fprintf(stderr, "vigil: batch: cannot store the schedule: %s\n", st.ToString().c_str());
    }
  }
}

Result<BatchRunResult> BatchLayer::Run(const BatchRunRequest& request,
                                       const BatchProgress& progress) {
  std::lock_guard<std::mutex> run_lock(run_mu_);
  const int64_t start_ns = clock_->MonotonicNs();
  const int64_t run_start_ms = clock_->NowMs();
  if (archiver_ != nullptr) VIGIL_RETURN_IF_ERROR(archiver_->Sync());
  // What to compute: each (app, day) in range that has parts.
  struct Work {
    std::string app;
    int64_t day;
    std::string signature;
  };
  std::vector<Work> work;
  std::vector<std::string> apps;
  if (request.app.empty()) {
    apps = archive::ListArchivedApps(root_);
  } else {
    apps.push_back(request.app);
  }
  const int64_t from = BucketStart(request.from_ms, Granularity::kDay);
  for (const std::string& app : apps) {
    for (int64_t day : archive::ListArchivedDays(root_, app)) {
      if (day < from || day >= request.to_ms) continue;
      std::string sig = DaySignature(archive::ListParts(root_, app, day, day + kDayMs));
      if (request.only_changed) {
        Result<std::optional<std::string>> old = store_->GetMeta(SignatureKey(app, day));
        if (!old.ok()) return old.status();
        Result<std::optional<std::string>> sealed = store_->GetMeta(SealedKey(app, day));
        if (!sealed.ok()) return sealed.status();
        bool can_seal = day + kDayMs <= run_start_ms;
        if (old->has_value() && **old == sig && (sealed->has_value() || !can_seal)) continue;
      }
      work.push_back(Work{app, day, std::move(sig)});
    }
  }
  // Days are independent: workers take the next one until all are done or one fails.
  BatchRunResult result;
  std::mutex mu;
  Status first_error;
  size_t next = 0, done = 0;
  unsigned threads =
      options_.threads != 0 ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<size_t>(threads, work.size()));
  while (scratch_.size() < threads) scratch_.push_back(std::make_unique<DayScratch>());
  auto worker = [&](DayScratch& scratch) {
    for (;;) {
      size_t i;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next >= work.size() || !first_error.ok()) return;
        i = next++;
      }
      BatchRunResult day;
      Status st = ComputeDay(work[i].app, work[i].day, run_start_ms, work[i].signature,
                             request.yield_to_ingest, &scratch, &day);
      std::lock_guard<std::mutex> lock(mu);
      if (!st.ok()) {
        if (first_error.ok()) {
          first_error = Status(st.code(), "batch of " + work[i].app + " " + FormatDay(work[i].day) +
                                              ": " + st.message());
        }
        return;
      }
      result.days++;
      result.events += day.events;
      result.duplicates += day.duplicates;
      result.stale_cells += day.stale_cells;
      result.unchanged_days += day.unchanged_days;
      if (progress) progress(++done, work.size());
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) {
    pool.emplace_back([&worker, &scratch = *scratch_[t]] {
      SetThreadName("vigil-batch");
      EnterBackgroundPriority();
      worker(scratch);
    });
  }
  if (threads > 0) worker(*scratch_[0]);
  for (std::thread& t : pool) t.join();
  for (const std::unique_ptr<DayScratch>& s : scratch_) s->seen.Release();
  if (!first_error.ok()) {
    errors_++;
    return first_error;
  }
  result.seconds = static_cast<double>(clock_->MonotonicNs() - start_ns) / 1e9;
  runs_++;
  days_ += result.days;
  events_ += result.events;
  duplicates_ += result.duplicates;
  stale_cells_ += result.stale_cells;
  unchanged_days_ += result.unchanged_days;
  last_run_ms_ = run_start_ms;
  return result;
}

Status BatchLayer::ComputeDay(const std::string& app, int64_t day_ms, int64_t run_start_ms,
                              const std::string& signature, bool yield_to_ingest,
                              DayScratch* scratch, BatchRunResult* result) {
  std::vector<archive::PartEntry> parts = archive::ListParts(root_, app, day_ms, day_ms + kDayMs);
  aggregate::Aggregator agg(Granularity::kHour);
  const uint32_t app_id = agg.Intern(app);
  // Footers first: their row counts size the id set once, so it never grows mid-day.
  std::vector<archive::PartReader> readers;
  size_t day_rows = 0;
  for (const archive::PartEntry& part : parts) {
    Result<archive::PartReader> reader = archive::PartReader::Open(part.path);
    if (!reader.ok()) return reader.status();
    day_rows += reader->info().rows;
    readers.push_back(std::move(*reader));
  }
  IdSet& seen = scratch->seen;
  seen.Reset(day_rows);
  std::vector<uint8_t>& fresh = scratch->fresh;
  std::vector<aggregate::Aggregator::Fact>& maybe_seen = scratch->maybe_seen;
  maybe_seen.clear();
  archive::PartColumns& cols = scratch->cols;
  // Newest part first, and within a part the last row first: of two deliveries of an event,
  // the later one is seen first and kept.
  for (size_t p = readers.size(); p-- > 0;) {
    if (yield_to_ingest) {  // part by part: a day can take seconds
      YieldToIngestBurst([this] {
        std::lock_guard<std::mutex> lock(mu_);
        return stopping_;
      });
    }
    VIGIL_RETURN_IF_ERROR(readers[p].Read(kScanColumns, &cols, kScanHashes));
    PauseForIngestAfterChunk();  // a part's columns decoded (common/ingest_pause.h)
    const size_t rows = cols.rows();
    fresh.resize(rows);
    seen.AddKeys(
        rows, [&](size_t j) { return cols.id_hash(rows - 1 - j); }, fresh.data());
    const std::vector<uint32_t> versions = InternDictionary(cols, archive::kVersion, &agg);
    const std::vector<uint32_t> oses = InternDictionary(cols, archive::kOs, &agg);
    // A subject's id depends on the metric, so on the event type: cached per (code, type).
    const size_t subject_codes = cols.dictionary_size(archive::kSubject) * kEventTypeCount;
    std::vector<uint32_t> subjects(subject_codes, UINT32_MAX);
    // A part holds one hour (a row outside it still counts, through the hashed path): its
    // cells are found by (version, os) and (subject, type) codes.
    const size_t os_count = oses.size();
    aggregate::Aggregator::BucketCells cells(&agg, app_id, readers[p].info().hour_ms,
                                             versions.size() * os_count, subject_codes);
    aggregate::Aggregator::Fact f;
    f.app = app_id;
    for (size_t j = 0; j < rows; ++j) {
      PauseForIngest();
      const size_t i = rows - 1 - j;
      f.ts_ms = cols.ts(i);
      f.type = cols.type(i);
      const uint32_t version_code = cols.code(archive::kVersion, i);
      const uint32_t os_code = cols.code(archive::kOs, i);
      f.version = versions[version_code];
      f.os = oses[os_code];
      const uint8_t flags = cols.flags(i);
      f.user_hash = cols.hash64(archive::kUser, i);  // HyperLogLog::Hash(user), 0: none
      f.has_user = f.user_hash != 0;
      const uint32_t code = cols.code(archive::kSubject, i);
      const uint32_t subject_code = code * kEventTypeCount + static_cast<uint32_t>(f.type) - 1;
      uint32_t& subject = subjects[subject_code];
      if (subject == UINT32_MAX) {
        subject = agg.Subject(app_id, f.type, cols.dictionary(archive::kSubject, code));
      }
      f.subject = subject;
      f.error = (flags & archive::kFlagError) != 0;
      f.bytes = cols.bytes(i);
      f.has_latency = (flags & archive::kFlagHasLatency) != 0;
      f.latency = cols.latency(i);
      if (!fresh[j]) {
        maybe_seen.push_back(f);  // counted below, unless it repeats an earlier id
        continue;
      }
      cells.Add(f, static_cast<uint32_t>(version_code * os_count + os_code), subject_code);
      result->events++;
    }
  }
  const std::vector<uint8_t> repeated = seen.Settle();
  for (size_t m = 0; m < maybe_seen.size(); ++m) {
    if (repeated[m]) {
      result->duplicates++;
    } else {
      agg.AddFact(maybe_seen[m]);
      result->events++;
    }
  }
  aggregate::RollupMap cells;
  agg.Emit({Granularity::kHour, Granularity::kDay}, &cells);
  const std::string digest = CellsDigest(cells);
  Result<bool> held = StoreHoldsCells(app, day_ms, digest, cells.size());
  if (!held.ok()) return held.status();
  const bool seal = day_ms + kDayMs <= run_start_ms;
  serve::WriteSet writes;
  if (*held) {
    // Rewriting the very cells the store holds would cost ~10 MB of sketches per busy day
    // through the store's log, memtable and compactions. What may have changed is the day's
    // list of parts (compaction) and whether the day can be sealed now.
    result->unchanged_days++;
    Result<std::optional<std::string>> stored_signature =
        store_->GetMeta(SignatureKey(app, day_ms));
    if (!stored_signature.ok()) return stored_signature.status();
    if (*stored_signature != signature) writes.PutMeta(SignatureKey(app, day_ms), signature);
    if (seal) {
      Result<std::optional<std::string>> sealed = store_->GetMeta(SealedKey(app, day_ms));
      if (!sealed.ok()) return sealed.status();
      if (!sealed->has_value()) {
        writes.PutMeta(SealedKey(app, day_ms), std::to_string(run_start_ms));
      }
    }
    if (writes.empty()) return Status::Ok();
  } else {
    for (const auto& [key, cell] : cells) writes.PutCell(serve::Layer::kBatch, key, cell);
    std::vector<std::string> written;
    written.reserve(cells.size());
    for (const auto& [key, cell] : cells) written.push_back(aggregate::EncodeRollupKey(key));
    std::sort(written.begin(), written.end());
    VIGIL_RETURN_IF_ERROR(DeleteStaleCells(app, day_ms, written, &writes, result));
    writes.PutMeta(CellKeysKey(app, day_ms), EncodeDayCellKeys(written));
    writes.PutMeta(DigestKey(app, day_ms), digest);
    writes.PutMeta(SignatureKey(app, day_ms), signature);
    if (seal) writes.PutMeta(SealedKey(app, day_ms), std::to_string(run_start_ms));
  }
  Status st = store_->Apply(writes, /*sync=*/true);
  generation_.fetch_add(1, std::memory_order_acq_rel);  // even on failure: part may have landed
  return st;
}

Result<bool> BatchLayer::StoreHoldsCells(const std::string& app, int64_t day_ms,
                                         const std::string& digest, size_t cells) {
  Result<std::optional<std::string>> stored = store_->GetMeta(DigestKey(app, day_ms));
  if (!stored.ok()) return stored.status();
  if (!stored->has_value() || **stored != digest) return false;
  // The digest was written with the cells and their key list, in one write; a damaged list is
  // replaced by writing the day again.
  Result<std::optional<std::string>> list = store_->GetMeta(CellKeysKey(app, day_ms));
  if (!list.ok()) return list.status();
  std::vector<std::string> keys;
  return list->has_value() && DecodeDayCellKeys(**list, &keys).ok() && keys.size() == cells;
}

Status BatchLayer::DeleteStaleCells(const std::string& app, int64_t day_ms,
                                    const std::vector<std::string>& written,
                                    serve::WriteSet* writes, BatchRunResult* result) {
  Result<std::optional<std::string>> stored = store_->GetMeta(CellKeysKey(app, day_ms));
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return Status::Ok();  // first run of the day (or by a version before)
  std::vector<std::string> previous;
  Status st = DecodeDayCellKeys(**stored, &previous);
  if (!st.ok()) {
    // Damage in the store must not stop batch for good: this run's list replaces it.
    std::fprintf(stderr, "vigil: batch: %s %s: %s; its cells are overwritten, none deleted\n",
                 app.c_str(), FormatDay(day_ms).c_str(), st.ToString().c_str());
    return Status::Ok();
  }
  std::vector<std::string> stale;
  std::set_difference(previous.begin(), previous.end(), written.begin(), written.end(),
                      std::back_inserter(stale));
  for (const std::string& encoded : stale) {
    aggregate::RollupKey key;
    if (!aggregate::DecodeRollupKey(encoded, &key).ok()) continue;  // not a key we could write
    writes->DeleteCell(serve::Layer::kBatch, key);
    result->stale_cells++;
  }
  return Status::Ok();
}

std::set<int64_t> BatchLayer::SealedDays(const std::string& app, int64_t from_ms, int64_t to_ms) {
  std::set<int64_t> days;
  std::string prefix = "batch/sealed/" + app + "/";
  (void)store_->ScanMeta(prefix, [&](std::string_view name, std::string_view) {
    Result<int64_t> day = ParseTime(name.substr(prefix.size()));
    if (day.ok() && *day + kDayMs > from_ms && *day < to_ms) days.insert(*day);
  });
  return days;
}

int64_t BatchLayer::SealedUntil(const std::string& app) {
  std::set<int64_t> days = SealedDays(app, INT64_MIN / 2, INT64_MAX / 2);
  return days.empty() ? 0 : *days.rbegin() + kDayMs;
}

void BatchLayer::RenderMetrics(std::string* out) const {
  AppendMetric(out, "vigil_batch_runs_total", "counter", "Batch runs finished.", runs_);
  AppendMetric(out, "vigil_batch_days_total", "counter", "(app, day) pairs recomputed.", days_);
  AppendMetric(out, "vigil_batch_events_total", "counter",
               "Distinct events aggregated by batch runs.", events_);
  AppendMetric(out, "vigil_batch_duplicates_total", "counter",
               "Repeated event ids dropped by batch runs.", duplicates_);
  AppendMetric(out, "vigil_batch_stale_cells_deleted_total", "counter",
               "Cells an earlier run wrote that a rerun of their day no longer produced.",
               stale_cells_);
  AppendMetric(out, "vigil_batch_unchanged_days_total", "counter",
               "(app, day) pairs recomputed to the cells already stored: nothing rewritten.",
               unchanged_days_);
  AppendMetric(out, "vigil_batch_errors_total", "counter", "Failed batch runs.", errors_);
  AppendMetric(out, "vigil_batch_last_run_ms", "gauge",
               "Start of the last finished batch run (epoch ms).",
               static_cast<uint64_t>(std::max<int64_t>(0, last_run_ms_.load())));
}

}  // namespace vigil::batch
