// Events → fine rollup cells → emitted cells at every granularity and dimension combination.
#include "aggregate/aggregator.h"

#include <xxhash.h>

#include <cstdio>

#include "aggregate/endpoint.h"

namespace vigil::aggregate {

namespace {

std::string_view StringOr(const BinaryValue& v, std::string_view fallback) {
  std::string_view s = v.AsString();
  return s.empty() ? fallback : s;
}

uint64_t NonNegative(const BinaryValue& v) {
  int64_t i = v.AsInt();
  return i > 0 ? static_cast<uint64_t>(i) : 0;
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

std::string_view Aggregator::CapSubject(std::string_view app, std::string_view metric,
                                        std::string_view subject) {
  std::string scope;
  scope.reserve(app.size() + metric.size() + 1);
  scope.append(app).append(1, '\0').append(metric);
  std::unordered_set<std::string>& seen = subjects_[scope];
  std::string s(subject);
  if (seen.count(s) != 0) return subject;
  if (seen.size() >= kMaxSubjects) return kOtherSubject;
  seen.insert(std::move(s));
  return subject;
}

RollupCell& Aggregator::Cell(std::string_view app, std::string_view metric,
                             std::string_view subject, const EventContext& context, int64_t ts_ms) {
  scratch_.app.assign(app);
  scratch_.metric.assign(metric);
  scratch_.subject.assign(subject);
  scratch_.version.assign(context.version);
  scratch_.os.assign(context.os);
  scratch_.granularity = base_;
  scratch_.bucket_ms = BucketStart(ts_ms, base_);
  auto it = cells_.find(scratch_);
  if (it != cells_.end()) return it->second;
  // A new cell: only now can its subject be new, so only now is the cap consulted.
  if (!subject.empty()) {
    std::string_view capped = CapSubject(app, metric, subject);
    if (capped != subject) {
      scratch_.subject.assign(capped);
      it = cells_.find(scratch_);
      if (it != cells_.end()) return it->second;
    }
  }
  return cells_.emplace(scratch_, RollupCell()).first->second;
}

void Aggregator::AddBatch(std::string_view app, const BatchRecord& batch) {
  EventContext context = ContextOf(batch.header);
  for (const EventView& e : batch.events) AddEvent(app, context, e);
}

void Aggregator::AddRegroupedCrash(std::string_view app, const EventContext& context,
                                   const EventView& event, std::string_view previous_group) {
  if (event.type != EventType::kCrash && event.type != EventType::kHandledException) return;
  const std::string_view metric =
      event.type == EventType::kCrash ? metric::kCrashGroup : metric::kHandledGroup;
  const int64_t ts = event.ts_ms;
  RollupCell& g = Cell(app, metric, CrashGroupOf(event), context, ts);
  ++g.count;
  if (!context.user.empty()) g.users.Add(context.user);
  g.first_ms = std::min(g.first_ms, ts);
  g.last_ms = std::max(g.last_ms, ts);
  ++Cell(app, metric, previous_group, context, ts).errors;
}

void Aggregator::AddEvent(std::string_view app, const EventContext& context,
                          const EventView& event) {
  const int64_t ts = event.ts_ms;
  auto add_user = [&](RollupCell& c) {
    if (!context.user.empty()) c.users.Add(context.user);
  };
  {
    RollupCell& c = Cell(app, metric::kUsers, kAll, context, ts);
    ++c.count;
    add_user(c);
  }
  switch (event.type) {
    case EventType::kSessionStart:
      ++Cell(app, metric::kAppLoads, kAll, context, ts).count;
      return;
    case EventType::kCrash:
    case EventType::kHandledException: {
      bool crash = event.type == EventType::kCrash;
      RollupCell& total =
          Cell(app, crash ? metric::kCrashes : metric::kHandledExceptions, kAll, context, ts);
      ++total.count;
      add_user(total);
      std::string group = CrashGroupOf(event);
      std::string_view metric = crash ? metric::kCrashGroup : metric::kHandledGroup;
      RollupCell& g = Cell(app, metric, group, context, ts);
      ++g.count;
      add_user(g);
      g.first_ms = std::min(g.first_ms, ts);
      g.last_ms = std::max(g.last_ms, ts);
      return;
    }
    case EventType::kNetwork: {
      BinaryValue n = event.fields.Get("network");
      int64_t status = n.Get("status").AsInt();
      bool failed = status >= 400 || status == 0 || n.Get("error").is_string();
      uint64_t bytes = NonNegative(n.Get("bytes_sent")) + NonNegative(n.Get("bytes_received"));
      double duration = n.Get("duration_ms").AsDouble();
      std::string endpoint(n.Get("method").AsString());
      endpoint += ' ';
      endpoint += EndpointTemplate(n.Get("url").AsString());
      for (RollupCell* c : {&Cell(app, metric::kNetworkRequests, kAll, context, ts),
                            &Cell(app, metric::kEndpoint, endpoint, context, ts)}) {
        ++c->count;
        c->errors += failed ? 1 : 0;
        c->bytes += bytes;
        c->latency.Add(duration);
      }
      return;
    }
    case EventType::kUserFlow: {
      BinaryValue f = event.fields.Get("flow");
      std::string_view outcome = f.Get("outcome").AsString();
      BinaryValue d = f.Get("duration_ms");
      std::string subject(f.Get("name").AsString());
      subject += kFlowSeparator;
      subject += outcome;
      RollupCell& total = Cell(app, metric::kUserFlows, kAll, context, ts);
      RollupCell& flow = Cell(app, metric::kFlow, subject, context, ts);
      for (RollupCell* c : {&total, &flow}) {
        ++c->count;
        c->errors += outcome == "success" ? 0 : 1;
        if (d.is_number()) c->latency.Add(d.AsDouble());
      }
      add_user(flow);
      return;
    }
    case EventType::kCustom: {
      ++Cell(app, metric::kCustomEvents, kAll, context, ts).count;
      std::string_view name = event.fields.Get("name").AsString();
      RollupCell& c = Cell(app, metric::kCustom, name, context, ts);
      ++c.count;
      add_user(c);
      return;
    }
  }
}

void Aggregator::Emit(const std::vector<Granularity>& granularities, RollupMap* out) const {
  RollupKey k;
  for (const auto& [fine, cell] : cells_) {
    k.app = fine.app;
    k.metric = fine.metric;
    k.subject = fine.subject;
    for (Granularity g : granularities) {
      k.granularity = g;
      k.bucket_ms = BucketStart(fine.bucket_ms, g);
      for (int combo = 0; combo < 4; ++combo) {
        k.version = combo & 1 ? std::string(kAll) : fine.version;
        k.os = combo & 2 ? std::string(kAll) : fine.os;
        (*out)[k].Merge(cell);
      }
    }
  }
}

void Aggregator::Clear() {
  cells_.clear();
  subjects_.clear();
}

}  // namespace vigil::aggregate
