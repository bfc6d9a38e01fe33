// LocalLog: partition directory management, the group-commit writer thread and retention.
#include "log/local_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "common/file_util.h"
#include "common/thread_name.h"
#include "common/thread_priority.h"
#include "common/wakeup_batch.h"
#include "log/consumer_offsets.h"

namespace vigil::log {

bool IsValidPartitionName(std::string_view name) {
  if (name.empty() || name.size() > kMaxPartitionName) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<std::unique_ptr<LocalLog>> LocalLog::Open(const std::string& dir, LocalLogOptions options,
                                                 Clock* clock) {
  VIGIL_RETURN_IF_ERROR(MakeDirs(dir));
  std::unique_ptr<LocalLog> log(new LocalLog(dir, std::move(options), clock, false));
  VIGIL_RETURN_IF_ERROR(log->LoadPartitions());
  if (log->options_.min_free_bytes > 0 || log->options_.pressure_free_bytes > 0) {
    log->RefreshFreeBytes();  // before the first append, not the writer's first round
  }
  log->writer_ = std::thread([l = log.get()] { l->WriterLoop(); });
  log->spare_preparer_ = std::thread([l = log.get()] { l->SpareLoop(); });
  if (log->options_.drop_cache_ms > 0 && !log->options_.retention_consumers.empty()) {
    log->dropper_ = std::thread([l = log.get()] { l->DropperLoop(); });
  }
  if (!log->options_.retention_consumers.empty()) {
    log->retention_ = std::thread([l = log.get()] { l->RetentionLoop(); });
  }
  return log;
}

Result<std::unique_ptr<LocalLog>> LocalLog::OpenReadOnly(const std::string& dir, Clock* clock) {
  LocalLogOptions options;
  options.partition.read_only = true;
  std::unique_ptr<LocalLog> log(new LocalLog(dir, std::move(options), clock, true));
  VIGIL_RETURN_IF_ERROR(log->LoadPartitions());
  return log;
}

LocalLog::~LocalLog() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  drop_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (dropper_.joinable()) dropper_.join();
  if (retention_.joinable()) retention_.join();
  {
    std::lock_guard<std::mutex> lock(spare_mu_);
    spare_stop_ = true;
  }
  spare_cv_.notify_all();
  if (spare_preparer_.joinable()) spare_preparer_.join();
}

Status LocalLog::LoadPartitions() {
  Result<std::vector<std::string>> names = ListDir(dir_);
  if (!names.ok()) return names.status();
  std::vector<std::string> apps;
  uint64_t total = 0;  // bytes of segments to scan, for the progress line
  for (const std::string& name : *names) {
    if (!IsValidPartitionName(name)) continue;
    apps.push_back(name);
    Result<std::vector<std::string>> files = ListDir(dir_ + "/" + name);
    if (!files.ok()) continue;  // Partition::Open reports it
    for (const std::string& f : *files) {
      struct stat st;
      if (f.ends_with(".seg") && ::stat((dir_ + "/" + name + "/" + f).c_str(), &st) == 0) {
        total += static_cast<uint64_t>(st.st_size);
      }
    }
  }
  // A big log takes a while (about a second per GB here): say how far it got, every few
  // seconds, once it has taken that long.
  const int64_t start_ns = clock_->MonotonicNs();
  int64_t last_print_ns = start_ns;
  uint64_t scanned = 0;
  size_t done = 0;
  PartitionOptions options = options_.partition;
  options.on_segment_scanned = [&](uint64_t bytes) {
    scanned += bytes;
    const int64_t now_ns = clock_->MonotonicNs();
    if (now_ns - last_print_ns < kRecoveryProgressNs) return;
    last_print_ns = now_ns;
    std::fprintf(
        stderr, "vigil: log %s: recovery has read %.1f of %.1f GiB (%.0f %%), %zu of %zu app(s)\n",
        dir_.c_str(), static_cast<double>(scanned) / (1 << 30),
        static_cast<double>(total) / (1 << 30),
        total == 0 ? 100.0 : 100.0 * static_cast<double>(scanned) / static_cast<double>(total),
        done, apps.size());
  };
  for (const std::string& name : apps) {
    Result<std::unique_ptr<Partition>> p =
        Partition::Open(dir_ + "/" + name, name, options, clock_);
    if (!p.ok()) return p.status();
    partitions_[name] = std::move(*p);
    ++done;
  }
  if (last_print_ns != start_ns) {
    std::fprintf(stderr, "vigil: log %s: recovered %zu app(s), %.1f GiB, in %.1f s\n", dir_.c_str(),
                 apps.size(), static_cast<double>(scanned) / (1 << 30),
                 static_cast<double>(clock_->MonotonicNs() - start_ns) / 1e9);
  }
  return Status::Ok();
}

Partition* LocalLog::FindPartition(std::string_view name) {
  std::lock_guard<std::mutex> lock(partitions_mu_);
  auto it = partitions_.find(name);
  return it == partitions_.end() ? nullptr : it->second.get();
}

Result<Partition*> LocalLog::GetOrCreatePartition(std::string_view name) {
  if (Partition* p = FindPartition(name)) return p;
  Result<std::unique_ptr<Partition>> p = Partition::Open(
      dir_ + "/" + std::string(name), std::string(name), options_.partition, clock_);
  if (!p.ok()) return p.status();
  VIGIL_RETURN_IF_ERROR(SyncDir(dir_));
  std::lock_guard<std::mutex> lock(partitions_mu_);
  Partition* raw = p->get();
  partitions_[std::string(name)] = std::move(*p);
  return raw;
}

Status LocalLog::CheckAppend(std::string_view partition) const {
  if (read_only_) return Status::Unavailable("log is open read-only");
  if (!IsValidPartitionName(partition)) {
    return Status::InvalidArgument("bad partition name '" + std::string(partition) + "'");
  }
  return CheckReserve();
}

Status LocalLog::CheckReserve() const {
  const uint64_t free_bytes = free_bytes_.load(std::memory_order_relaxed);
  if (options_.min_free_bytes == 0 || free_bytes >= options_.min_free_bytes) return Status::Ok();
  return Status::Unavailable(
      "the disk holding the log has " + std::to_string(free_bytes >> 20) + " MiB free, under the " +
      std::to_string(options_.min_free_bytes >> 20) +
      " MiB kept for the stages behind ingest (min_free_disk_mb); free space on it, or lower "
      "min_free_disk_mb");
}

uint64_t LocalLog::RefreshFreeBytes() {
  Result<uint64_t> measured = FreeDiskBytes(dir_);
  const uint64_t free_bytes = measured.ok() ? *measured : UINT64_MAX;
  free_bytes_.store(free_bytes, std::memory_order_relaxed);
  return free_bytes;
}

Status LocalLog::QueueLocked(std::string_view partition, uint64_t dedup_key, uint32_t item_count,
                             std::string* payload, AppendCallback* done) {
  if (stopping_) return Status::Unavailable("log is shutting down");
  const uint64_t size = payload->size();
  if (queued_bytes_ + size > options_.max_backlog_bytes) {
    return Status::Unavailable("log backlog is full (" + std::to_string(queued_bytes_) +
                               " bytes waiting for disk)");
  }
  if (options_.max_partition_backlog_bytes > 0) {
    auto share = queued_by_partition_.find(partition);
    if (share == queued_by_partition_.end()) {
      share = queued_by_partition_.emplace(std::string(partition), 0).first;
    }
    uint64_t& mine = share->second;
    if (mine > 0 && mine + size > options_.max_partition_backlog_bytes) {
      return Status::Unavailable(
          "'" + std::string(partition) + "' holds " + std::to_string(mine) +
          " bytes of the log's backlog waiting for disk, the most one partition may take (the "
          "rest is kept for the others)");
    }
    mine += size;
  }
  queued_bytes_ += size;
  Pending& item = queue_.emplace_back();
  std::memcpy(item.partition_name, partition.data(), partition.size());
  item.partition_size = static_cast<uint8_t>(partition.size());
  item.dedup_key = dedup_key;
  item.item_count = item_count;
  item.payload = std::move(*payload);
  item.done = std::move(*done);
  return Status::Ok();
}

Status LocalLog::Append(std::string_view partition, uint64_t dedup_key, uint32_t item_count,
                        std::string payload, AppendCallback done) {
  VIGIL_RETURN_IF_ERROR(CheckAppend(partition));
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    VIGIL_RETURN_IF_ERROR(QueueLocked(partition, dedup_key, item_count, &payload, &done));
  }
  queue_cv_.notify_one();
  return Status::Ok();
}

Status LocalLog::AppendMany(std::vector<AppendRequest>* requests, size_t* queued) {
  *queued = 0;
  Status st;
  for (const AppendRequest& r : *requests) {
    st = CheckAppend(r.partition);
    if (!st.ok()) break;
  }
  if (st.ok()) {
    std::lock_guard<std::mutex> lock(queue_mu_);
    for (AppendRequest& r : *requests) {
      st = QueueLocked(r.partition, r.dedup_key, r.item_count, &r.payload, &r.done);
      if (!st.ok()) break;
      ++*queued;
    }
  }
  if (*queued > 0) queue_cv_.notify_one();
  return st;
}

void LocalLog::WriterLoop() {
  SetThreadName("vigil-log-" + dir_.substr(dir_.find_last_of('/') + 1));
  std::vector<Pending> round;
  for (;;) {
    {
      const int64_t wait_start = clock_->MonotonicNs();
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait_for(lock, std::chrono::milliseconds(500),
                         [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      round.swap(queue_);
      queued_bytes_ = 0;
      queued_by_partition_.clear();
      lock.unlock();
      if (options_.on_writer_wait) {
        const int64_t wait_end = clock_->MonotonicNs();
        options_.on_writer_wait(wait_end - wait_start, wait_end);
      }
    }
    if ((options_.min_free_bytes > 0 || options_.pressure_free_bytes > 0) &&
        clock_->NowMs() - last_free_check_ms_ >= kFreeCheckMs) {
      last_free_check_ms_ = clock_->NowMs();
      RefreshFreeBytes();
    }
    if (!round.empty()) {
      CommitRound(&round);
    } else if (clock_->NowMs() - last_probe_ms_ >= kProbeIntervalMs) {
      bool failed;
      {
        std::lock_guard<std::mutex> lock(queue_mu_);
        failed = !last_write_status_.ok();
      }
      if (failed) {
        last_probe_ms_ = clock_->NowMs();
        if (ProbeWritable().ok()) {
          std::lock_guard<std::mutex> lock(queue_mu_);
          // Unless a round failed meanwhile (rounds run on this thread: none did).
          last_write_status_ = Status::Ok();
          std::fprintf(stderr, "vigil: log %s: the disk takes writes again\n", dir_.c_str());
        }
      }
    }
    round.clear();  // frees the payloads and callbacks; keeps the storage for the next swap
  }
}

void LocalLog::RunEvery(int64_t interval_ms, const std::function<void()>& work) {
  std::unique_lock<std::mutex> lock(queue_mu_);
  while (!stopping_) {
    drop_cv_.wait_for(lock, std::chrono::milliseconds(interval_ms), [&] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    work();
    lock.lock();
  }
}

void LocalLog::RetentionLoop() {
  SetThreadName("vigil-ret-" + dir_.substr(dir_.find_last_of('/') + 1));
  const int64_t interval = options_.pressure_free_bytes > 0
                               ? std::min(options_.retention_check_ms, kPressureCheckMs)
                               : options_.retention_check_ms;
  int64_t last_run_ms = clock_->NowMs();
  RunEvery(interval, [&] {
    if (options_.pressure_free_bytes > 0) {
      // Between the periodic runs, only when the disk is short of space.
      const int64_t now_ms = clock_->NowMs();
      if (now_ms - last_run_ms < options_.retention_check_ms &&
          RefreshFreeBytes() >= options_.pressure_free_bytes) {
        return;
      }
      last_run_ms = now_ms;
    }
    Status st = RunRetention();
    if (!st.ok()) std::fprintf(stderr, "vigil: log retention: %s\n", st.ToString().c_str());
  });
}

void LocalLog::DropperLoop() {
  SetThreadName("vigil-drop-" + dir_.substr(dir_.find_last_of('/') + 1));
  EnterBackgroundPriority();
  RunEvery(options_.drop_cache_ms, [this] { DropConsumedPages(); });
}

void LocalLog::SpareLoop() {
  SetThreadName("vigil-spare-" + dir_.substr(dir_.find_last_of('/') + 1));
  std::unique_lock<std::mutex> lock(spare_mu_);
  for (;;) {
    spare_cv_.wait(lock, [&] { return spare_stop_ || !spares_wanted_.empty(); });
    if (spare_stop_) return;
    Partition* part = spares_wanted_.back();
    spares_wanted_.pop_back();
    lock.unlock();
    Status st = part->PrepareSpare(&spare_stop_);
    // Too little free space is no error: the partition goes on as before, and tries later.
    if (!st.ok() && !spare_stop_ && st.code() != StatusCode::kTooLarge) {
      std::fprintf(stderr,
                   "vigil: log %s: cannot write the next segment ahead (%s); its segments are "
                   "extended as they fill meanwhile\n",
                   part->name().c_str(), st.ToString().c_str());
    }
    lock.lock();
  }
}

void LocalLog::CommitRound(std::vector<Pending>* round) {
  struct Outcome {
    Status status;
    AppendResult result;
    Partition* partition = nullptr;
  };
  std::vector<Outcome> outcomes(round->size());
  std::vector<Partition*> touched;
  const int64_t now_ms = clock_->NowMs();
  for (size_t i = 0; i < round->size(); ++i) {
    Pending& item = (*round)[i];
    Result<Partition*> p = GetOrCreatePartition(item.partition());
    if (!p.ok()) {
      outcomes[i].status = p.status();
      continue;
    }
    Partition* part = *p;
    outcomes[i].partition = part;
    uint64_t original;
    if (part->FindDuplicate(item.dedup_key, &original)) {
      outcomes[i].result = {original, true};
      continue;
    }
    if (!part->has_staged()) touched.push_back(part);
    outcomes[i].result.offset = part->Stage(item.dedup_key, item.item_count, item.payload, now_ms);
  }
  std::unordered_map<Partition*, Status> commit_status;
  Status round_status;
  for (Partition* part : touched) {
    int64_t t0 = clock_->MonotonicNs();
    const size_t records = part->staged_count();
    Status st = part->Commit();
    if (options_.on_commit && st.ok()) options_.on_commit(clock_->MonotonicNs() - t0, records);
    if (!st.ok()) {
      failure_log_.Print("vigil: log " + part->name() + ": " + st.ToString());
      round_status = st;
    } else if (part->WantsSpare()) {
      {
        std::lock_guard<std::mutex> lock(spare_mu_);
        spares_wanted_.push_back(part);
      }
      spare_cv_.notify_one();
    }
    commit_status[part] = st;
  }
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    last_write_status_ = round_status;
  }
  WakeupBatch wakeups;  // whoever waits on this round's records is woken once, after all
  for (size_t i = 0; i < round->size(); ++i) {
    Outcome& o = outcomes[i];
    if (o.status.ok() && o.partition != nullptr && !o.result.duplicate) {
      o.status = commit_status[o.partition];
    }
    // A duplicate of a record staged in this same round shares that record's fate.
    if (o.status.ok() && o.result.duplicate) {
      auto it = commit_status.find(o.partition);
      if (it != commit_status.end() && !it->second.ok()) o.status = it->second;
    }
    (*round)[i].done(o.status, o.result);
  }
}

Status LocalLog::Read(std::string_view partition, uint64_t from, size_t max_records,
                      std::vector<LogRecord>* out) {
  Partition* p = FindPartition(partition);
  if (p == nullptr) return Status::NotFound("no partition '" + std::string(partition) + "'");
  return p->Read(from, max_records, out);
}

Status LocalLog::CommitOffset(std::string_view consumer, std::string_view partition,
                              uint64_t next_offset) {
  if (read_only_) return Status::Unavailable("log is open read-only");
  Partition* p = FindPartition(partition);
  if (p == nullptr) return Status::NotFound("no partition '" + std::string(partition) + "'");
  VIGIL_RETURN_IF_ERROR(WriteConsumerOffset(p->dir(), consumer, next_offset));
  std::lock_guard<std::mutex> lock(offsets_mu_);
  KnownOffsets& known = KnownLocked(partition);
  known.offsets.insert_or_assign(std::string(consumer), next_offset);
  known.consumers.emplace(consumer);
  return Status::Ok();
}

LocalLog::KnownOffsets& LocalLog::KnownLocked(std::string_view partition) {
  auto known = known_offsets_.find(partition);
  if (known == known_offsets_.end()) {
    known = known_offsets_.emplace(std::string(partition), KnownOffsets{}).first;
  }
  return known->second;
}

Result<uint64_t> LocalLog::CommittedOffset(std::string_view consumer, std::string_view partition) {
  Partition* p = FindPartition(partition);
  if (p == nullptr) return uint64_t{0};
  if (!read_only_) {
    std::lock_guard<std::mutex> lock(offsets_mu_);
    auto known = known_offsets_.find(partition);
    if (known != known_offsets_.end()) {
      auto it = known->second.offsets.find(consumer);
      if (it != known->second.offsets.end()) return it->second;
    }
  }
  Result<std::optional<uint64_t>> v = ReadConsumerOffset(p->dir(), consumer);
  if (!v.ok()) return v.status();  // not remembered: read (and reported) again next time
  if (!read_only_) {
    std::lock_guard<std::mutex> lock(offsets_mu_);
    // Unless a commit got there first: its offset is the newer.
    KnownLocked(partition).offsets.emplace(std::string(consumer), v->value_or(0));
  }
  return v->value_or(0);
}

std::vector<PartitionInfo> LocalLog::Partitions() {
  std::vector<PartitionInfo> out;
  std::lock_guard<std::mutex> lock(partitions_mu_);
  for (auto& [name, p] : partitions_) out.push_back(p->Info());
  return out;
}

std::vector<std::string> LocalLog::Consumers(std::string_view partition) {
  Partition* p = FindPartition(partition);
  if (p == nullptr) return {};
  if (read_only_) return ListConsumers(p->dir());
  std::lock_guard<std::mutex> lock(offsets_mu_);
  KnownOffsets& known = KnownLocked(partition);
  if (!known.listed) {
    for (std::string& c : ListConsumers(p->dir())) known.consumers.insert(std::move(c));
    known.listed = true;
  }
  return {known.consumers.begin(), known.consumers.end()};
}

Status LocalLog::ProbeWritable() {
  Result<uint64_t> free_bytes = FreeDiskBytes(dir_);
  if (!free_bytes.ok()) return free_bytes.status();
  if (*free_bytes < kProbeFreeBytes) {
    return Status::Unavailable("the disk has " + std::to_string(*free_bytes) + " bytes free");
  }
  const std::string path = dir_ + "/.probe";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("create " + path, errno);
  const std::string page(4096, '\0');
  Status st;
  if (::pwrite(fd, page.data(), page.size(), 0) != static_cast<ssize_t>(page.size())) {
    st = Status::FromErrno("write " + path, errno);
  } else if (::fdatasync(fd) != 0) {
    st = Status::FromErrno("fdatasync " + path, errno);
  }
  ::close(fd);
  ::unlink(path.c_str());
  return st;
}

Status LocalLog::Writable() {
  if (read_only_) return Status::Unavailable("log is open read-only");
  VIGIL_RETURN_IF_ERROR(CheckReserve());
  std::lock_guard<std::mutex> lock(queue_mu_);
  return last_write_status_;
}

uint64_t LocalLog::backlog_bytes() const {
  std::lock_guard<std::mutex> lock(queue_mu_);
  return queued_bytes_;
}

std::vector<Partition*> LocalLog::AllPartitions() {
  std::vector<Partition*> parts;
  std::lock_guard<std::mutex> lock(partitions_mu_);
  for (auto& [name, p] : partitions_) parts.push_back(p.get());
  return parts;
}

uint64_t LocalLog::MinCommittedOffset(const Partition& p) {
  uint64_t min_offset = UINT64_MAX;
  for (const std::string& consumer : options_.retention_consumers) {
    Result<uint64_t> v = CommittedOffset(consumer, p.name());
    min_offset = std::min(min_offset, v.ok() ? *v : 0);
  }
  return min_offset;
}

Status LocalLog::RunRetention() {
  if (read_only_ || options_.retention_consumers.empty()) return Status::Ok();
  int64_t cutoff = clock_->NowMs() - options_.retention_ms;
  if (options_.pressure_free_bytes > 0) {
    const uint64_t free_bytes = RefreshFreeBytes();
    if (free_bytes < options_.pressure_free_bytes) {
      cutoff = INT64_MAX;  // every segment the consumers passed, however young
      pressure_log_.Print("vigil: log " + dir_ + ": the disk has " +
                          std::to_string(free_bytes >> 20) + " MiB free, under " +
                          std::to_string(options_.pressure_free_bytes >> 20) +
                          " MiB: deleting segments every reader has passed before their "
                          "retention");
    }
  }
  // One partition's failure (its disk error is returned) does not hold the others' space back.
  Status first_error;
  for (Partition* p : AllPartitions()) {
    Status st = p->ApplyRetention(cutoff, MinCommittedOffset(*p));
    if (!st.ok() && first_error.ok()) first_error = std::move(st);
  }
  return first_error;
}

uint64_t LocalLog::DropConsumedPages() {
  if (read_only_ || options_.retention_consumers.empty()) return 0;
  uint64_t dropped = 0;
  for (Partition* p : AllPartitions()) dropped += p->DropCachedPages(MinCommittedOffset(*p));
  return dropped;
}

}  // namespace vigil::log
