// Dashboard endpoints over the aggregate store (see analytics_api.h).
#include "serve/analytics_api.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>

#include "aggregate/aggregator.h"
#include "common/json_writer.h"
#include "common/time_format.h"
#include "ingest/http_server.h"
#include "serve/layer_merge.h"
#include "serve/query_params.h"

namespace vigil::serve {

namespace {

namespace metric = aggregate::metric;

enum class ValueKind { kCount, kErrors, kUsers, kBytes, kErrorRate, kP50, kP95, kP99 };

struct MetricDef {
  std::string_view name;
  std::string_view metric;
  ValueKind kind;
};

// The names the metrics endpoint accepts (docs/api.md), besides crash_free_users and mau.
constexpr MetricDef kMetrics[] = {
    {"app_loads", metric::kAppLoads, ValueKind::kCount},
    {"events", metric::kUsers, ValueKind::kCount},
    {"users", metric::kUsers, ValueKind::kUsers},
    {"dau", metric::kUsers, ValueKind::kUsers},
    {"crashes", metric::kCrashes, ValueKind::kCount},
    {"crashed_users", metric::kCrashes, ValueKind::kUsers},
    {"handled_exceptions", metric::kHandledExceptions, ValueKind::kCount},
    {"handled_exception_users", metric::kHandledExceptions, ValueKind::kUsers},
    {"network_requests", metric::kNetworkRequests, ValueKind::kCount},
    {"network_errors", metric::kNetworkRequests, ValueKind::kErrors},
    {"network_error_rate", metric::kNetworkRequests, ValueKind::kErrorRate},
    {"network_bytes", metric::kNetworkRequests, ValueKind::kBytes},
    {"network_latency_p50", metric::kNetworkRequests, ValueKind::kP50},
    {"network_latency_p95", metric::kNetworkRequests, ValueKind::kP95},
    {"network_latency_p99", metric::kNetworkRequests, ValueKind::kP99},
    {"user_flows", metric::kUserFlows, ValueKind::kCount},
    {"user_flow_failures", metric::kUserFlows, ValueKind::kErrors},
    {"custom_events", metric::kCustomEvents, ValueKind::kCount},
};

std::string MetricNames() {
  std::string names;
  for (const MetricDef& d : kMetrics) names.append(d.name).append(", ");
  return names + "crash_free_users, mau";
}

// The value of a cell as JSON: counts as integers, rates and latencies as numbers or null.
void WriteValue(JsonWriter* w, const aggregate::RollupCell& c, ValueKind kind) {
  switch (kind) {
    case ValueKind::kCount:
      w->Uint(c.count);
      return;
    case ValueKind::kErrors:
      w->Uint(c.errors);
      return;
    case ValueKind::kUsers:
      w->Uint(c.users.Estimate());
      return;
    case ValueKind::kBytes:
      w->Uint(c.bytes);
      return;
    case ValueKind::kErrorRate:
      if (c.count == 0) {
        w->Null();
      } else {
        w->Double(100.0 * static_cast<double>(c.errors) / static_cast<double>(c.count));
      }
      return;
    case ValueKind::kP50:
    case ValueKind::kP95:
    case ValueKind::kP99: {
      if (c.latency.count() == 0) {
        w->Null();
        return;
      }
      double q = kind == ValueKind::kP50 ? 0.5 : kind == ValueKind::kP95 ? 0.95 : 0.99;
      w->Double(std::round(c.latency.Quantile(q) * 100) / 100);
      return;
    }
  }
}

aggregate::RollupKey SeriesKey(const ingest::App& app, std::string_view metric_name, h2o_req_t* req,
                               Granularity g) {
  aggregate::RollupKey k;
  k.app = app.id;
  k.metric = metric_name;
  k.version = ingest::QueryParam(req, "version");
  k.os = ingest::QueryParam(req, "os");
  k.granularity = g;
  return k;
}

void WriteQuantiles(JsonWriter* w, const aggregate::RollupCell& c, std::string_view prefix) {
  for (auto [suffix, kind] : {std::pair{"p50", ValueKind::kP50}, std::pair{"p95", ValueKind::kP95},
                              std::pair{"p99", ValueKind::kP99}}) {
    w->Key(std::string(prefix) + suffix);
    WriteValue(w, c, kind);
  }
}

}  // namespace

void AnalyticsApi::Reply(h2o_req_t* req, int status, std::string_view json) {
  metrics_->CountRequest(status);
  ingest::SendJson(req, status, json);
}

void AnalyticsApi::Error(h2o_req_t* req, int status, std::string_view message) {
  metrics_->CountRequest(status);
  ingest::SendError(req, status, message);
}

void AnalyticsApi::HandleMetrics(h2o_req_t* req, const ingest::App& app, std::string_view rest) {
  if (!rest.empty() && rest != "/") return Error(req, 404, "use GET /v1/apps/{app}/metrics?name=N");
  if (ingest::RequestMethod(req) != "GET") return Error(req, 405, "use GET on metrics");
  const std::string name = ingest::QueryParam(req, "name");
  if (name.empty()) return Error(req, 400, "name is required: one of " + MetricNames());
  std::string gname = ingest::QueryParam(req, "granularity");
  Granularity g = Granularity::kHour;
  if (!gname.empty() && !ParseGranularity(gname, &g)) {
    return Error(req, 400, "granularity must be minute, hour or day, not " + gname);
  }
  if (name == "mau" && g != Granularity::kDay) {
    if (!gname.empty()) return Error(req, 400, "mau is a daily metric: use granularity=day");
    g = Granularity::kDay;
  }
  const MetricDef* def = nullptr;
  for (const MetricDef& d : kMetrics) {
    if (d.name == name) def = &d;
  }
  if (def == nullptr && name != "crash_free_users" && name != "mau") {
    return Error(req, 400, "unknown metric " + name + ": use one of " + MetricNames());
  }
  const int64_t default_span = g == Granularity::kMinute ? kHourMs
                               : g == Granularity::kHour ? kDayMs
                                                         : 30 * kDayMs;
  TimeRange range;
  Status st = ParseRange(req, clock_->NowMs(), default_span, &range);
  if (!st.ok()) return Error(req, 400, st.message());
  const int64_t lookback = name == "mau" ? 29 * kDayMs : 0;
  LayerMerge merge(store_, batch_->SealedDays(app.id, range.from - lookback - kDayMs, range.to));
  std::vector<MergedPoint> points;
  std::vector<MergedPoint> other;  // users for crash_free_users
  if (name == "crash_free_users") {
    st = merge.Series(SeriesKey(app, metric::kCrashes, req, g), range.from, range.to,
                      kMaxSeriesPoints, &points);
    if (st.ok()) {
      st = merge.Series(SeriesKey(app, metric::kUsers, req, g), range.from, range.to,
                        kMaxSeriesPoints, &other);
    }
  } else if (name == "mau") {
    st = merge.Series(SeriesKey(app, metric::kUsers, req, g), range.from - lookback, range.to,
                      kMaxSeriesPoints + 30, &other);
  } else {
    st = merge.Series(SeriesKey(app, def->metric, req, g), range.from, range.to, kMaxSeriesPoints,
                      &points);
  }
  if (!st.ok()) {
    return Error(req, st.code() == StatusCode::kInvalidArgument ? 400 : 500, st.message());
  }
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("name").String(name).Key("granularity").String(GranularityName(g));
  w.Key("from").String(FormatRfc3339(range.from)).Key("to").String(FormatRfc3339(range.to));
  std::string version = ingest::QueryParam(req, "version");
  std::string os = ingest::QueryParam(req, "os");
  if (!version.empty()) w.Key("version").String(version);
  if (!os.empty()) w.Key("os").String(os);
  w.Key("points").BeginArray();
  if (name == "mau") {
    // Each day: distinct users over the 30 days ending with it, from the daily sketches.
    const size_t days = other.size() >= 29 ? other.size() - 29 : 0;
    for (size_t i = 0; i < days; ++i) {
      const size_t end = i + 29;
      aggregate::HyperLogLog users;
      for (size_t j = i; j <= end; ++j) users.Merge(other[j].cell.users);
      w.BeginObject()
          .Key("t")
          .String(FormatRfc3339(other[end].bucket_ms))
          .Key("value")
          .Uint(users.Estimate())
          .Key("source")
          .String(LayerName(other[end].source))
          .EndObject();
    }
  } else {
    for (size_t i = 0; i < points.size(); ++i) {
      const MergedPoint& p = points[i];
      w.BeginObject().Key("t").String(FormatRfc3339(p.bucket_ms)).Key("value");
      if (name == "crash_free_users") {
        uint64_t users = other[i].cell.users.Estimate();
        uint64_t crashed = std::min(users, p.cell.users.Estimate());
        if (users == 0) {
          w.Null();
        } else {
          w.Double(std::round(10000.0 *
                              (1.0 - static_cast<double>(crashed) / static_cast<double>(users))) /
                   100.0);
        }
      } else {
        WriteValue(&w, p.cell, def->kind);
      }
      w.Key("source").String(LayerName(p.source)).EndObject();
    }
  }
  w.EndArray().EndObject();
  Reply(req, 200, out);
}

void AnalyticsApi::HandleBreakdown(h2o_req_t* req, const ingest::App& app,
                                   std::string_view resource, std::string_view rest) {
  if (!rest.empty() && rest != "/")
    return Error(req, 404, "unknown path under " + std::string(resource));
  if (ingest::RequestMethod(req) != "GET") return Error(req, 405, "use GET");
  TimeRange range;
  Status st = ParseRange(req, clock_->NowMs(), kDayMs, &range);
  size_t limit = 100;
  if (st.ok()) st = ParseLimit(req, 10000, &limit);
  if (!st.ok()) return Error(req, 400, st.message());
  // Whole days read day cells; anything else, hour cells (the range widened to whole hours).
  const bool whole_days = range.from % kDayMs == 0 && range.to % kDayMs == 0;
  const Granularity g = whole_days ? Granularity::kDay : Granularity::kHour;
  std::string_view metric_name = resource == "network"      ? metric::kEndpoint
                                 : resource == "user-flows" ? metric::kFlow
                                                            : metric::kCustom;
  LayerMerge merge(store_, batch_->SealedDays(app.id, range.from - kDayMs, range.to));
  std::map<std::string, aggregate::RollupCell> subjects;
  st = merge.Subjects(SeriesKey(app, metric_name, req, g), range.from, range.to, &subjects);
  if (!st.ok()) return Error(req, 500, st.message());
  std::vector<std::pair<const std::string*, const aggregate::RollupCell*>> rows;
  for (const auto& [subject, cell] : subjects) rows.emplace_back(&subject, &cell);
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.second->count != b.second->count ? a.second->count > b.second->count
                                              : *a.first < *b.first;
  });
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("from").String(FormatRfc3339(range.from));
  w.Key("to").String(FormatRfc3339(range.to)).Key("granularity").String(GranularityName(g));
  w.Key("total").Uint(rows.size());
  const char* list = resource == "network"      ? "endpoints"
                     : resource == "user-flows" ? "flows"
                                                : "events";
  w.Key(list).BeginArray();
  for (size_t i = 0; i < rows.size() && i < limit; ++i) {
    const std::string& subject = *rows[i].first;
    const aggregate::RollupCell& c = *rows[i].second;
    w.BeginObject();
    if (resource == "network") {
      size_t space = subject.find(' ');
      w.Key("method").String(space == std::string::npos ? "" : subject.substr(0, space));
      w.Key("endpoint").String(space == std::string::npos ? subject : subject.substr(space + 1));
      w.Key("requests").Uint(c.count).Key("errors").Uint(c.errors).Key("error_rate");
      WriteValue(&w, c, ValueKind::kErrorRate);
      WriteQuantiles(&w, c, "latency_ms_");
      w.Key("bytes").Uint(c.bytes);
    } else if (resource == "user-flows") {
      size_t sep = subject.find(aggregate::kFlowSeparator);
      w.Key("name").String(sep == std::string::npos ? subject : subject.substr(0, sep));
      w.Key("outcome").String(sep == std::string::npos ? "" : subject.substr(sep + 1));
      w.Key("count").Uint(c.count).Key("users").Uint(c.users.Estimate());
      WriteQuantiles(&w, c, "duration_ms_");
    } else {
      w.Key("name").String(subject).Key("count").Uint(c.count);
      w.Key("users").Uint(c.users.Estimate());
    }
    w.EndObject();
  }
  w.EndArray().EndObject();
  Reply(req, 200, out);
}

void AnalyticsApi::HandleStatus(h2o_req_t* req, const ingest::App& app, std::string_view rest) {
  if (!rest.empty() && rest != "/") return Error(req, 404, "use GET /v1/apps/{app}/status");
  if (ingest::RequestMethod(req) != "GET") return Error(req, 405, "use GET on status");
  uint64_t received = 0;
  for (const log::PartitionInfo& p : raw_log_->Partitions()) {
    if (p.name == app.id) received = p.items;
  }
  int64_t sealed = batch_->SealedUntil(app.id);
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("events_received")
      .Uint(received)
      .Key("events_processed")
      .Uint(speed_->events_processed(app.id))
      .Key("events_archived")
      .Uint(archiver_->archived_rows(app.id))
      .Key("batch_sealed_until");
  if (sealed == 0) {
    w.Null();
  } else {
    w.String(FormatRfc3339(sealed));
  }
  w.Key("speed_lag_ms").Int(speed_->lag_ms(app.id)).EndObject();
  Reply(req, 200, out);
}

}  // namespace vigil::serve
