// Crash groups from the processed log: counting, moving reprocessed crashes, the snapshot.
#include "serve/crash_group_index.h"

#include <algorithm>
#include <cstdio>

#include "common/binary_value.h"
#include "common/file_util.h"
#include "common/ingest_burst.h"
#include "common/json_writer.h"
#include "common/rate_limited_log.h"
#include "common/thread_name.h"
#include "common/thread_priority.h"
#include "log/resolving_log.h"

namespace vigil::serve {

namespace {

constexpr std::string_view kSnapshotMagic = "VIGIL-CRASH-GROUPS 1\n";

// The sample an API user sees: the event as sent, with its processed crash.
std::string SampleJson(const BatchRecord& record, const EventView& e, std::string_view version) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("event_id")
      .String(e.id)
      .Key("type")
      .String(EventTypeName(e.type))
      .Key("ts")
      .Int(e.ts_ms)
      .Key("version")
      .String(version);
  for (auto [key, value] :
       {std::pair{"device", record.header.device}, std::pair{"user", record.header.user}}) {
    if (value.present()) {
      w.Key(key);
      value.ToJson(&w);
    }
  }
  for (std::string_view key : {"error", "breadcrumbs", "processed"}) {
    BinaryValue v = e.fields.Get(key);
    if (!v.present()) continue;
    if (key == "error") {
      // The raw report can be large; the processed frames say what it said.
      w.Key("error").BeginObject();
      for (std::string_view k : {"format", "type", "reason", "mapping_id"}) {
        BinaryValue f = v.Get(k);
        if (f.is_string()) w.Key(k).String(f.AsString());
      }
      w.EndObject();
      continue;
    }
    w.Key(key);
    v.ToJson(&w);
  }
  w.EndObject();
  return out;
}

void AddCounts(CrashGroup* g, const std::string& version, bool handled, int64_t delta) {
  CrashGroup::Counts& c = g->versions[version];
  uint64_t& total = handled ? g->handled : g->crashes;
  uint64_t& per_version = handled ? c.handled : c.crashes;
  total += delta;
  per_version += delta;
  if (c.crashes == 0 && c.handled == 0) g->versions.erase(version);
}

}  // namespace

std::string SampleKey(std::string_view app, std::string_view group_id, std::string_view version,
                      std::string_view event_id) {
  std::string k = "sample/";
  k.append(app).append(1, '/').append(group_id).append(1, '/').append(version);
  k.append(1, '\n').append(event_id);
  return k;
}

std::string CrashGroup::ToJson(bool with_sample) const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("id")
      .String(id)
      .Key("title")
      .String(title)
      .Key("culprit")
      .String(culprit)
      .Key("type")
      .String(type)
      .Key("sentinel")
      .Bool(sentinel)
      .Key("crashes")
      .Uint(crashes)
      .Key("handled")
      .Uint(handled)
      .Key("events")
      .Uint(events())
      .Key("first_seen")
      .Int(first_seen_ms)
      .Key("last_seen")
      .Int(last_seen_ms)
      .Key("versions")
      .BeginObject();
  for (const auto& [v, c] : versions) {
    w.Key(v).BeginObject().Key("crashes").Uint(c.crashes).Key("handled").Uint(c.handled);
    w.EndObject();
  }
  w.EndObject().Key("missing").BeginArray();
  for (const auto& [id, n] : missing) {
    if (n > 0) w.String(id);
  }
  w.EndArray();
  if (with_sample && !sample.empty()) w.Key("sample").Raw(sample);
  w.EndObject();
  return out;
}

Result<std::unique_ptr<CrashGroupIndex>> CrashGroupIndex::Open(log::LogStore* processed,
                                                               std::string snapshot_path,
                                                               Clock* clock,
                                                               CrashGroupIndexOptions options) {
  std::unique_ptr<CrashGroupIndex> index(
      new CrashGroupIndex(processed, std::move(snapshot_path), clock, std::move(options)));
  Result<std::string> bytes = ReadFile(index->snapshot_path_);
  if (bytes.ok()) {
    Status st = index->LoadSnapshot(*bytes);
    if (!st.ok()) {
      return Status::Corruption(index->snapshot_path_ + ": " + st.message() +
                                "; delete the file to rebuild the crash groups from the log");
    }
  } else if (bytes.status().code() != StatusCode::kNotFound) {
    return bytes.status();
  }
  return index;
}

CrashGroupIndex::~CrashGroupIndex() { Stop(); }

void CrashGroupIndex::SetReprocessor(AvailableFn available, ReprocessFn reprocess) {
  available_ = std::move(available);
  reprocess_ = std::move(reprocess);
}

void CrashGroupIndex::Start() {
  worker_ = std::thread([this] { Run(); });
}

void CrashGroupIndex::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  Status st = SaveSnapshot();
  if (!st.ok()) {
    std::fprintf(stderr, "vigil: crash groups: cannot save %s: %s\n", snapshot_path_.c_str(),
                 st.ToString().c_str());
  }
}

void CrashGroupIndex::RefreshSentinelGroupsLocked(
    AppState* state, const std::set<std::string>& groups,
    std::map<uint64_t, std::vector<std::string>>* refresh) {
  struct Span {
    int64_t first, last;
    const std::string* latest_id;
    uint64_t latest_offset;
  };
  std::map<std::string, Span> spans;  // group -> its remaining crashes' times
  for (const auto& [id, s] : state->sentinel) {
    if (groups.count(s.group_id) == 0) continue;
    auto [it, added] = spans.try_emplace(s.group_id, Span{s.ts, s.ts, &id, s.raw_offset});
    if (added) continue;
    it->second.first = std::min(it->second.first, s.ts);
    if (s.ts >= it->second.last) {
      it->second.last = s.ts;
      it->second.latest_id = &id;
      it->second.latest_offset = s.raw_offset;
    }
  }
  for (const std::string& id : groups) {
    auto g = state->groups.find(id);
    auto span = spans.find(id);
    if (g == state->groups.end() || span == spans.end()) continue;
    g->second.first_seen_ms = span->second.first;
    g->second.last_seen_ms = span->second.last;
    if (g->second.sample.empty()) {
      (*refresh)[span->second.latest_offset].push_back(*span->second.latest_id);
    }
  }
}

void CrashGroupIndex::ApplyLocked(const std::string& app, const BatchRecord& record,
                                  std::map<uint64_t, std::vector<std::string>>* ready,
                                  std::set<std::string>* moved_from) {
  AppState& state = apps_[app];
  std::string version(record.header.app.Get("version").AsString());
  for (const EventView& e : record.events) {
    if (!IsCrashEvent(e.type)) continue;
    BinaryValue processed = e.fields.Get("processed");
    BinaryValue processing = e.fields.Get("processing");
    if (!processed.is_object()) continue;
    bool handled = e.type == EventType::kHandledException;
    std::string event_id(e.id);
    if (processing.Get("reprocessed").is_true()) {
      auto it = state.sentinel.find(event_id);
      if (it == state.sentinel.end()) continue;  // moved already: nothing to do
      auto g = state.groups.find(it->second.group_id);
      if (g != state.groups.end()) {
        AddCounts(&g->second, it->second.version, it->second.handled, -1);
        RemoveSampleLocked(app, &g->second, it->second.version, event_id);
        for (const std::string& m : it->second.missing) {
          auto mi = g->second.missing.find(m);
          if (mi != g->second.missing.end() && --mi->second == 0) g->second.missing.erase(mi);
        }
        if (g->second.events() == 0) {
          for (const auto& [v, refs] : g->second.samples) {
            for (const CrashGroup::SampleRef& r : refs) {
              QueueSampleDeleteLocked(SampleKey(app, g->first, v, r.event_id));
            }
          }
          state.groups.erase(g);
        } else {
          moved_from->insert(g->first);
          if (g->second.sample_event_id == event_id) {  // the sample is no longer one of its own
            g->second.sample.clear();
            g->second.sample_ts = 0;
            g->second.sample_event_id.clear();
          }
        }
      }
      state.sentinel.erase(it);
    }
    std::string group_id(processed.Get("group_id").AsString());
    CrashGroup& g = state.groups[group_id];
    if (g.id.empty()) {
      g.id = group_id;
      g.title = std::string(processed.Get("title").AsString());
      g.culprit = std::string(processed.Get("culprit").AsString());
      g.type = std::string(processed.Get("type").AsString());
      g.sentinel = processed.Get("sentinel").is_true();
      g.first_seen_ms = e.ts_ms;
      g.last_seen_ms = e.ts_ms;
    }
    AddCounts(&g, version, handled, 1);
    g.first_seen_ms = std::min(g.first_seen_ms, e.ts_ms);
    g.last_seen_ms = std::max(g.last_seen_ms, e.ts_ms);
    std::string json = SampleJson(record, e, version);
    if (g.sample.empty() || e.ts_ms >= g.sample_ts) {
      g.sample = json;
      g.sample_ts = e.ts_ms;
      g.sample_event_id = event_id;
      g.symbolicated = processed.Get("symbolicated").is_true();
    }
    AddSampleLocked(app, &g, version, e, std::move(json));
    if (!g.sentinel) continue;
    SentinelCrash s;
    s.group_id = group_id;
    s.version = version;
    s.raw_offset = static_cast<uint64_t>(processing.Get("raw_offset").AsInt());
    s.ts = e.ts_ms;
    s.handled = handled;
    bool available = false;
    processed.Get("missing").ForEach([&](std::string_view, const BinaryValue& m) {
      s.missing.emplace_back(m.AsString());
      ++g.missing[s.missing.back()];
      if (available_ && available_(app, s.missing.back())) available = true;
    });
    // Symbols that arrived between processing and now: reprocess at once. Not for a
    // reprocessed crash (its symbols were looked up just now), so a file that is stored but
    // unusable cannot loop.
    if (available && !processing.Get("reprocessed").is_true()) {
      (*ready)[s.raw_offset].push_back(event_id);
    }
    state.sentinel[event_id] = std::move(s);
  }
}

void CrashGroupIndex::AddSampleLocked(const std::string& app, CrashGroup* g,
                                      const std::string& version, const EventView& e,
                                      std::string json) {
  if (sample_store_ == nullptr) return;
  std::vector<CrashGroup::SampleRef>& refs = g->samples[version];
  const bool already = std::any_of(
      refs.begin(), refs.end(), [&](const CrashGroup::SampleRef& r) { return r.event_id == e.id; });
  if (!already) {
    if (refs.size() >= kSamplesPerVersion) {
      auto oldest = std::min_element(refs.begin(), refs.end(),
                                     [](const CrashGroup::SampleRef& a,
                                        const CrashGroup::SampleRef& b) { return a.ts < b.ts; });
      if (oldest->ts > e.ts_ms) return;  // older than every sample kept
      QueueSampleDeleteLocked(SampleKey(app, g->id, version, oldest->event_id));
      refs.erase(oldest);
    }
    refs.push_back({e.ts_ms, std::string(e.id)});
  }
  // An event delivered again replaces its own sample, which an earlier flush may have stored.
  QueueSamplePutLocked(SampleKey(app, g->id, version, e.id), std::move(json),
                       /*maybe_stored=*/already);
}

void CrashGroupIndex::QueueSamplePutLocked(std::string key, std::string json, bool maybe_stored) {
  if (sample_store_ == nullptr) return;
  auto [it, added] = pending_samples_.try_emplace(std::move(key));
  // New since the last flush. (After a crash, records replayed from the snapshot's offsets add
  // samples that a flush past kMaxPendingSampleBytes may have stored before it: if one is evicted
  // before the next flush, its stored copy stays, named by no group, never read.)
  if (added) it->second.only_here = !maybe_stored;
  if (it->second.json) pending_sample_bytes_ -= it->second.json->size();
  pending_sample_bytes_ += json.size();
  it->second.json = std::move(json);
}

void CrashGroupIndex::QueueSampleDeleteLocked(std::string key) {
  if (sample_store_ == nullptr) return;
  auto it = pending_samples_.find(key);
  if (it == pending_samples_.end()) {
    pending_samples_.emplace(std::move(key), PendingSample{});
    return;
  }
  if (it->second.json) pending_sample_bytes_ -= it->second.json->size();
  if (it->second.only_here) {
    pending_samples_.erase(it);  // put and evicted between two flushes: the store never saw it
  } else {
    it->second.json.reset();
  }
}

Status CrashGroupIndex::FlushSamples(bool sync) {
  if (sample_store_ == nullptr) return Status::Ok();
  std::unordered_map<std::string, PendingSample> flushing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_samples_.empty()) return Status::Ok();
    flushing.swap(pending_samples_);
    pending_sample_bytes_ = 0;
  }
  WriteSet writes;
  for (const auto& [key, p] : flushing) {
    if (p.json) {
      writes.PutMeta(key, *p.json);
    } else {
      writes.DeleteMeta(key);
    }
  }
  Status st = sample_store_->Apply(writes, sync);
  if (st.ok()) return st;
  // Pending again, unless written anew meanwhile; the store may hold any of them now.
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, p] : flushing) {
    auto [it, added] = pending_samples_.try_emplace(key, std::move(p));
    if (!added) continue;
    it->second.only_here = false;
    if (it->second.json) pending_sample_bytes_ += it->second.json->size();
  }
  return st;
}

void CrashGroupIndex::RemoveSampleLocked(const std::string& app, CrashGroup* g,
                                         const std::string& version, const std::string& event_id) {
  auto v = g->samples.find(version);
  if (v == g->samples.end()) return;
  auto& refs = v->second;
  auto it = std::find_if(refs.begin(), refs.end(),
                         [&](const CrashGroup::SampleRef& r) { return r.event_id == event_id; });
  if (it == refs.end()) return;
  refs.erase(it);
  if (refs.empty()) g->samples.erase(v);
  QueueSampleDeleteLocked(SampleKey(app, g->id, version, event_id));
}

Result<std::vector<std::string>> CrashGroupIndex::Samples(const std::string& app,
                                                          const std::string& group_id,
                                                          int64_t from_ms, int64_t to_ms) const {
  std::vector<std::pair<int64_t, std::string>> keys;     // (ts, key)
  std::unordered_map<std::string, std::string> pending;  // of those keys, what is not flushed yet
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto a = apps_.find(app);
    if (a == apps_.end()) return std::vector<std::string>();
    auto g = a->second.groups.find(group_id);
    if (g == a->second.groups.end()) return std::vector<std::string>();
    for (const auto& [version, refs] : g->second.samples) {
      for (const CrashGroup::SampleRef& r : refs) {
        if (r.ts >= from_ms && r.ts < to_ms) {
          keys.emplace_back(r.ts, SampleKey(app, group_id, version, r.event_id));
          auto p = pending_samples_.find(keys.back().second);
          if (p != pending_samples_.end() && p->second.json) {
            pending.emplace(keys.back().second, *p->second.json);
          }
        }
      }
    }
  }
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> out;
  if (sample_store_ == nullptr) return out;
  for (const auto& [ts, key] : keys) {
    if (auto p = pending.find(key); p != pending.end()) {
      out.push_back(std::move(p->second));
      continue;
    }
    Result<std::optional<std::string>> v = sample_store_->GetMeta(key);
    if (!v.ok()) return v.status();
    // Not there: its write failed, or a later crash evicted it since the lookup above.
    if (v->has_value()) out.push_back(std::move(**v));
  }
  return out;
}

Status CrashGroupIndex::RunRound(bool* did_work) {
  *did_work = false;
  backlog_ = false;
  std::map<std::string, std::map<uint64_t, std::vector<std::string>>> ready;  // app -> ...
  for (const log::PartitionInfo& p : processed_->Partitions()) {
    uint64_t next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = next_.find(p.name);
      next = it == next_.end() ? 0 : it->second;
    }
    next = std::max(next, p.start_offset);
    if (next >= p.end_offset) continue;
    std::vector<log::LogRecord> records;
    VIGIL_RETURN_IF_ERROR(processed_->Read(p.name, next, options_.records_per_turn, &records));
    if (records.empty()) continue;
    std::lock_guard<std::mutex> lock(mu_);
    std::set<std::string> moved_from;
    for (const log::LogRecord& r : records) {
      BatchRecord batch;
      uint64_t raw_offset;
      if (log::DecodeReference(r.payload, &raw_offset)) {
        // A raw record repeated unchanged: it has no crashes, so nothing to read.
      } else if (DecodeBatchRecord(r.payload, &batch, ValueCheck::kShallow).ok()) {
        ApplyLocked(p.name, batch, &ready[p.name], &moved_from);
      } else {
        std::fprintf(stderr, "vigil: crash groups: processed record %s/%llu does not decode\n",
                     p.name.c_str(), static_cast<unsigned long long>(r.offset));
      }
      next_[p.name] = r.offset + 1;
    }
    if (records.back().offset + 1 < p.end_offset) backlog_ = true;
    if (!moved_from.empty()) {
      RefreshSentinelGroupsLocked(&apps_[p.name], moved_from, &ready[p.name]);
    }
    dirty_ = true;
    *did_work = true;
  }
  bool flush = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    flush = pending_sample_bytes_ > kMaxPendingSampleBytes;
  }
  if (flush) {
    // Without sync: the snapshot's flush syncs them, and a crash before it replays these records.
    Status st = FlushSamples(/*sync=*/false);
    if (!st.ok()) {
      std::fprintf(stderr, "vigil: crash groups: samples not stored: %s\n", st.ToString().c_str());
    }
  }
  if (reprocess_) {
    for (auto& [app, by_offset] : ready) {
      if (!by_offset.empty()) reprocess_(app, Targets(std::move(by_offset)));
    }
  }
  return Status::Ok();
}

std::vector<process::ReprocessTarget> CrashGroupIndex::Targets(
    std::map<uint64_t, std::vector<std::string>> by_offset) {
  std::vector<process::ReprocessTarget> out;
  for (auto& [offset, ids] : by_offset) {
    process::ReprocessTarget t;
    t.raw_offset = offset;
    t.event_ids = std::move(ids);
    out.push_back(std::move(t));
  }
  return out;
}

size_t CrashGroupIndex::ReprocessSentinel(const std::string& app, const std::string& version) {
  std::map<uint64_t, std::vector<std::string>> by_offset;
  size_t n = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto a = apps_.find(app);
    if (a == apps_.end()) return 0;
    for (const auto& [id, s] : a->second.sentinel) {
      if (!version.empty() && s.version != version) continue;
      by_offset[s.raw_offset].push_back(id);
      ++n;
    }
  }
  if (n > 0 && reprocess_) reprocess_(app, Targets(std::move(by_offset)));
  return n;
}

size_t CrashGroupIndex::ReprocessAvailable(const std::string& app) {
  if (!available_ || !reprocess_) return 0;
  std::map<std::string, std::map<uint64_t, std::vector<std::string>>> ready;
  size_t n = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, state] : apps_) {
      if (!app.empty() && name != app) continue;
      for (const auto& [id, s] : state.sentinel) {
        for (const std::string& m : s.missing) {
          if (available_(name, m)) {
            ready[name][s.raw_offset].push_back(id);
            ++n;
            break;
          }
        }
      }
    }
  }
  for (auto& [name, by_offset] : ready) reprocess_(name, Targets(std::move(by_offset)));
  return n;
}

size_t CrashGroupIndex::sentinel_crashes() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [name, state] : apps_) n += state.sentinel.size();
  return n;
}

std::vector<CrashGroup> CrashGroupIndex::List(const std::string& app,
                                              const std::string& version) const {
  std::vector<CrashGroup> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto a = apps_.find(app);
    if (a == apps_.end()) return out;
    for (const auto& [id, g] : a->second.groups) {
      if (version.empty()) {
        out.push_back(g);
        continue;
      }
      auto v = g.versions.find(version);
      if (v == g.versions.end()) continue;
      CrashGroup only = g;
      only.crashes = v->second.crashes;
      only.handled = v->second.handled;
      only.versions = {{v->first, v->second}};
      out.push_back(std::move(only));
    }
  }
  std::sort(out.begin(), out.end(), [](const CrashGroup& a, const CrashGroup& b) {
    if (a.events() != b.events()) return a.events() > b.events();
    return a.id < b.id;
  });
  return out;
}

std::optional<CrashGroup> CrashGroupIndex::Get(const std::string& app,
                                               const std::string& group_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto a = apps_.find(app);
  if (a == apps_.end()) return std::nullopt;
  auto g = a->second.groups.find(group_id);
  if (g == a->second.groups.end()) return std::nullopt;
  return g->second;
}

void CrashGroupIndex::Run() {
  SetThreadName("vigil-groups");
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
    Status st = RunRound(&did);
    if (!st.ok()) errors.Print("vigil: crash groups: " + st.ToString());
    int64_t now = clock_->NowMs();
    if (now - last_snapshot_ms_ >= options_.snapshot_interval_ms) {
      last_snapshot_ms_ = now;
      st = SaveSnapshot();
      if (!st.ok()) errors.Print("vigil: crash groups: " + st.ToString());
    }
    if (!did || !backlog_) {  // caught up: let records gather
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(options_.idle_wait_ms),
                   [&] { return stopping_; });
    }
  }
}

// Snapshot: kSnapshotMagic, then one binary value:
//   {"offsets": {app: next}, "apps": {app: {"groups": [group...], "sentinel": [crash...]}}}
//   group = {"id","title","culprit","type","sentinel","first","last","versions":{v:[c,h]},
//            "missing":{id:n},"sample","sample_ts","sample_event","symbolicated",
//            "samples":{v:[[ts, event id]...]}}
//   crash = [event id, group id, version, raw offset, handled, [missing...], ts]
Status CrashGroupIndex::SaveSnapshot() {
  std::string bytes(kSnapshotMagic);
  std::map<std::string, uint64_t> offsets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!dirty_) return Status::Ok();
    BinaryValueWriter w(&bytes);
    w.BeginObject();
    w.Key("offsets");
    w.BeginObject();
    for (const auto& [app, next] : next_) {
      w.Key(app);
      w.Uint(next);
    }
    w.EndObject();
    w.Key("apps");
    w.BeginObject();
    for (const auto& [app, state] : apps_) {
      w.Key(app);
      w.BeginObject();
      w.Key("groups");
      w.BeginArray();
      for (const auto& [id, g] : state.groups) {
        w.BeginObject();
        w.Key("id");
        w.String(g.id);
        w.Key("title");
        w.String(g.title);
        w.Key("culprit");
        w.String(g.culprit);
        w.Key("type");
        w.String(g.type);
        w.Key("sentinel");
        w.Bool(g.sentinel);
        w.Key("first");
        w.Int(g.first_seen_ms);
        w.Key("last");
        w.Int(g.last_seen_ms);
        w.Key("versions");
        w.BeginObject();
        for (const auto& [v, c] : g.versions) {
          w.Key(v);
          w.BeginArray();
          w.Uint(c.crashes);
          w.Uint(c.handled);
          w.EndArray();
        }
        w.EndObject();
        w.Key("missing");
        w.BeginObject();
        for (const auto& [m, n] : g.missing) {
          w.Key(m);
          w.Uint(n);
        }
        w.EndObject();
        w.Key("sample");
        w.String(g.sample);
        w.Key("sample_ts");
        w.Int(g.sample_ts);
        w.Key("sample_event");
        w.String(g.sample_event_id);
        w.Key("symbolicated");
        w.Bool(g.symbolicated);
        w.Key("samples");
        w.BeginObject();
        for (const auto& [v, refs] : g.samples) {
          w.Key(v);
          w.BeginArray();
          for (const CrashGroup::SampleRef& r : refs) {
            w.BeginArray();
            w.Int(r.ts);
            w.String(r.event_id);
            w.EndArray();
          }
          w.EndArray();
        }
        w.EndObject();
        w.EndObject();
      }
      w.EndArray();
      w.Key("sentinel");
      w.BeginArray();
      for (const auto& [id, s] : state.sentinel) {
        w.BeginArray();
        w.String(id);
        w.String(s.group_id);
        w.String(s.version);
        w.Uint(s.raw_offset);
        w.Bool(s.handled);
        w.BeginArray();
        for (const std::string& m : s.missing) w.String(m);
        w.EndArray();
        w.Int(s.ts);
        w.EndArray();
      }
      w.EndArray();
      w.EndObject();
    }
    w.EndObject();
    w.EndObject();
    offsets = next_;
    dirty_ = false;
  }
  // The samples its groups name reach the store, durably, before the snapshot does. (Only the
  // worker applies records, and it is here or stopped: nothing newer is pending.)
  Status st = FlushSamples(/*sync=*/true);
  if (st.ok()) st = WriteFileAtomically(snapshot_path_, bytes);
  if (!st.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = true;
    return st;
  }
  // The log may drop what the snapshot holds: commit the offsets it reflects.
  for (const auto& [app, next] : offsets) {
    VIGIL_RETURN_IF_ERROR(processed_->CommitOffset(options_.consumer, app, next));
  }
  return Status::Ok();
}

Status CrashGroupIndex::LoadSnapshot(std::string_view bytes) {
  if (bytes.substr(0, kSnapshotMagic.size()) != kSnapshotMagic) {
    return Status::Corruption("not a crash-group snapshot of this version");
  }
  bytes.remove_prefix(kSnapshotMagic.size());
  BinaryValue root;
  size_t consumed = 0;
  if (!BinaryValue::Parse(bytes, &root, &consumed) || consumed != bytes.size() ||
      !root.is_object()) {
    return Status::Corruption("the snapshot is truncated or corrupt");
  }
  auto str = [](const BinaryValue& v) { return std::string(v.AsString()); };
  std::lock_guard<std::mutex> lock(mu_);
  root.Get("offsets").ForEach([&](std::string_view app, const BinaryValue& v) {
    next_[std::string(app)] = static_cast<uint64_t>(v.AsInt());
  });
  root.Get("apps").ForEach([&](std::string_view app, const BinaryValue& a) {
    AppState& state = apps_[std::string(app)];
    a.Get("groups").ForEach([&](std::string_view, const BinaryValue& v) {
      CrashGroup g;
      g.id = str(v.Get("id"));
      g.title = str(v.Get("title"));
      g.culprit = str(v.Get("culprit"));
      g.type = str(v.Get("type"));
      g.sentinel = v.Get("sentinel").is_true();
      g.first_seen_ms = v.Get("first").AsInt();
      g.last_seen_ms = v.Get("last").AsInt();
      v.Get("versions").ForEach([&](std::string_view version, const BinaryValue& c) {
        std::vector<uint64_t> n;
        c.ForEach([&](std::string_view, const BinaryValue& x) { n.push_back(x.AsInt()); });
        if (n.size() != 2) return;
        g.versions[std::string(version)] = {n[0], n[1]};
        g.crashes += n[0];
        g.handled += n[1];
      });
      v.Get("missing").ForEach([&](std::string_view id, const BinaryValue& n) {
        g.missing[std::string(id)] = static_cast<uint64_t>(n.AsInt());
      });
      g.sample = str(v.Get("sample"));
      g.sample_ts = v.Get("sample_ts").AsInt();
      g.sample_event_id = str(v.Get("sample_event"));
      g.symbolicated = v.Get("symbolicated").is_true();
      v.Get("samples").ForEach([&](std::string_view version, const BinaryValue& refs) {
        auto& list = g.samples[std::string(version)];
        refs.ForEach([&](std::string_view, const BinaryValue& r) {
          std::vector<BinaryValue> f;
          r.ForEach([&](std::string_view, const BinaryValue& x) { f.push_back(x); });
          if (f.size() == 2) list.push_back({f[0].AsInt(), str(f[1])});
        });
      });
      state.groups[g.id] = std::move(g);
    });
    a.Get("sentinel").ForEach([&](std::string_view, const BinaryValue& v) {
      std::vector<BinaryValue> f;
      v.ForEach([&](std::string_view, const BinaryValue& x) { f.push_back(x); });
      if (f.size() != 7) return;
      SentinelCrash s;
      s.group_id = str(f[1]);
      s.version = str(f[2]);
      s.raw_offset = static_cast<uint64_t>(f[3].AsInt());
      s.handled = f[4].is_true();
      f[5].ForEach([&](std::string_view, const BinaryValue& m) { s.missing.push_back(str(m)); });
      s.ts = f[6].AsInt();
      state.sentinel[str(f[0])] = std::move(s);
    });
  });
  return Status::Ok();
}

}  // namespace vigil::serve
