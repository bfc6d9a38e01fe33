// References to base-log records: their encoding, their resolution on read, and the base-log
// commits that keep what a reader still needs.
#include "log/resolving_log.h"

#include <algorithm>

#include "common/coding.h"
#include "common/prometheus_text.h"

namespace vigil::log {

namespace {
constexpr char kMagic[2] = {'V', 'R'};
constexpr uint8_t kVersion = 1;
}  // namespace

std::string EncodeReference(uint64_t base_offset) {
  std::string out = {kMagic[0], kMagic[1], static_cast<char>(kVersion), '\0'};
  PutFixed64(&out, base_offset);
  return out;
}

bool DecodeReference(std::string_view payload, uint64_t* base_offset) {
  if (payload.size() != kReferenceSize || payload[0] != kMagic[0] || payload[1] != kMagic[1] ||
      static_cast<uint8_t>(payload[2]) != kVersion || payload[3] != 0) {
    return false;
  }
  *base_offset = DecodeFixed64(payload.data() + 4);
  return true;
}

Status ResolvingLog::Read(std::string_view partition, uint64_t from, size_t max_records,
                          std::vector<LogRecord>* out) {
  const size_t first = out->size();
  VIGIL_RETURN_IF_ERROR(log_->Read(partition, from, max_records, out));
  // The base offsets named, in order of the records (ascending but for a writer's replays).
  std::vector<std::pair<size_t, uint64_t>> refs;
  for (size_t i = first; i < out->size(); ++i) {
    uint64_t base;
    if (DecodeReference((*out)[i].payload, &base)) refs.emplace_back(i, base);
  }
  std::vector<LogRecord> base_records;  // ascending offsets
  std::vector<bool> taken;              // payload moved out already
  auto find = [&](uint64_t base) {
    return static_cast<size_t>(
        std::lower_bound(base_records.begin(), base_records.end(), base,
                         [](const LogRecord& r, uint64_t o) { return r.offset < o; }) -
        base_records.begin());
  };
  for (size_t k = 0; k < refs.size(); ++k) {
    const auto [i, base] = refs[k];
    size_t j = find(base);
    if (j == base_records.size() || base_records[j].offset != base || taken[j]) {
      // Read from here to the last reference of the ascending run ahead (a writer's replay of
      // offsets it had written ends the run, and reads them again).
      // A damaged run (a reference far ahead) is read a piece at a time: at most twice the
      // references left, plus a few; the rest comes with the next read.
      uint64_t last = base;
      for (size_t n = k + 1; n < refs.size() && refs[n].second > last; ++n) last = refs[n].second;
      const uint64_t count = std::min<uint64_t>(last - base + 1, 2 * (refs.size() - k) + 16);
      base_records.clear();
      Status st = base_->Read(partition, base, static_cast<size_t>(count), &base_records);
      if (!st.ok() && st.code() != StatusCode::kNotFound) return st;
      taken.assign(base_records.size(), false);
      j = find(base);
    }
    if (j < base_records.size() && base_records[j].offset == base) {
      (*out)[i].payload = std::move(base_records[j].payload);
      taken[j] = true;
    } else {
      unresolved_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return Status::Ok();
}

Result<bool> ResolvingLog::NeededBase(std::string_view partition, uint64_t next, uint64_t* base) {
  // The writer's commit first: every reference appended after it names base offsets at or above.
  Result<uint64_t> written = base_->CommittedOffset(writer_consumer_, partition);
  if (!written.ok()) return written.status();
  uint64_t least = UINT64_MAX;
  size_t seen = 0;
  while (seen < kLookAhead) {
    std::vector<LogRecord> records;
    Status st = log_->Read(partition, next, kLookAhead - seen, &records);
    if (!st.ok() && st.code() != StatusCode::kNotFound) return st;  // not found: nothing yet
    if (records.empty()) {  // the end: what is appended from now on names `written` or above
      *base = std::min(least, *written);
      return true;
    }
    for (const LogRecord& r : records) {
      uint64_t b;
      if (DecodeReference(r.payload, &b)) least = std::min(least, b);
    }
    seen += records.size();
    next = records.back().offset + 1;
  }
  if (least == UINT64_MAX) return false;
  *base = least;
  return true;
}

Status ResolvingLog::CommitOffset(std::string_view consumer, std::string_view partition,
                                  uint64_t next_offset) {
  VIGIL_RETURN_IF_ERROR(log_->CommitOffset(consumer, partition, next_offset));
  return CommitBase(consumer, partition, next_offset);
}

Status ResolvingLog::RefreshBase(std::string_view consumer, std::string_view partition) {
  Result<uint64_t> next = log_->CommittedOffset(consumer, partition);
  if (!next.ok()) return next.status();
  return CommitBase(consumer, partition, *next);
}

Status ResolvingLog::CommitBase(std::string_view consumer, std::string_view partition,
                                uint64_t next) {
  std::lock_guard<std::mutex> lock(base_mu_);
  uint64_t needed = 0;
  Result<bool> known = NeededBase(partition, next, &needed);
  if (!known.ok()) return known.status();
  if (!*known) return Status::Ok();
  Result<uint64_t> committed = base_->CommittedOffset(consumer, partition);
  if (!committed.ok()) return committed.status();
  if (needed <= *committed) return Status::Ok();
  return base_->CommitOffset(consumer, partition, needed);
}

void ResolvingLog::RenderMetrics(std::string* out) const {
  AppendMetric(out, "vigil_log_unresolved_references_total", "counter",
               "Processed records naming a raw record the raw log no longer has (skipped by "
               "their readers as damaged).",
               unresolved_references());
}

}  // namespace vigil::log
