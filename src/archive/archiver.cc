// The archive stage: processed log → part files, compaction and retention (see archiver.h).
#include "archive/archiver.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unordered_set>

#include "archive/archive_layout.h"
#include "common/batch_record.h"
#include "common/binary_value.h"
#include "common/file_util.h"
#include "common/ingest_burst.h"
#include "common/ingest_pause.h"
#include "common/prometheus_text.h"
#include "common/rate_limited_log.h"
#include "common/thread_name.h"
#include "common/thread_priority.h"
#include "common/time_bucket.h"
#include "common/time_format.h"

namespace vigil::archive {

namespace {

// The batch context every row of a record shares, as a binary-value object.
std::string EncodeContext(const BatchHeader& h) {
  std::string out;
  BinaryValueWriter w(&out);
  w.BeginObject();
  w.Key("batch_id");
  w.String(h.batch_id);
  w.Key("sent_at_ms");
  w.Int(h.sent_at_ms);
  w.Key("received_ms");
  w.Int(h.received_ms);
  w.Key("skew_ms");
  w.Int(h.skew_ms);
  for (auto [key, value] : {std::pair{"device", h.device}, std::pair{"app", h.app},
                            std::pair{"user", h.user}, std::pair{"extra", h.extra}}) {
    if (!value.present()) continue;
    w.Key(key);
    w.Encoded(value.bytes());
  }
  w.EndObject();
  return out;
}

// A part's columns, read for compaction: its rows view them.
struct ReadPart {
  PartColumns columns;
  // One per row: rows next to each other in time order seldom share a batch, and WritePart
  // interns their values by content anyway.
  std::vector<ArchiveBatchContext> batches;
};

// Reads every column of a part into `part`, and appends views of its rows to `rows`.
Status ReadRows(const std::string& path, ReadPart* part, std::vector<ArchiveRowView>* rows,
                PartInfo* info) {
  Result<PartReader> reader = PartReader::Open(path);
  if (!reader.ok()) return reader.status();
  *info = reader->info();
  const PartColumns& cols = part->columns;
  VIGIL_RETURN_IF_ERROR(reader->Read(kRowColumns, &part->columns));
  part->batches.resize(cols.rows());
  for (size_t i = 0; i < cols.rows(); ++i) {
    part->batches[i] = {cols.str(kVersion, i), cols.str(kOs, i), cols.str(kUser, i),
                        cols.str(kContext, i)};
    rows->push_back(
        {cols.str(kId, i), cols.str(kFields, i), cols.ts(i), cols.type(i), &part->batches[i]});
  }
  return Status::Ok();
}

uint64_t PartRows(const std::string& path) {
  Result<PartReader> reader = PartReader::Open(path);
  return reader.ok() ? reader->info().rows : 0;
}

}  // namespace

Result<std::unique_ptr<Archiver>> Archiver::Open(log::LogStore* processed, std::string root,
                                                 Clock* clock, ArchiverOptions options) {
  VIGIL_RETURN_IF_ERROR(MakeDirs(root));
  std::unique_ptr<Archiver> a(new Archiver(processed, std::move(root), clock, std::move(options)));
  VIGIL_RETURN_IF_ERROR(a->Recover());
  a->last_flush_ms_ = a->last_maintenance_ms_ = a->clock_->NowMs();
  return a;
}

Archiver::~Archiver() { Stop(); }

Status Archiver::Recover() {
  std::map<std::string, log::PartitionInfo> partitions;
  for (log::PartitionInfo& p : processed_->Partitions()) partitions[p.name] = p;
  for (const std::string& app : ListArchivedApps(root_)) {
    Result<uint64_t> committed = processed_->CommittedOffset(options_.consumer, app);
    if (!committed.ok()) return committed.status();
    auto pit = partitions.find(app);
    uint64_t rows = 0;
    for (const PartEntry& part : ListParts(root_, app, INT64_MIN / 2, INT64_MAX / 2)) {
      // Written by a flush that never committed, and the log still holds its records: they
      // will be archived again from the committed offset.
      bool uncommitted = part.source_end > *committed && part.source_first >= *committed &&
                         pit != partitions.end() && pit->second.start_offset <= part.source_first &&
                         part.source_end <= pit->second.end_offset;
      if (uncommitted) {
        std::fprintf(stderr, "vigil: archive: removing %s (its flush did not commit)\n",
                     part.path.c_str());
        if (::unlink(part.path.c_str()) != 0) {
          return Status::FromErrno("unlink " + part.path, errno);
        }
        continue;
      }
      rows += PartRows(part.path);
    }
    std::lock_guard<std::mutex> lock(mu_);
    archived_rows_[app] = rows;
  }
  return Status::Ok();
}

void Archiver::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (running_) return;
  running_ = true;
  stopping_ = false;
  last_flush_ms_ = last_maintenance_ms_ = clock_->NowMs();
  worker_ = std::thread([this] { Run(); });
}

void Archiver::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = false;
  }
  Status st = FlushAll();
  if (!st.ok()) std::fprintf(stderr, "vigil: archive: final flush: %s\n", st.ToString().c_str());
}

void Archiver::Run() {
  SetThreadName("vigil-archive");
  EnterBackgroundPriority();
  RateLimitedLog errors;
  for (;;) {
    uint64_t sync_target = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      if (sync_requested_ > sync_done_) sync_target = sync_requested_;
    }
    if (sync_target != 0) {
      Status st = DrainAndFlush();
      {
        std::lock_guard<std::mutex> lock(mu_);
        sync_done_ = sync_target;
        sync_status_ = st;
      }
      cv_.notify_all();
    }
    YieldToIngestBurst([this] {
      std::lock_guard<std::mutex> lock(mu_);
      return stopping_ || sync_requested_ > sync_done_;  // a caller waits for a drain
    });
    bool did = false;
    Status st = RunRound(&did);
    if (!st.ok()) {
      errors_++;
      errors.Print("vigil: archive: " + st.ToString());
    }
    int64_t now = clock_->NowMs();
    if (now - last_maintenance_ms_ >= options_.maintenance_interval_ms) {
      last_maintenance_ms_ = now;
      st = RunMaintenance(false);
      if (!st.ok()) errors.Print("vigil: archive: " + st.ToString());
    }
    if (!did || !st.ok()) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(options_.idle_wait_ms),
                   [&] { return stopping_ || sync_requested_ > sync_done_; });
    }
  }
}

Status Archiver::Sync(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!running_) {
    lock.unlock();
    return DrainAndFlush();
  }
  uint64_t ticket = ++sync_requested_;
  cv_.notify_all();
  if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                    [&] { return sync_done_ >= ticket || stopping_; })) {
    return Status::Unavailable("the archiver did not catch up within " +
                               std::to_string(timeout_ms) + " ms");
  }
  if (sync_done_ < ticket) return Status::Unavailable("the archiver is stopping");
  return sync_status_;
}

Status Archiver::DrainAndFlush() {
  // A buffer whose flush failed reads nothing until that flush succeeds: retry it first, or
  // the drain would stop short of the log's end and still report success.
  for (auto& [app, buffer] : buffers_) {
    if (buffer.flush_failed) VIGIL_RETURN_IF_ERROR(FlushApp(app, &buffer));
  }
  // `p` is a snapshot: ReadTurn stops once the app's buffer reaches its end offset.
  for (const log::PartitionInfo& p : processed_->Partitions()) {
    for (bool did = true; did;) {
      VIGIL_RETURN_IF_ERROR(ReadTurn(p, &did));
      if (buffered_rows_ >= options_.max_buffered_rows ||
          buffered_bytes_ >= options_.max_buffered_bytes) {
        VIGIL_RETURN_IF_ERROR(FlushAll());
      }
    }
  }
  return FlushAll();
}

Status Archiver::RunRound(bool* did_work) {
  *did_work = false;
  for (const log::PartitionInfo& p : processed_->Partitions()) {
    bool did = false;
    VIGIL_RETURN_IF_ERROR(ReadTurn(p, &did));
    *did_work |= did;
  }
  int64_t now = clock_->NowMs();
  if (buffered_rows_ >= options_.max_buffered_rows ||
      buffered_bytes_ >= options_.max_buffered_bytes ||
      (buffered_rows_ > 0 && now - last_flush_ms_ >= options_.flush_interval_ms)) {
    VIGIL_RETURN_IF_ERROR(FlushAll());
  }
  return Status::Ok();
}

Status Archiver::ReadTurn(const log::PartitionInfo& p, bool* did_work) {
  *did_work = false;
  auto it = buffers_.find(p.name);
  if (it == buffers_.end()) {
    Result<uint64_t> committed = processed_->CommittedOffset(options_.consumer, p.name);
    if (!committed.ok()) return committed.status();
    AppBuffer b;
    b.first = b.next = std::max(*committed, p.start_offset);
    it = buffers_.emplace(p.name, std::move(b)).first;
  }
  AppBuffer& b = it->second;
  if (b.flush_failed) return Status::Ok();  // until its flush succeeds (AppBuffer says why)
  if (b.next == b.first) b.first = b.next = std::max(b.next, p.start_offset);
  if (b.next >= p.end_offset) return Status::Ok();
  std::vector<log::LogRecord> records;
  VIGIL_RETURN_IF_ERROR(processed_->Read(p.name, b.next, options_.records_per_turn, &records));
  BatchRecord batch;
  for (log::LogRecord& r : records) {
    PauseForIngest();
    // Decoded where it is kept, so that the views stay valid (a short string's bytes move).
    BufferedBatch& kept = b.batches.emplace_back();
    kept.payload = std::move(r.payload);
    if (!DecodeBatchRecord(kept.payload, &batch, ValueCheck::kShallow).ok()) {
      b.batches.pop_back();
      corrupt_records_++;
      std::fprintf(stderr, "vigil: archive: processed record %s/%llu does not decode; skipped\n",
                   p.name.c_str(), static_cast<unsigned long long>(r.offset));
      b.next = r.offset + 1;
      continue;
    }
    const BatchHeader& h = batch.header;
    kept.context = EncodeContext(h);
    kept.views.version = h.app.Get("version").AsString();
    kept.views.os = h.device.Get("os").AsString();
    kept.views.user = h.user.Get("id").AsString();
    if (kept.views.user.empty()) kept.views.user = h.device.Get("id").AsString();
    kept.views.context = kept.context;
    const size_t bytes = sizeof(BufferedBatch) + kept.payload.capacity() + kept.context.capacity() +
                         batch.events.size() * sizeof(ArchiveRowView);
    // Consecutive events of a batch are mostly of one hour.
    int64_t hour = INT64_MIN;
    std::vector<ArchiveRowView>* rows = nullptr;
    for (const EventView& e : batch.events) {
      const int64_t event_hour = BucketStart(e.ts_ms, Granularity::kHour);
      if (event_hour != hour) {
        hour = event_hour;
        rows = &b.hours[hour];
      }
      rows->push_back({e.id, e.fields.bytes(), e.ts_ms, e.type, &kept.views});
    }
    b.rows += batch.events.size();
    b.bytes += bytes;
    buffered_rows_ += batch.events.size();
    buffered_bytes_ += bytes;
    b.next = r.offset + 1;
  }
  *did_work = !records.empty();
  return Status::Ok();
}

Status Archiver::FlushAll() {
  Status first;
  for (auto& [app, buffer] : buffers_) {
    Status st = FlushApp(app, &buffer);
    if (!st.ok() && first.ok()) first = st;
  }
  last_flush_ms_ = clock_->NowMs();
  return first;
}

Status Archiver::FlushApp(const std::string& app, AppBuffer* b) {
  if (b->next == b->first) return Status::Ok();
  uint64_t rows = 0, parts = 0;
  // On a failure the buffer stays whole, takes no more records, and the same parts are written
  // again (same names, replaced atomically) by the next flush; nothing is committed until all
  // are written.
  b->flush_failed = true;
  for (auto& [hour, hour_rows] : b->hours) {
    if (hour_rows.empty()) continue;
    VIGIL_RETURN_IF_ERROR(MakeDirs(HourDir(root_, app, hour)));
    PartInfo info;
    info.app = app;
    info.hour_ms = hour;
    info.source_first = b->first;
    info.source_end = b->next;
    // The buffer keeps its rows until the commit, so a retry after a failure loses nothing.
    Status st = WritePart(PartPath(root_, app, hour, b->first, b->next), hour_rows, &info,
                          options_.flush_compression);
    if (!st.ok()) {
      errors_++;
      return Status(st.code(), "archive flush of " + app + ": " + st.message());
    }
    rows += info.rows;
    parts++;
    hour_written_ms_[{app, hour}] = clock_->NowMs();
  }
  VIGIL_RETURN_IF_ERROR(processed_->CommitOffset(options_.consumer, app, b->next));
  b->flush_failed = false;
  buffered_rows_ -= b->rows;
  buffered_bytes_ -= b->bytes;
  // Hours that got no rows since the last flush go; the others keep their vectors' room.
  std::erase_if(b->hours, [](const auto& hour) { return hour.second.empty(); });
  for (auto& [hour, hour_rows] : b->hours) hour_rows.clear();
  b->batches.clear();
  b->rows = b->bytes = 0;
  b->first = b->next;
  rows_written_ += rows;
  parts_written_ += parts;
  flushes_++;
  std::lock_guard<std::mutex> lock(mu_);
  archived_rows_[app] += rows;
  return Status::Ok();
}

Status Archiver::RunMaintenance(bool force) {
  int64_t now = clock_->NowMs();
  std::erase_if(hour_written_ms_, [&](const auto& entry) {
    return entry.second + options_.compact_settle_ms <= now;
  });
  Status first;
  for (const std::string& app : ListArchivedApps(root_)) {
    std::vector<PartEntry> parts = ListParts(root_, app, INT64_MIN / 2, INT64_MAX / 2);
    for (size_t i = 0; i < parts.size();) {
      size_t j = i;
      while (j < parts.size() && parts[j].hour_ms == parts[i].hour_ms) ++j;
      if (j - i > 1) {
        Status st = CompactHour(app, parts[i].hour_ms, force, now);
        if (!st.ok()) {
          errors_++;
          if (first.ok()) first = st;
        }
      }
      i = j;
    }
  }
  Status st = EnforceRetention(now);
  return first.ok() ? st : first;
}

Status Archiver::CompactHour(const std::string& app, int64_t hour_ms, bool force, int64_t now_ms) {
  std::vector<PartEntry> parts = ListParts(root_, app, hour_ms, hour_ms + kHourMs);
  if (parts.size() < 2) return Status::Ok();
  // Settled: ended, and quiet (no new part) for compact_settle_ms. Old hours that keep getting
  // late events are not rewritten whole (with the slower lasting compression) at every
  // maintenance: in the ingest bench, whose events span two days, those full merges of hours
  // that had just taken another part doubled the archive's CPU while ingest was at its peak.
  auto written = hour_written_ms_.find({app, hour_ms});
  const bool quiet =
      written == hour_written_ms_.end() || written->second + options_.compact_settle_ms <= now_ms;
  bool settled = quiet && hour_ms + kHourMs + options_.compact_settle_ms <= now_ms;
  if (!force && !settled && parts.size() < options_.compact_max_parts) return Status::Ok();
  const bool final_merge = force || settled;
  if (!final_merge) {
    // An hour not settled merges only its newest parts: back from the newest, up to a part bigger
    // than all the parts after it together, which stays. Merging the whole hour each time it
    // gathered compact_max_parts parts rewrote everything it held again and again (quadratic
    // under steady load); this way each merge is of about the size of what is new, and the
    // hour's one final merge, once it settles, rewrites it once more.
    uint64_t newer = 0;
    size_t from = parts.size();
    while (from > 0) {
      struct stat st;
      const uint64_t size = ::stat(parts[from - 1].path.c_str(), &st) == 0 ? st.st_size : 0;
      if (parts.size() - from >= 2 && size > newer) break;
      newer += size;
      --from;
    }
    parts.erase(parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(from));
  }
  std::vector<ArchiveRowView> rows;
  std::deque<ReadPart> read;  // what `rows` view
  uint64_t first = UINT64_MAX, end = 0, before = 0;
  std::vector<std::string> inputs;
  for (const PartEntry& part : parts) {
    PartInfo info;
    Status st = ReadRows(part.path, &read.emplace_back(), &rows, &info);
    PauseForIngestAfterChunk();  // a part read (common/ingest_pause.h)
    if (!st.ok()) {
      // A damaged part stays where it is, for an operator to look at; the rest merge.
      read.pop_back();
      corrupt_parts_++;
      std::fprintf(stderr, "vigil: archive: cannot compact %s: %s\n", part.path.c_str(),
                   st.ToString().c_str());
      continue;
    }
    before += info.rows;
    first = std::min(first, part.source_first);
    end = std::max(end, part.source_end);
    inputs.push_back(part.path);
  }
  if (inputs.size() < 2) return Status::Ok();
  // Later deliveries win: walk backwards (parts are in processed-log order), keep the first
  // sighting of each id.
  std::unordered_set<std::string_view> seen;
  seen.reserve(rows.size());
  std::vector<ArchiveRowView> kept;
  kept.reserve(rows.size());
  for (size_t i = rows.size(); i-- > 0;) {
    PauseForIngest();
    if (!seen.insert(rows[i].id).second) continue;
    kept.push_back(rows[i]);
  }
  seen.clear();
  std::reverse(kept.begin(), kept.end());
  PartInfo info;
  info.app = app;
  info.hour_ms = hour_ms;
  info.source_first = first;
  info.source_end = end;
  size_t kept_rows = kept.size();
  std::string out = PartPath(root_, app, hour_ms, first, end);
  // Only a final merge writes the hour's lasting part; an open hour's merges are written as fast
  // as flushes are, since they will be merged again.
  VIGIL_RETURN_IF_ERROR(WritePart(
      out, kept, &info, final_merge ? options_.compact_compression : options_.flush_compression));
  for (const std::string& path : inputs) {
    if (path == out) continue;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno("unlink " + path, errno);
    }
  }
  VIGIL_RETURN_IF_ERROR(SyncDir(HourDir(root_, app, hour_ms)));
  compactions_++;
  duplicates_dropped_ += before - kept_rows;
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t& n = archived_rows_[app];
  n -= std::min<uint64_t>(n, before - kept_rows);
  return Status::Ok();
}

Status Archiver::EnforceRetention(int64_t now_ms) {
  Status first;
  for (const std::string& app : ListArchivedApps(root_)) {
    auto it = options_.app_retention_days.find(app);
    int64_t days = it != options_.app_retention_days.end() ? it->second : options_.retention_days;
    if (days <= 0) continue;  // keep forever
    // A day goes once all of it is older than the retention: day end <= now - retention.
    int64_t cutoff = BucketStart(now_ms, Granularity::kDay) - (days - 1) * kDayMs;
    for (int64_t day : ListArchivedDays(root_, app)) {
      if (day + kDayMs > cutoff) break;
      std::string dir = DayDir(root_, app, day);
      uint64_t rows = 0;
      for (const PartEntry& p : ListParts(root_, app, day, day + kDayMs)) rows += PartRows(p.path);
      // Renamed first, so a crash mid-delete never leaves a half day that looks whole.
      std::string doomed = AppDir(root_, app) + "/.expired-" + FormatDay(day);
      Status st;
      if (::rename(dir.c_str(), doomed.c_str()) != 0) {
        st = Status::FromErrno("rename " + dir, errno);
      } else {
        st = RemoveTree(doomed);
      }
      if (!st.ok()) {
        errors_++;
        if (first.ok()) first = st;
        continue;
      }
      days_expired_++;
      std::lock_guard<std::mutex> lock(mu_);
      uint64_t& n = archived_rows_[app];
      n -= std::min(n, rows);
    }
    // Leftovers of a delete a crash interrupted.
    Result<std::vector<std::string>> names = ListDir(AppDir(root_, app));
    if (names.ok()) {
      for (const std::string& n : *names) {
        if (n.rfind(".expired-", 0) == 0) (void)RemoveTree(AppDir(root_, app) + "/" + n);
      }
    }
  }
  return first;
}

ArchiverStats Archiver::stats() const {
  ArchiverStats s;
  s.rows_written = rows_written_;
  s.parts_written = parts_written_;
  s.flushes = flushes_;
  s.compactions = compactions_;
  s.duplicates_dropped = duplicates_dropped_;
  s.days_expired = days_expired_;
  s.corrupt_records = corrupt_records_;
  s.corrupt_parts = corrupt_parts_;
  s.errors = errors_;
  return s;
}

uint64_t Archiver::archived_rows(const std::string& app) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = archived_rows_.find(app);
  return it == archived_rows_.end() ? 0 : it->second;
}

void Archiver::RenderMetrics(std::string* out) const {
  ArchiverStats s = stats();
  AppendMetric(out, "vigil_archive_rows_written_total", "counter",
               "Events written to archive parts by flushes.", s.rows_written);
  AppendMetric(out, "vigil_archive_parts_written_total", "counter",
               "Part files written by flushes.", s.parts_written);
  AppendMetric(out, "vigil_archive_compactions_total", "counter",
               "App-hours whose parts were merged into one.", s.compactions);
  AppendMetric(out, "vigil_archive_duplicates_dropped_total", "counter",
               "Rows dropped by compaction because a later delivery had the same event id.",
               s.duplicates_dropped);
  AppendMetric(out, "vigil_archive_days_expired_total", "counter",
               "Day partitions deleted by retention.", s.days_expired);
  AppendMetric(out, "vigil_archive_corrupt_records_total", "counter",
               "Processed-log records that did not decode (skipped).", s.corrupt_records);
  AppendMetric(out, "vigil_archive_corrupt_parts_total", "counter",
               "Parts compaction could not read (left in place).", s.corrupt_parts);
  AppendMetric(out, "vigil_archive_errors_total", "counter",
               "Failed flushes, compactions or deletions (retried).", s.errors);
}

}  // namespace vigil::archive
