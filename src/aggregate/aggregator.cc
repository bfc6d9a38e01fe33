// Events → fine rollup cells → emitted cells at every granularity and dimension combination.
#include "aggregate/aggregator.h"

#include <xxhash.h>

#include <cstdio>
#include <optional>

namespace vigil::aggregate {

namespace {

std::string_view StringOr(const BinaryValue& v, std::string_view fallback) {
  std::string_view s = v.AsString();
  return s.empty() ? fallback : s;
}

}  // namespace

EventContext ContextOf(const BatchHeader& header) {
  EventContext c;
  c.version = StringOr(header.app.Get("version"), kUnknown);
  c.os = StringOr(header.device.Get("os"), kUnknown);
  c.user = header.user.Get("id").AsString();
  if (c.user.empty()) c.user = header.device.Get("id").AsString();
  return c;
}

std::string CrashGroupOf(const EventView& event) {
  std::string_view processed = event.fields.Get("processed").Get("group_id").AsString();
  if (!processed.empty()) return std::string(processed);
  // Not processed: the error type and the top three frames (functions, else addresses, else
  // the first lines of a text stack).
  BinaryValue error = event.fields.Get("error");
  std::string signature(error.Get("type").AsString());
  // The crashed thread's frames, else the first thread's.
  BinaryValue thread;
  error.Get("threads").ForEach([&](std::string_view, const BinaryValue& t) {
    if (!thread.present() || (t.Get("crashed").is_true() && !thread.Get("crashed").is_true())) {
      thread = t;
    }
  });
  int frames = 0;
  thread.Get("frames").ForEach([&](std::string_view, const BinaryValue& frame) {
    if (frames >= 3) return;
    signature += '\n';
    std::string_view fn = frame.Get("function").AsString();
    signature += fn.empty() ? frame.Get("instruction_addr").AsString() : fn;
    ++frames;
  });
  if (frames == 0) {
    std::string_view text = error.Get("text").AsString();
    for (int line = 0; line < 4 && !text.empty(); ++line) {
      size_t nl = text.find('\n');
      if (line > 0) {
        signature += '\n';
        signature += text.substr(0, nl);
      }
      text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    }
  }
  char hex[24];
  std::snprintf(hex, sizeof(hex), "raw-%016llx",
                static_cast<unsigned long long>(XXH3_64bits(signature.data(), signature.size())));
  return hex;
}

size_t RollupHash::operator()(const RollupKey& k) const {
  // Chained: each part seeds the next, so ("ab","c") and ("a","bc") hash apart.
  uint64_t h = static_cast<uint64_t>(k.bucket_ms) * 31 + static_cast<uint8_t>(k.granularity);
  for (const std::string* s : {&k.app, &k.metric, &k.subject, &k.version, &k.os}) {
    h = XXH3_64bits_withSeed(s->data(), s->size(), h + s->size());
  }
  return static_cast<size_t>(h);
}

namespace {

// Indexed by Aggregator::MetricId.
constexpr std::string_view kMetricNames[] = {
    metric::kUsers,           metric::kAppLoads,
    metric::kCrashes,         metric::kHandledExceptions,
    metric::kCrashGroup,      metric::kHandledGroup,
    metric::kNetworkRequests, metric::kEndpoint,
    metric::kUserFlows,       metric::kFlow,
    metric::kCustomEvents,    metric::kCustom,
};

}  // namespace

Aggregator::Aggregator(Granularity base) : base_(base) { Clear(); }

uint64_t Aggregator::HashOf(const FineKey& k) {
  uint64_t h = static_cast<uint64_t>(k.bucket_ms) * 0x9E3779B97F4A7C15ull;
  h = (h ^ ((static_cast<uint64_t>(k.app) << 32) | k.metric)) * 0xC2B2AE3D27D4EB4Full;
  h = (h ^ ((static_cast<uint64_t>(k.subject) << 32) | k.version)) * 0x165667B19E3779F9ull;
  h = (h ^ k.os) * 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 32);
}

void Aggregator::Grow() {
  std::vector<Slot> slots(slots_.size() * 2);  // Clear() leaves 1024 slots
  const size_t mask = slots.size() - 1;
  for (uint32_t i = 0; i < keys_.size(); ++i) {
    size_t s = HashOf(keys_[i]) & mask;
    while (slots[s].cell != 0) s = (s + 1) & mask;
    slots[s] = Slot{keys_[i], i + 1};
  }
  slots_.swap(slots);
}

RollupCell& Aggregator::CellOf(const FineKey& key) {
  const size_t mask = slots_.size() - 1;
  size_t s = HashOf(key) & mask;
  for (; slots_[s].cell != 0; s = (s + 1) & mask) {
    if (slots_[s].key == key) return cells_[slots_[s].cell - 1];
  }
  keys_.push_back(key);
  cells_.emplace_back();
  slots_[s] = Slot{key, static_cast<uint32_t>(keys_.size())};
  RollupCell& cell = cells_.back();
  if ((keys_.size() + 1) * 10 > slots_.size() * 7) Grow();  // at most 70 % full
  return cell;
}

uint32_t Aggregator::CapSubject(uint32_t app, MetricId metric, std::string_view subject) {
  const uint64_t scope = (static_cast<uint64_t>(app) << 8) | metric;
  if (std::optional<uint32_t> id = strings_.Find(subject)) {
    if (admitted_subjects_.count((scope << 32) | *id) != 0) return *id;
  }
  size_t& count = subject_counts_[scope];
  if (count >= kMaxSubjects) return strings_.Intern(kOtherSubject);
  ++count;
  uint32_t id = strings_.Intern(subject);  // only admitted subjects are kept
  admitted_subjects_.insert((scope << 32) | id);
  return id;
}

Aggregator::Fact Aggregator::ContextFact(std::string_view app, const EventContext& context,
                                         const EventView& event) {
  Fact f = BatchFact(app, context);
  f.ts_ms = event.ts_ms;
  f.type = event.type;
  return f;
}

Aggregator::Fact Aggregator::BatchFact(std::string_view app, const EventContext& context) {
  Fact f;
  f.app = strings_.Intern(app);
  f.version = strings_.Intern(context.version);
  f.os = strings_.Intern(context.os);
  f.has_user = !context.user.empty();
  if (f.has_user) f.user_hash = HyperLogLog::Hash(context.user);
  return f;
}

RollupCell& Aggregator::Cell(const Fact& fact, int64_t bucket_ms, MetricId metric,
                             uint32_t subject) {
  FineKey key;
  key.bucket_ms = bucket_ms;
  key.app = fact.app;
  key.metric = metric;
  key.subject = subject;
  key.version = fact.version;
  key.os = fact.os;
  return CellOf(key);
}

void Aggregator::AddBatch(std::string_view app, const BatchRecord& batch) {
  const Fact shared = BatchFact(app, ContextOf(batch.header));
  for (const EventView& e : batch.events) AddEvent(shared, e);
}

void Aggregator::AddRegroupedCrash(std::string_view app, const EventContext& context,
                                   const EventView& event, std::string_view previous_group) {
  if (event.type != EventType::kCrash && event.type != EventType::kHandledException) return;
  const MetricId metric = event.type == EventType::kCrash ? kCrashGroupMetric : kHandledGroupMetric;
  const Fact f = ContextFact(app, context, event);
  const int64_t bucket_ms = BucketStart(f.ts_ms, base_);
  RollupCell& g = Cell(f, bucket_ms, metric, Subject(f.app, f.type, CrashGroupOf(event)));
  ++g.count;
  if (f.has_user) g.users.AddHash(f.user_hash);
  g.first_ms = std::min(g.first_ms, f.ts_ms);
  g.last_ms = std::max(g.last_ms, f.ts_ms);
  ++Cell(f, bucket_ms, metric, Subject(f.app, f.type, previous_group)).errors;
}

uint32_t Aggregator::Subject(uint32_t app, EventType type, std::string_view subject) {
  if (subject.empty()) return 0;
  switch (type) {
    case EventType::kCrash:
      return CapSubject(app, kCrashGroupMetric, subject);
    case EventType::kHandledException:
      return CapSubject(app, kHandledGroupMetric, subject);
    case EventType::kNetwork:
      return CapSubject(app, kEndpointMetric, subject);
    case EventType::kUserFlow:
      return CapSubject(app, kFlowMetric, subject);
    case EventType::kCustom:
      return CapSubject(app, kCustomMetric, subject);
    case EventType::kSessionStart:
      break;
  }
  return 0;
}

void Aggregator::AddEvent(std::string_view app, const EventContext& context,
                          const EventView& event) {
  AddEvent(BatchFact(app, context), event);
}

void Aggregator::AddEvent(const Fact& batch, const EventView& event) {
  FactsOf(event, &facts_);
  Fact f = batch;
  f.ts_ms = event.ts_ms;
  f.type = event.type;
  f.subject = Subject(f.app, f.type, facts_.subject);
  f.error = facts_.error;
  f.bytes = facts_.bytes;
  f.has_latency = facts_.has_latency;
  f.latency = facts_.latency;
  AddFact(f);
}

template <typename CellFn, typename AddUserFn>
void Aggregator::Count(const Fact& f, CellFn&& cell, AddUserFn&& add_user_to) {
  auto add_user = [&](RollupCell& c, MetricId metric) {
    if (f.has_user) add_user_to(metric, c);
  };
  {
    RollupCell& c = cell(kUsersMetric, 0);
    ++c.count;
    add_user(c, kUsersMetric);
  }
  switch (f.type) {
    case EventType::kSessionStart:
      ++cell(kAppLoadsMetric, 0).count;
      return;
    case EventType::kCrash:
    case EventType::kHandledException: {
      bool crash = f.type == EventType::kCrash;
      const MetricId total_metric = crash ? kCrashesMetric : kHandledExceptionsMetric;
      RollupCell& total = cell(total_metric, 0);
      ++total.count;
      add_user(total, total_metric);
      const MetricId group_metric = crash ? kCrashGroupMetric : kHandledGroupMetric;
      RollupCell& g = cell(group_metric, f.subject);
      ++g.count;
      add_user(g, group_metric);
      g.first_ms = std::min(g.first_ms, f.ts_ms);
      g.last_ms = std::max(g.last_ms, f.ts_ms);
      return;
    }
    case EventType::kNetwork: {
      // network_requests is not kept fine: Emit sums it from the endpoint cells.
      RollupCell& c = cell(kEndpointMetric, f.subject);
      ++c.count;
      c.errors += f.error ? 1 : 0;
      c.bytes += f.bytes;
      c.latency.Add(f.latency);
      return;
    }
    case EventType::kUserFlow: {
      RollupCell& total = cell(kUserFlowsMetric, 0);
      RollupCell& flow = cell(kFlowMetric, f.subject);
      for (RollupCell* c : {&total, &flow}) {
        ++c->count;
        c->errors += f.error ? 1 : 0;
        if (f.has_latency) c->latency.Add(f.latency);
      }
      add_user(flow, kFlowMetric);
      return;
    }
    case EventType::kCustom: {
      ++cell(kCustomEventsMetric, 0).count;
      RollupCell& c = cell(kCustomMetric, f.subject);
      ++c.count;
      add_user(c, kCustomMetric);
      return;
    }
  }
}

namespace {
void AddUser(const Aggregator::Fact& f, RollupCell& c) { c.users.AddHash(f.user_hash); }
}  // namespace

void Aggregator::AddFact(const Fact& f) {
  const int64_t bucket_ms = BucketStart(f.ts_ms, base_);
  Count(
      f,
      [&](MetricId metric, uint32_t subject) -> RollupCell& {
        return Cell(f, bucket_ms, metric, subject);
      },
      [&](MetricId, RollupCell& c) { AddUser(f, c); });
}

Aggregator::BucketCells::BucketCells(Aggregator* agg, uint32_t app, int64_t bucket_ms,
                                     size_t contexts, size_t subject_codes)
    : agg_(agg),
      app_(app),
      bucket_ms_(BucketStart(bucket_ms, agg->base_)),
      bucket_end_ms_(bucket_ms_ + BucketWidthMs(agg->base_)),
      subject_codes_(subject_codes),
      totals_(contexts * kMetricCount, nullptr) {
  if (contexts * subject_codes <= kMaxSubjectSlots) {
    subjects_.assign(contexts * subject_codes, nullptr);
  }
  users_.resize(contexts);
}

Aggregator::BucketCells::~BucketCells() {
  for (size_t context = 0; context < users_.size(); ++context) {
    const std::vector<uint64_t>& hashes = users_[context];
    if (hashes.empty()) continue;
    // A context's users cell exists once a fact of it was counted, which buffered its user.
    totals_[context * kMetricCount + kUsersMetric]->users.AddHashes(hashes);
  }
}

void Aggregator::BucketCells::Add(const Fact& f, uint32_t context, uint32_t subject_code) {
  if (f.app != app_ || f.ts_ms < bucket_ms_ || f.ts_ms >= bucket_end_ms_) {
    agg_->AddFact(f);
    return;
  }
  Count(
      f,
      [&](MetricId metric, uint32_t subject) -> RollupCell& {
        RollupCell** slot;
        if (subject == 0) {
          slot = &totals_[context * kMetricCount + metric];
        } else if (!subjects_.empty()) {
          slot = &subjects_[context * subject_codes_ + subject_code];
        } else {
          return agg_->Cell(f, bucket_ms_, metric, subject);
        }
        if (*slot == nullptr) *slot = &agg_->Cell(f, bucket_ms_, metric, subject);
        return **slot;
      },
      [&](MetricId metric, RollupCell& c) {
        if (metric == kUsersMetric) {
          users_[context].push_back(f.user_hash);
        } else {
          AddUser(f, c);
        }
      });
}

void Aggregator::Emit(const std::vector<Granularity>& granularities, RollupMap* out) const {
  // Every fine cell merges into 4 version/os combinations at each granularity (an endpoint cell
  // into network_requests as well). Merged fine cell by fine cell, each merge went to another
  // output cell: a string-keyed map lookup each time, and sketches (exact and sparse tables)
  // missing the cache as a cell's users went to eight other sketches in turn. So the output
  // cells are found first by their interned ids, each fine cell is listed under each output it
  // merges into, and then each output takes all of its fine cells in one run and is looked up
  // in `out` once. The users of its exact (small) sketches are gathered and added at once: a
  // day's crashed users, ~240 hourly sketches of ~40, went exact → sparse → dense one add at a
  // time, where AddHashes writes a run that large straight into registers.
  struct OutKey {
    int64_t bucket_ms;
    uint32_t app, metric, subject, version, os;
    uint8_t granularity;
    bool operator==(const OutKey&) const = default;
  };
  auto hash_of = [](const OutKey& k) {
    uint64_t h = static_cast<uint64_t>(k.bucket_ms) * 0x9E3779B97F4A7C15ull + k.granularity;
    h = (h ^ ((static_cast<uint64_t>(k.app) << 32) | k.metric)) * 0xC2B2AE3D27D4EB4Full;
    h = (h ^ ((static_cast<uint64_t>(k.subject) << 32) | k.version)) * 0x165667B19E3779F9ull;
    h = (h ^ k.os) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
  };
  std::vector<OutKey> outputs;
  std::vector<uint32_t> slots(1024, UINT32_MAX);  // open addressing: index into outputs
  auto output_of = [&](const OutKey& k) -> uint32_t {
    size_t mask = slots.size() - 1;
    size_t s = hash_of(k) & mask;
    for (; slots[s] != UINT32_MAX; s = (s + 1) & mask) {
      if (outputs[slots[s]] == k) return slots[s];
    }
    const uint32_t index = static_cast<uint32_t>(outputs.size());
    outputs.push_back(k);
    slots[s] = index;
    if (outputs.size() * 2 > slots.size()) {  // at most half full
      slots.assign(slots.size() * 2, UINT32_MAX);
      mask = slots.size() - 1;
      for (uint32_t o = 0; o < outputs.size(); ++o) {
        size_t t = hash_of(outputs[o]) & mask;
        while (slots[t] != UINT32_MAX) t = (t + 1) & mask;
        slots[t] = o;
      }
    }
    return index;
  };
  // (output, fine cell) pairs, then grouped by output (a counting sort, fine cells in order).
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  pairs.reserve(keys_.size() * granularities.size() * 4);
  for (uint32_t i = 0; i < keys_.size(); ++i) {
    const FineKey& fine = keys_[i];
    const bool endpoint = fine.metric == kEndpointMetric;
    for (int as_total = 0; as_total < (endpoint ? 2 : 1); ++as_total) {
      for (Granularity g : granularities) {
        for (int combo = 0; combo < 4; ++combo) {
          OutKey k;
          k.bucket_ms = BucketStart(fine.bucket_ms, g);
          k.granularity = static_cast<uint8_t>(g);
          k.app = fine.app;
          k.metric = as_total ? kNetworkRequestsMetric : fine.metric;
          k.subject = as_total ? 0 : fine.subject;  // 0 is kAll
          k.version = combo & 1 ? 0 : fine.version;
          k.os = combo & 2 ? 0 : fine.os;
          pairs.emplace_back(output_of(k), i);
        }
      }
    }
  }
  std::vector<uint32_t> start(outputs.size() + 1, 0);
  for (const auto& [o, i] : pairs) ++start[o + 1];
  for (size_t o = 0; o < outputs.size(); ++o) start[o + 1] += start[o];
  std::vector<uint32_t> members(pairs.size());
  {
    std::vector<uint32_t> next(start.begin(), start.end() - 1);
    for (const auto& [o, i] : pairs) members[next[o]++] = i;
  }
  RollupKey k;
  std::vector<uint64_t> exact_users;  // of the output's exact member sketches: one AddHashes
  for (uint32_t o = 0; o < outputs.size(); ++o) {
    const OutKey& ok = outputs[o];
    k.app = strings_.Get(ok.app);
    k.metric = kMetricNames[ok.metric];
    k.subject = strings_.Get(ok.subject);
    k.version = strings_.Get(ok.version);
    k.os = strings_.Get(ok.os);
    k.granularity = static_cast<Granularity>(ok.granularity);
    k.bucket_ms = ok.bucket_ms;
    auto [it, inserted] = out->try_emplace(k);
    if (!inserted) {
      // A cell `out` already held takes the fine cells one by one, in order, as it always did
      // (a latency sum rounds as before).
      for (uint32_t m = start[o]; m < start[o + 1]; ++m) it->second.Merge(cells_[members[m]]);
      continue;
    }
    RollupCell& merged = it->second;
    exact_users.clear();
    for (uint32_t m = start[o]; m < start[o + 1]; ++m) {
      merged.Merge(cells_[members[m]], &exact_users);
    }
    merged.users.AddHashes(exact_users);
  }
}

void Aggregator::Clear() {
  strings_.Clear();
  strings_.Intern(kAll);  // id 0
  keys_.clear();
  cells_.clear();
  slots_.assign(1024, Slot{});
  admitted_subjects_.clear();
  subject_counts_.clear();
}

}  // namespace vigil::aggregate
