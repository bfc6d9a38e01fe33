// Crash groups over HTTP: rollup counts in a range, index metadata, stored samples.
#include "serve/crash_groups_api.h"

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include "aggregate/aggregator.h"
#include "common/json_writer.h"
#include "common/time_format.h"
#include "ingest/http_server.h"
#include "serve/analytics_api.h"
#include "serve/layer_merge.h"
#include "serve/query_params.h"

namespace vigil::serve {

namespace {

namespace metric = aggregate::metric;

constexpr size_t kDefaultLimit = 100;
constexpr size_t kMaxLimit = 10000;
constexpr int64_t kDefaultSpan = 30 * kDayMs;

// Events counted in a cell of a group, less those that moved on to another group.
uint64_t Net(const aggregate::RollupCell& c) { return c.count > c.errors ? c.count - c.errors : 0; }

// A group's cells in a range (or bucket, or version): crashes and handled exceptions.
struct GroupCells {
  aggregate::RollupCell crash, handled;

  uint64_t crashes() const { return Net(crash); }
  uint64_t handled_events() const { return Net(handled); }
  uint64_t events() const { return crashes() + handled_events(); }
  uint64_t users() const {
    aggregate::RollupCell both = crash;
    both.Merge(handled);
    return both.users.Estimate();
  }
  int64_t first_ms() const { return std::min(crash.first_ms, handled.first_ms); }
  int64_t last_ms() const { return std::max(crash.last_ms, handled.last_ms); }
  aggregate::RollupCell& of(std::string_view m) {
    return m == metric::kCrashGroup ? crash : handled;
  }
};

struct Query {
  TimeRange range;
  std::string version;                    // "" for every version
  std::vector<std::string_view> metrics;  // crash_group and/or handled_group
};

Status ParseKind(h2o_req_t* req, Query* q) {
  std::string kind = ingest::QueryParam(req, "kind");
  if (kind.empty()) {
    q->metrics = {metric::kCrashGroup, metric::kHandledGroup};
  } else if (kind == "crash") {
    q->metrics = {metric::kCrashGroup};
  } else if (kind == "handled") {
    q->metrics = {metric::kHandledGroup};
  } else {
    return Status::InvalidArgument("kind must be crash or handled (or absent for both), not " +
                                   kind);
  }
  return Status::Ok();
}

aggregate::RollupKey GroupKey(const ingest::App& app, std::string_view metric_name,
                              std::string_view subject, std::string_view version) {
  aggregate::RollupKey k;
  k.app = app.id;
  k.metric = metric_name;
  k.subject = subject;
  k.version = version;
  k.os = aggregate::kAll;
  return k;
}

// Per version of group `id` (the kAll version "" is the group's total) over the query's range.
Status VersionCells(LayerMerge* merge, const ingest::App& app, const Query& q,
                    const std::string& id, std::map<std::string, GroupCells>* out) {
  for (std::string_view m : q.metrics) {
    std::map<std::string, aggregate::RollupCell> cells;
    VIGIL_RETURN_IF_ERROR(
        merge->VersionsOver(GroupKey(app, m, id, ""), q.range.from, q.range.to, &cells));
    for (auto& [v, c] : cells) (*out)[v].of(m) = std::move(c);
  }
  return Status::Ok();
}

void WriteGroup(JsonWriter* w, const std::string& id, const GroupCells& total,
                const std::map<std::string, GroupCells>& versions, const std::string& only_version,
                bool with_version_users, const std::optional<CrashGroup>& meta) {
  w->Key("id").String(id);
  w->Key("title").String(meta ? meta->title : id);
  w->Key("type").String(meta ? meta->type : "");
  w->Key("culprit").String(meta ? meta->culprit : "");
  w->Key("sentinel").Bool(meta && meta->sentinel);
  w->Key("symbolicated").Bool(meta && meta->symbolicated);
  w->Key("crashes").Uint(total.crashes());
  w->Key("handled").Uint(total.handled_events());
  w->Key("events").Uint(total.events());
  w->Key("users").Uint(total.users());
  // The index knows the exact span of a sentinel group's remaining crashes (the rollups still
  // hold those that moved out); for any other group its all-time span contains the range's.
  int64_t first = total.first_ms(), last = total.last_ms();
  if (meta && meta->events() > 0) {
    first = std::max(first, meta->first_seen_ms);
    last = std::min(last, meta->last_seen_ms);
  }
  w->Key("first_seen").Int(first);
  w->Key("last_seen").Int(last);
  w->Key("versions").BeginObject();
  for (const auto& [v, c] : versions) {
    if (v.empty() || c.events() == 0) continue;  // "" is the total
    if (!only_version.empty() && v != only_version) continue;
    w->Key(v)
        .BeginObject()
        .Key("crashes")
        .Uint(c.crashes())
        .Key("handled")
        .Uint(c.handled_events());
    if (with_version_users) w->Key("users").Uint(c.users());
    w->EndObject();
  }
  w->EndObject().Key("missing").BeginArray();
  if (meta) {
    for (const auto& [m, n] : meta->missing) {
      if (n > 0) w->String(m);
    }
  }
  w->EndArray();
}

}  // namespace

void CrashGroupsApi::Reply(h2o_req_t* req, int status, std::string_view json) {
  metrics_->CountRequest(status);
  ingest::SendJson(req, status, json);
}

void CrashGroupsApi::Error(h2o_req_t* req, int status, std::string_view message) {
  metrics_->CountRequest(status);
  ingest::SendError(req, status, message);
}

void CrashGroupsApi::HandleGroups(h2o_req_t* req, const ingest::App& app, std::string_view rest) {
  if (ingest::RequestMethod(req) != "GET") return Error(req, 405, "use GET on crash groups");
  if (rest.size() > 1) return Detail(req, app, std::string(rest.substr(1)));
  List(req, app);
}

LayerMerge CrashGroupsApi::MergeFor(const ingest::App& app, const TimeRange& range) {
  const uint64_t generation = batch_->generation();  // before the sealed days it covers
  LayerMerge merge(store_, batch_->SealedDays(app.id, range.from - kDayMs, range.to));
  merge.set_cache(cache_, generation);
  return merge;
}

void CrashGroupsApi::List(h2o_req_t* req, const ingest::App& app) {
  Query q;
  Status st = ParseRange(req, clock_->NowMs(), kDefaultSpan, &q.range);
  size_t limit = kDefaultLimit;
  if (st.ok()) st = ParseLimit(req, kMaxLimit, &limit);
  if (st.ok()) st = ParseKind(req, &q);
  const std::string sort = ingest::QueryParam(req, "sort");
  if (st.ok() && !sort.empty() && sort != "crashes" && sort != "users" && sort != "last_seen") {
    st = Status::InvalidArgument("sort must be crashes, users or last_seen, not " + sort);
  }
  if (!st.ok()) return Error(req, 400, st.message());
  q.version = ingest::QueryParam(req, "version");

  LayerMerge merge = MergeFor(app, q.range);
  std::map<std::string, GroupCells> groups;
  for (std::string_view m : q.metrics) {
    std::map<std::string, aggregate::RollupCell> cells;
    st = merge.SubjectsOver(GroupKey(app, m, "", q.version), q.range.from, q.range.to, &cells);
    if (!st.ok()) return Error(req, 500, st.message());
    for (auto& [id, c] : cells) groups[id].of(m) = std::move(c);
  }
  struct Row {
    const std::string* id;
    const GroupCells* cells;
    uint64_t key;
  };
  std::vector<Row> rows;
  for (const auto& [id, c] : groups) {
    if (c.events() == 0) continue;  // every one moved on
    uint64_t key = sort == "users"       ? c.users()
                   : sort == "last_seen" ? static_cast<uint64_t>(c.last_ms())
                                         : c.events();
    rows.push_back({&id, &c, key});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.key != b.key ? a.key > b.key : *a.id < *b.id;
  });
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("from").String(FormatRfc3339(q.range.from));
  w.Key("to").String(FormatRfc3339(q.range.to)).Key("total").Uint(rows.size());
  w.Key("groups").BeginArray();
  // Per-version counts of the groups shown: counters only (users per version are the detail's).
  merge.set_counters_only(true);
  for (size_t i = 0; i < rows.size() && i < limit; ++i) {
    std::map<std::string, GroupCells> versions;
    st = VersionCells(&merge, app, q, *rows[i].id, &versions);
    if (!st.ok()) return Error(req, 500, st.message());
    w.BeginObject();
    WriteGroup(&w, *rows[i].id, *rows[i].cells, versions, q.version, /*with_version_users=*/false,
               index_->Get(app.id, *rows[i].id));
    w.EndObject();
  }
  w.EndArray().EndObject();
  Reply(req, 200, out);
}

void CrashGroupsApi::Detail(h2o_req_t* req, const ingest::App& app, const std::string& id) {
  Query q;
  Status st = ParseRange(req, clock_->NowMs(), kDefaultSpan, &q.range);
  if (st.ok()) st = ParseKind(req, &q);
  if (!st.ok()) return Error(req, 400, st.message());
  std::string gname = ingest::QueryParam(req, "granularity");
  Granularity g = q.range.to - q.range.from > 2 * kDayMs ? Granularity::kDay : Granularity::kHour;
  if (!gname.empty() && !ParseGranularity(gname, &g)) {
    return Error(req, 400, "granularity must be minute, hour or day, not " + gname);
  }
  LayerMerge merge = MergeFor(app, q.range);
  std::map<std::string, GroupCells> versions;
  st = VersionCells(&merge, app, q, id, &versions);
  if (!st.ok()) return Error(req, 500, st.message());
  std::optional<CrashGroup> meta = index_->Get(app.id, id);
  const GroupCells total = versions[""];
  if (!meta && total.events() == 0) {
    return Error(req, 404,
                 "no crash group " + id + " in app " + app.id + " (list them with GET /v1/apps/" +
                     app.id + "/crash-groups)");
  }
  // The series: one point per bucket, crashes and handled exceptions side by side.
  std::vector<std::vector<MergedPoint>> series;
  for (std::string_view m : q.metrics) {
    aggregate::RollupKey k = GroupKey(app, m, id, "");
    k.granularity = g;
    series.emplace_back();
    st = merge.Series(k, q.range.from, q.range.to, kMaxSeriesPoints, &series.back());
    if (!st.ok()) {
      return Error(req, st.code() == StatusCode::kInvalidArgument ? 400 : 500, st.message());
    }
  }
  Result<std::vector<std::string>> samples = index_->Samples(app.id, id, q.range.from, q.range.to);
  if (!samples.ok()) return Error(req, 500, samples.status().message());

  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  WriteGroup(&w, id, total, versions, "", /*with_version_users=*/true, meta);
  w.Key("from").String(FormatRfc3339(q.range.from)).Key("to").String(FormatRfc3339(q.range.to));
  w.Key("granularity").String(GranularityName(g)).Key("series").BeginArray();
  const size_t n = series.empty() ? 0 : series[0].size();
  for (size_t i = 0; i < n; ++i) {
    GroupCells point;
    for (size_t s = 0; s < q.metrics.size(); ++s) point.of(q.metrics[s]) = series[s][i].cell;
    w.BeginObject().Key("t").String(FormatRfc3339(series[0][i].bucket_ms));
    w.Key("crashes").Uint(point.crashes()).Key("handled").Uint(point.handled_events());
    w.Key("users").Uint(point.users());
    w.Key("source").String(LayerName(series[0][i].source)).EndObject();
  }
  w.EndArray().Key("samples").BeginArray();
  for (const std::string& s : *samples) w.Raw(s);
  w.EndArray();
  if (meta && !meta->sample.empty()) w.Key("sample").Raw(meta->sample);
  w.EndObject();
  Reply(req, 200, out);
}

void CrashGroupsApi::HandleReprocess(h2o_req_t* req, const ingest::App& app,
                                     std::string_view rest) {
  if (!rest.empty() && rest != "/") return Error(req, 404, "use POST /v1/apps/{app}/reprocess");
  if (ingest::RequestMethod(req) != "POST")
    return Error(req, 405, "use POST on /v1/apps/{app}/reprocess");
  std::string version = ingest::QueryParam(req, "version");
  size_t queued = index_->ReprocessSentinel(app.id, version);
  std::string out;
  JsonWriter(&out).BeginObject().Key("queued").Uint(queued).EndObject();
  Reply(req, 202, out);
}

}  // namespace vigil::serve
