// Partition recovery, staged group writes, reads, retention and dropping consumed pages.
#include "log/partition.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <set>

#include "common/file_util.h"
#include "common/ingest_burst.h"
#include "log/consumer_offsets.h"
#include "log/record_format.h"
#include "log/segment_reader.h"

namespace vigil::log {

namespace {
constexpr uint64_t kIndexEveryBytes = 1 << 20;
constexpr std::string_view kSegmentSuffix = ".seg";

bool ParseSegmentName(const std::string& name, uint64_t* base) {
  if (name.size() != 20 + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + (name[i] - '0');
  }
  *base = v;
  return true;
}
}  // namespace

std::string Partition::SegmentPath(uint64_t base) const {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020" PRIu64, base);
  return dir_ + "/" + buf + std::string(kSegmentSuffix);
}

Result<std::unique_ptr<Partition>> Partition::Open(const std::string& dir, std::string name,
                                                   const PartitionOptions& options, Clock* clock) {
  std::unique_ptr<Partition> p(new Partition(dir, std::move(name), options, clock));
  if (!options.read_only) VIGIL_RETURN_IF_ERROR(MakeDirs(dir));
  VIGIL_RETURN_IF_ERROR(p->Recover());
  p->options_.on_segment_scanned = nullptr;  // it may name the caller's locals
  return p;
}

Status Partition::Recover() {
  if (!options_.read_only && ::unlink(SparePath().c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno("remove the unused spare segment " + SparePath(), errno);
  }
  Result<std::vector<std::string>> names = ListDir(dir_);
  if (!names.ok()) return names.status();
  std::vector<std::pair<uint64_t, std::string>> files;
  for (const std::string& n : *names) {
    uint64_t base;
    if (ParseSegmentName(n, &base)) files.emplace_back(base, dir_ + "/" + n);
  }
  std::sort(files.begin(), files.end());
  // A read-only open (the tools) answers no appends: it keeps no dedup keys, and reads none.
  const int64_t dedup_since = options_.read_only || options_.dedup_window_ms <= 0
                                  ? INT64_MAX
                                  : clock_->NowMs() - options_.dedup_window_ms;

  // A crash while creating a segment can leave it without a complete header. Nothing in such a
  // file was acknowledged (records are synced only after the header), so it is removed.
  while (!files.empty() && !options_.read_only) {
    Result<std::unique_ptr<SegmentReader>> probe = SegmentReader::Open(files.back().second);
    if (probe.ok()) break;
    std::fprintf(stderr, "vigil: log %s: removing segment with incomplete header %s\n",
                 name_.c_str(), files.back().second.c_str());
    if (::unlink(files.back().second.c_str()) != 0) {
      return Status::FromErrno("unlink " + files.back().second, errno);
    }
    VIGIL_RETURN_IF_ERROR(SyncDir(dir_));
    files.pop_back();
  }

  if (!options_.read_only) {
    // Summaries without their segment: kept for their keys while those are in the dedup window
    // (kept_summaries_), else deleted, like unfinished ones.
    std::set<std::string> with_segment;
    for (const auto& f : files) with_segment.insert(SummaryPath(f.second));
    for (const std::string& n : *names) {
      const std::string p = dir_ + "/" + n;
      if (n.ends_with(".summary.tmp")) {
        ::unlink(p.c_str());
      } else if (n.ends_with(".summary") && !with_segment.contains(p)) {
        uint64_t base;
        SegmentSummary s;
        if (ParseSegmentName(n.substr(0, n.size() - 8) + std::string(kSegmentSuffix), &base) &&
            ReadSegmentSummary(p, base, std::nullopt, dedup_since, &s).ok() &&
            s.last_append_ms >= dedup_since) {
          RememberKeys(s, dedup_since);
          kept_summaries_.emplace_back(s.last_append_ms, p);
        } else {
          ::unlink(p.c_str());
        }
      }
    }
    // Oldest first, as retention adds them and takes them off the front.
    std::sort(kept_summaries_.begin(), kept_summaries_.end());
  }

  for (size_t i = 0; i < files.size(); ++i) {
    const bool last = i + 1 == files.size();
    const std::string& path = files[i].second;
    if (!last && RecoverFromSummary(files[i].first, path, files[i + 1].first, dedup_since)) {
      continue;
    }
    Result<std::unique_ptr<SegmentReader>> reader = SegmentReader::Open(path);
    if (!reader.ok()) return reader.status();
    SegmentReader& r = **reader;
    if (r.header().base_offset != files[i].first) {
      return Status::Corruption(path + ": header says base offset " +
                                std::to_string(r.header().base_offset) + ", file name disagrees");
    }
    Segment seg{files[i].first, r.header().created_ms, path, kSegmentHeaderSize, 0, 0, {}};
    uint64_t next = seg.base_offset;
    // For its summary: every key of the segment, not only those in the dedup window.
    SummaryKeys keys(seg.base_offset, seg.created_ms);
    LogRecord rec;
    uint64_t last_indexed = 0;
    SegmentReader::Outcome outcome;
    uint64_t pos = r.position();
    // A segment's records end where the next segment begins: records after that in its file
    // repeat the next one's offsets (bytes of a failed round that could not be cut, see
    // Commit) and were never acknowledged.
    const uint64_t limit = last ? UINT64_MAX : files[i + 1].first;
    bool stale = false;
    // The last segment's records are CRC-checked: that is where a crash can leave damage.
    for (; (outcome = r.Next(&rec, /*read_payload=*/last)) == SegmentReader::Outcome::kRecord;
         pos = r.position()) {
      if (rec.offset >= limit) {
        stale = true;
        break;
      }
      if (seg.index.empty() || pos - last_indexed >= kIndexEveryBytes) {
        seg.index.emplace_back(rec.offset, pos);
        last_indexed = pos;
      }
      seg.items += rec.item_count;
      ++seg.records;
      if (rec.dedup_key != 0) {
        keys.Add(rec.dedup_key, rec.offset, rec.append_time_ms);
        if (rec.append_time_ms >= dedup_since) {
          RememberKey(rec.dedup_key, rec.offset, rec.append_time_ms);
        }
      }
      seg.last_append_ms = std::max(seg.last_append_ms, rec.append_time_ms);
      next = rec.offset + 1;
    }
    if (last && outcome != SegmentReader::Outcome::kEnd && !options_.read_only) {
      uint64_t valid = r.position();
      if (outcome == SegmentReader::Outcome::kCorrupt) {
        // A complete record that fails its checks: keep the bytes for inspection.
        Result<std::string> all = ReadFile(path);
        if (all.ok() && all->size() > valid) {
          std::string keep = path + ".corrupt-" + std::to_string(valid);
          std::string_view rest = std::string_view(*all).substr(valid);
          rest = rest.substr(0, rest.find_last_not_of('\0') + 1);  // without the zero tail
          (void)WriteFileAtomically(keep, rest);
        }
      }
      std::fprintf(stderr, "vigil: log %s: truncating %s at byte %" PRIu64 " (%s tail)\n",
                   name_.c_str(), path.c_str(), valid,
                   outcome == SegmentReader::Outcome::kTorn ? "torn" : "corrupt");
      Result<std::unique_ptr<SegmentWriter>> w = SegmentWriter::OpenForAppend(path, valid);
      if (!w.ok()) return w.status();
      active_ = std::move(*w);
    } else if (last && !options_.read_only) {
      Result<std::unique_ptr<SegmentWriter>> w = SegmentWriter::OpenForAppend(path, r.position());
      if (!w.ok()) return w.status();
      active_ = std::move(*w);
    } else if (stale) {
      std::fprintf(stderr,
                   "vigil: log %s: segment %s goes on at byte %" PRIu64
                   " with offsets of the next segment (a failed write); they are not read\n",
                   name_.c_str(), path.c_str(), pos);
    } else if (!last && outcome != SegmentReader::Outcome::kEnd) {
      std::fprintf(stderr,
                   "vigil: log %s: sealed segment %s is damaged at byte %" PRIu64
                   "; records after it in that file are unreadable\n",
                   name_.c_str(), path.c_str(), r.position());
    }
    seg.bytes = stale ? pos : r.position();
    if (options_.on_segment_scanned) options_.on_segment_scanned(r.position());
    segments_.push_back(std::move(seg));
    next_offset_ = std::max(next_offset_, next);
    if (last) {
      active_keys_ = std::move(keys);
      // A summary of an earlier state of it (it was sealed, then the segment after it was
      // removed as incomplete): it is appended to again, and summarized when sealed.
      if (!options_.read_only) ::unlink(SummaryPath(path).c_str());
    } else if (!options_.read_only) {
      // Only a segment read to its end is summarized: damage (or a read error taken for the
      // end) found here is found again, and reported, at the next start, never taken as the
      // segment's truth. Records past the next segment's base end it cleanly too.
      struct stat st;
      if (::stat(path.c_str(), &st) == 0 &&
          (stale || (outcome == SegmentReader::Outcome::kEnd &&
                     segments_.back().bytes == static_cast<uint64_t>(st.st_size)))) {
        SegmentSummary summary = SummaryOf(segments_.back());
        summary.file_size = static_cast<uint64_t>(st.st_size);
        WriteSummary(std::move(summary), path, keys);
      }
    }
  }
  end_offset_ = next_offset_;
  dedup_keys_shown_ = dedup_.size();
  dedup_bytes_shown_ = options_.read_only ? 0 : dedup_.memory_bytes();
  return Status::Ok();
}

bool Partition::RecoverFromSummary(uint64_t base, const std::string& path, uint64_t next_base,
                                   int64_t dedup_since) {
  struct stat st;
  // A file too short for a segment header is not summarized: reading it reports it.
  if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) < kSegmentHeaderSize) {
    return false;
  }
  const std::string summary_path = SummaryPath(path);
  SegmentSummary s;
  Status status =
      ReadSegmentSummary(summary_path, base, static_cast<uint64_t>(st.st_size), dedup_since, &s);
  if (status.ok() && s.end_offset > next_base) {
    status = Status::Corruption(summary_path + " has records past the next segment's base");
  }
  if (!status.ok()) {
    if (status.code() != StatusCode::kNotFound) {
      std::fprintf(stderr, "vigil: log %s: %s; reading the segment instead\n", name_.c_str(),
                   status.ToString().c_str());
    }
    return false;
  }
  if (s.bytes < s.file_size) {
    std::fprintf(stderr,
                 "vigil: log %s: the records of segment %s end at byte %" PRIu64 " of %" PRIu64
                 " (damage or a failed write, reported when it was first read); the rest is "
                 "not read\n",
                 name_.c_str(), path.c_str(), s.bytes, s.file_size);
  }
  RememberKeys(s, dedup_since);
  if (options_.on_segment_scanned) options_.on_segment_scanned(s.file_size);
  segments_.push_back(
      {base, s.created_ms, path, s.bytes, s.items, s.end_offset - base, std::move(s.index)});
  segments_.back().last_append_ms = s.last_append_ms;
  next_offset_ = std::max(next_offset_, s.end_offset);
  return true;
}

SegmentSummary Partition::SummaryOf(const Segment& seg) {
  SegmentSummary s;
  s.base_offset = seg.base_offset;
  s.created_ms = seg.created_ms;
  s.bytes = seg.bytes;
  s.end_offset = seg.base_offset + seg.records;
  s.items = seg.items;
  s.last_append_ms = seg.last_append_ms;
  s.index = seg.index;
  return s;
}

void Partition::WriteSummary(SegmentSummary s, const std::string& path, const SummaryKeys& keys) {
  Status status = WriteSegmentSummary(SummaryPath(path), s, keys);
  if (!status.ok()) {
    std::fprintf(stderr,
                 "vigil: log %s: cannot write the summary of sealed segment %s (%s); the next "
                 "start reads the segment instead\n",
                 name_.c_str(), path.c_str(), status.ToString().c_str());
  }
}

bool Partition::FindDuplicate(uint64_t key, uint64_t* offset) const {
  return options_.dedup_window_ms > 0 &&
         dedup_.Find(key, clock_->NowMs() - options_.dedup_window_ms, next_offset_, offset);
}

uint64_t Partition::Stage(uint64_t key, uint32_t item_count, std::string_view payload,
                          int64_t now_ms) {
  uint64_t offset = next_offset_++;
  staged_records_.push_back({offset, key, staged_.size(), now_ms, item_count});
  EncodeRecord(offset, now_ms, key, item_count, payload, &staged_);
  if (key != 0) RememberKey(key, offset, now_ms);  // visible to FindDuplicate within this round
  return offset;
}

void Partition::RememberKey(uint64_t key, uint64_t offset, int64_t time_ms) {
  if (options_.dedup_window_ms > 0) dedup_.Add(key, offset, time_ms);
}

void Partition::RememberKeys(const SegmentSummary& s, int64_t since_ms) {
  for (const SegmentSummary::Key& k : s.keys) {
    if (k.time_ms >= since_ms) RememberKey(k.key, k.offset, k.time_ms);
  }
}

Status Partition::RollSegment(int64_t now_ms) {
  // The segment done ends at its last record, durably, before the next one exists: only the
  // last segment can have a zero tail (segment_writer.h).
  const bool sealed = active_ != nullptr;
  if (sealed) {
    VIGIL_RETURN_IF_ERROR(active_->Seal());
    // Its summary now, while it is the last segment (retention never deletes that one). A roll
    // that fails below is retried by the next round, which writes it again; a crash before the
    // next segment exists leaves it last, and recovery removes the summary of a last segment.
    SegmentSummary done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done = SummaryOf(segments_.back());
    }
    done.file_size = active_->size();
    WriteSummary(std::move(done), active_->path(), active_keys_);
  }
  // The new segment starts at the first staged (unwritten) record.
  SegmentHeader header{staged_records_.front().offset, now_ms};
  const std::string path = SegmentPath(header.base_offset);
  bool spare_ready;
  {
    std::lock_guard<std::mutex> lock(spare_mu_);
    spare_ready = spare_ == SpareState::kReady;
    if (spare_ready) spare_ = SpareState::kNone;  // used, or gone if that fails
  }
  Result<std::unique_ptr<SegmentWriter>> w = Status::Unavailable("no spare");
  if (spare_ready) {
    w = SegmentWriter::CreateFromSpare(SparePath(), path, header);
    if (!w.ok()) {
      std::fprintf(stderr, "vigil: log %s: cannot use the spare segment (%s); creating one\n",
                   name_.c_str(), w.status().ToString().c_str());
      std::lock_guard<std::mutex> lock(spare_mu_);
      spare_retry_ms_ = MonotonicMs() + kSpareRetryMs;
    }
  }
  const bool into_spare = w.ok();
  if (!into_spare) w = SegmentWriter::Create(path, header);
  if (!w.ok()) return w.status();
  active_ = std::move(*w);
  {
    std::lock_guard<std::mutex> lock(mu_);
    segments_.push_back(
        {header.base_offset, now_ms, active_->path(), kSegmentHeaderSize, 0, 0, {}});
    ++rolls_;
    if (into_spare) ++rolls_into_spare_;
  }
  active_keys_ = SummaryKeys(header.base_offset, now_ms);
  return Status::Ok();
}

void Partition::NoteCommitted(uint64_t bytes) {
  const int64_t now_ms = MonotonicMs();
  if (now_ms - window_start_ms_ >= 1000) {
    last_window_bytes_ = now_ms - window_start_ms_ < 2000 ? window_bytes_ : 0;
    window_bytes_ = 0;
    window_start_ms_ = now_ms;
  }
  window_bytes_ += bytes;
}

bool Partition::WantsSpare() {
  if (!active_) return false;
  const uint64_t used = active_->size();
  const uint64_t remaining = used < options_.segment_bytes ? options_.segment_bytes - used : 0;
  // Bytes a second: the last whole window's, or this one's so far if that is more (a burst).
  const uint64_t rate = std::max(window_bytes_, last_window_bytes_);
  if (rate == 0 || remaining / kSpareLeadSeconds > rate) return false;
  std::lock_guard<std::mutex> lock(spare_mu_);
  if (spare_ != SpareState::kNone) return false;
  if (MonotonicMs() < spare_retry_ms_) return false;
  spare_ = SpareState::kWanted;
  return true;
}

void Partition::ReleaseSpare() {
  std::lock_guard<std::mutex> lock(spare_mu_);
  // None, or one being written: PrepareSpare checks the free space before it writes.
  if (spare_ != SpareState::kReady) return;
  ::unlink(SparePath().c_str());
  spare_ = SpareState::kNone;
  spare_retry_ms_ = MonotonicMs() + kSpareRetryMs;
}

Status Partition::PrepareSpare(const std::atomic<bool>* stop) {
  // A little past the segment size: the round that crosses it still lands in zeros.
  const uint64_t size =
      options_.segment_bytes + std::min<uint64_t>(options_.segment_bytes, uint64_t{1} << 20);
  // A spare must not take space records need: it is written only while the disk has room for
  // kSpareRoomFactor of them.
  Status st;
  if (Result<uint64_t> free_bytes = FreeDiskBytes(dir_);
      free_bytes.ok() && *free_bytes < kSpareRoomFactor * size) {
    st = Status::TooLarge("the disk has less than " + std::to_string(kSpareRoomFactor * size) +
                          " bytes free");
  } else {
    // Direct while ingest saturates the CPUs (segment_writer.h: cheaper, but harder on the
    // fdatasyncs of acknowledgements).
    st = SegmentWriter::PrepareSpare(SparePath(), size, stop, IngestSaturated);
  }
  std::lock_guard<std::mutex> lock(spare_mu_);
  spare_ = st.ok() ? SpareState::kReady : SpareState::kNone;
  if (!st.ok()) spare_retry_ms_ = MonotonicMs() + kSpareRetryMs;
  return st;
}

void Partition::DropStaged() {
  // A staged key was not in the window (else it would have been a duplicate, not staged), so
  // it goes altogether.
  for (const StagedRecord& r : staged_records_) dedup_.Remove(r.key);
  next_offset_ = staged_records_.front().offset;
  staged_.clear();
  staged_records_.clear();
}

Status Partition::Commit() {
  if (staged_records_.empty()) return Status::Ok();
  const int64_t now_ms = clock_->NowMs();
  if (uncut_) {
    // A failed round's bytes are still in the last segment: cut them before anything else.
    // Rolling past them instead would leave them in a sealed segment, with offsets that the
    // next segment reuses.
    Result<std::unique_ptr<SegmentWriter>> reopened =
        SegmentWriter::OpenForAppend(uncut_->path, uncut_->size);
    if (!reopened.ok()) {
      DropStaged();
      return Status(reopened.status().code(), "cannot cut a failed write from " + uncut_->path +
                                                  ": " + reopened.status().message());
    }
    active_ = std::move(*reopened);
    uncut_.reset();
  }
  // Segments roll between rounds, so one round's records always go to one file: a failed round
  // is undone by truncating that file to where the round began. (The size bound is thus soft,
  // exceeded by at most one round, itself capped by LocalLog's backlog bound.)
  if (!active_ || active_->size() >= options_.segment_bytes) {
    Status st = RollSegment(now_ms);
    if (!st.ok()) {
      DropStaged();
      return st;
    }
  }
  const uint64_t round_start = active_->size();
  const uint64_t round_bytes = staged_.size();
  Status st = active_->Write(staged_);
  if (st.ok()) st = active_->Sync();
  if (!st.ok()) {
    // Write() already rolled back its own partial write; a failed sync leaves the bytes in an
    // unknown state, so cut them too. Nothing of this round is acknowledged.
    Result<std::unique_ptr<SegmentWriter>> reopened =
        SegmentWriter::OpenForAppend(active_->path(), round_start);
    if (reopened.ok()) {
      active_ = std::move(*reopened);
    } else {
      uncut_ = Uncut{active_->path(), round_start};  // the next round tries again first
      active_.reset();
    }
    DropStaged();
    ReleaseSpare();
    return st;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    Segment& seg = segments_.back();
    for (const StagedRecord& r : staged_records_) {
      uint64_t pos = round_start + r.buffer_pos;
      seg.items += r.items;
      ++seg.records;
      if (r.key != 0) active_keys_.Add(r.key, r.offset, r.time_ms);
      seg.last_append_ms = std::max(seg.last_append_ms, r.time_ms);
      if (seg.index.empty() || pos - seg.index.back().second >= kIndexEveryBytes) {
        seg.index.emplace_back(r.offset, pos);
      }
    }
    seg.bytes = active_->size();
    end_offset_ = next_offset_;
    dedup_keys_shown_ = dedup_.size();
    dedup_bytes_shown_ = dedup_.memory_bytes();
  }
  staged_.clear();
  staged_records_.clear();
  NoteCommitted(round_bytes);
  dedup_.Expire(now_ms - options_.dedup_window_ms, now_ms);
  return Status::Ok();
}

Status Partition::ApplyRetention(int64_t cutoff_ms, uint64_t min_offset) {
  const int64_t keys_since =
      options_.dedup_window_ms > 0 ? clock_->NowMs() - options_.dedup_window_ms : INT64_MAX;
  std::vector<std::string> doomed, summaries_doomed;
  std::vector<Segment> newly_kept;  // deleted while their records are in the dedup window
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Never the last (active) segment; a segment's records end where the next one begins.
    while (segments_.size() > 1 && segments_[1].base_offset <= min_offset &&
           segments_[0].created_ms < cutoff_ms) {
      const Segment& gone = segments_[0];
      if (gone.last_append_ms >= keys_since) {
        kept_summaries_.emplace_back(gone.last_append_ms, SummaryPath(gone.path));
        newly_kept.push_back(gone);
      } else {
        summaries_doomed.push_back(SummaryPath(gone.path));
      }
      doomed.push_back(gone.path);
      segments_.erase(segments_.begin());
    }
    while (!kept_summaries_.empty() && kept_summaries_.front().first < keys_since) {
      summaries_doomed.push_back(std::move(kept_summaries_.front().second));
      kept_summaries_.pop_front();
    }
  }
  // Each step goes on after a failure (the first is returned): a segment whose summary cannot
  // be kept still goes, with its keys, for its space matters more under disk pressure.
  Status first_error;
  auto note = [&first_error](Status st) {
    if (!st.ok() && first_error.ok()) first_error = std::move(st);
  };
  for (const Segment& seg : newly_kept) {
    Status st = KeepSummary(seg, keys_since);
    if (!st.ok()) {
      std::fprintf(stderr,
                   "vigil: log %s: %s; the dedup keys of deleted segment %s are lost (a retry of "
                   "one of its batches after a restart is stored again)\n",
                   name_.c_str(), st.ToString().c_str(), seg.path.c_str());
      note(std::move(st));
    }
  }
  if (!newly_kept.empty()) note(SyncDir(dir_));
  // Summaries first: a crash in between leaves a segment without one (read at the next start,
  // then deleted again), not a summary of a live segment's keys left behind.
  for (const std::vector<std::string>* paths : {&summaries_doomed, &doomed}) {
    for (const std::string& path : *paths) {
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        note(Status::FromErrno("unlink " + path, errno));
      }
    }
  }
  if (!doomed.empty() || !summaries_doomed.empty()) note(SyncDir(dir_));
  return first_error;
}

Status Partition::KeepSummary(const Segment& seg, int64_t keys_since) {
  // It becomes the only copy of the segment's keys: whole, and durable, before the segment goes
  // (a summary is otherwise written without fsync, see segment_summary.h).
  const std::string path = SummaryPath(seg.path);
  SegmentSummary check;
  if (!ReadSegmentSummary(path, seg.base_offset, std::nullopt, keys_since, &check).ok()) {
    // None was written (a crash between the seal and the summary, a failed write) or it is
    // damaged: the segment is still there to summarize again.
    VIGIL_RETURN_IF_ERROR(ResummarizeForDeletion(seg));
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  const bool synced = ::fdatasync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!synced) return Status::FromErrno("fdatasync " + path, err);
  return Status::Ok();
}

Status Partition::ResummarizeForDeletion(const Segment& seg) {
  Result<std::unique_ptr<SegmentReader>> reader = SegmentReader::Open(seg.path);
  if (!reader.ok()) return reader.status();
  SegmentReader& r = **reader;
  SummaryKeys keys(seg.base_offset, seg.created_ms);
  const uint64_t end = seg.base_offset + seg.records;
  LogRecord rec;
  while (r.next_offset() < end &&
         r.Next(&rec, /*read_payload=*/false) == SegmentReader::Outcome::kRecord) {
    if (rec.dedup_key != 0) keys.Add(rec.dedup_key, rec.offset, rec.append_time_ms);
  }
  std::fprintf(stderr,
               "vigil: log %s: summarizing segment %s again before deleting it: its summary, "
               "which keeps its records' dedup keys, was missing or damaged\n",
               name_.c_str(), seg.path.c_str());
  if (r.next_offset() < end) {
    // Damaged since it was first read: every consumer has passed it, so it still goes, with
    // the keys that could be read (a retry of a batch after them is appended again).
    std::fprintf(stderr,
                 "vigil: log %s: segment %s now ends at offset %" PRIu64 " of %" PRIu64
                 " (damaged since it was read); the dedup keys of the records after it are lost\n",
                 name_.c_str(), seg.path.c_str(), r.next_offset(), end);
  }
  struct stat st;
  if (::stat(seg.path.c_str(), &st) != 0) return Status::FromErrno("stat " + seg.path, errno);
  SegmentSummary s = SummaryOf(seg);
  s.file_size = static_cast<uint64_t>(st.st_size);
  return WriteSegmentSummary(SummaryPath(seg.path), s, keys);
}

uint64_t Partition::DropCachedPages(uint64_t min_offset) {
  struct Drop {
    std::string path;
    uint64_t from, to;
  };
  std::vector<Drop> drops;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < segments_.size(); ++i) {
      Segment& seg = segments_[i];
      if (seg.base_offset >= min_offset) break;
      // Where the records below min_offset end: the whole segment if the next one starts at or
      // below it, else the last index entry at or below it (up to 1 MiB short: dropped later).
      uint64_t end = 0;
      if (i + 1 < segments_.size() && segments_[i + 1].base_offset <= min_offset) {
        end = (seg.bytes + kPageBytes - 1) & ~uint64_t{kPageBytes - 1};  // all of it
      } else {
        for (auto it = seg.index.rbegin(); it != seg.index.rend(); ++it) {
          if (it->first <= min_offset) {
            end = it->second & ~uint64_t{kPageBytes - 1};  // the page of a record kept stays
            break;
          }
        }
      }
      if (end > seg.uncached) {
        drops.push_back({seg.path, seg.uncached, end});
        seg.uncached = end;
      }
    }
  }
  uint64_t dropped = 0;
  for (const Drop& d : drops) {
    int fd = ::open(d.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // removed by retention meanwhile
    if (::posix_fadvise(fd, static_cast<off_t>(d.from), static_cast<off_t>(d.to - d.from),
                        POSIX_FADV_DONTNEED) == 0) {
      dropped += d.to - d.from;
    }
    ::close(fd);
  }
  return dropped;
}

Status Partition::Read(uint64_t from, size_t max_records, std::vector<LogRecord>* out) const {
  std::vector<Segment> segs;
  std::vector<uint64_t> limits;  // of segs: SegmentEnd
  ReadHint hints[kReadHints];    // a copy: the loop below runs without mu_
  uint64_t end;
  {
    std::lock_guard<std::mutex> lock(mu_);
    end = end_offset_;
    for (size_t i = 0; i < segments_.size(); ++i) {
      if (i + 1 == segments_.size() || segments_[i + 1].base_offset > from) {
        segs.push_back(segments_[i]);
        limits.push_back(SegmentEnd(i));
      }
    }
    std::copy(hints_, hints_ + kReadHints, hints);
  }
  size_t taken = 0;
  for (size_t k = 0; k < segs.size(); ++k) {
    const Segment& seg = segs[k];
    if (taken >= max_records || from >= end) break;
    Result<std::unique_ptr<SegmentReader>> reader = SegmentReader::Open(seg.path);
    if (!reader.ok()) {
      if (reader.status().code() == StatusCode::kIoError) continue;  // removed by retention
      return reader.status();
    }
    SegmentReader& r = **reader;
    // Start as close to `from` as known: a read that stopped there, else the sparse index.
    uint64_t start_offset = seg.base_offset, start_position = kSegmentHeaderSize;
    for (auto it = seg.index.rbegin(); it != seg.index.rend(); ++it) {
      if (it->first <= from) {
        start_offset = it->first;
        start_position = it->second;
        break;
      }
    }
    for (const ReadHint& h : hints) {
      if (h.segment_base == seg.base_offset && h.offset <= from && h.offset > start_offset) {
        start_offset = h.offset;
        start_position = h.position;
      }
    }
    r.Seek(start_position, start_offset);
    ReadHint hint{seg.base_offset, start_offset, start_position};
    LogRecord rec;
    for (;;) {
      if (taken >= max_records) break;
      if (r.next_offset() >= limits[k]) break;
      // Records before `from` are stepped over without reading their payloads.
      const bool before = r.next_offset() < from;
      SegmentReader::Outcome o = r.Next(&rec, !before);
      if (o != SegmentReader::Outcome::kRecord) break;
      hint = {seg.base_offset, r.next_offset(), r.position()};
      if (before) continue;
      out->push_back(std::move(rec));
      ++taken;
      from = out->back().offset + 1;
    }
    if (hint.offset > start_offset) {
      std::lock_guard<std::mutex> lock(mu_);
      hints_[next_hint_] = hint;
      next_hint_ = (next_hint_ + 1) % kReadHints;
    }
  }
  return Status::Ok();
}

uint64_t Partition::SegmentEnd(size_t i) const {
  const uint64_t next = i + 1 < segments_.size() ? segments_[i + 1].base_offset : UINT64_MAX;
  return std::min(end_offset_, next);
}

PartitionInfo Partition::Info() const {
  std::lock_guard<std::mutex> lock(mu_);
  PartitionInfo info;
  info.name = name_;
  info.start_offset = segments_.empty() ? end_offset_ : segments_.front().base_offset;
  info.end_offset = end_offset_;
  info.segments = segments_.size();
  info.rolls = rolls_;
  info.rolls_into_spare = rolls_into_spare_;
  for (const Segment& s : segments_) {
    info.bytes += s.bytes;
    info.items += s.items;
    info.records += s.records;
  }
  info.dedup_keys = dedup_keys_shown_;
  info.dedup_bytes = dedup_bytes_shown_;
  return info;
}

}  // namespace vigil::log
