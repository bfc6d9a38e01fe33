// Aggregator and rollup encodings: random events checked against counts computed independently
// (plain maps and sets over the events' own descriptions), every version/os combination and
// granularity, endpoint folding, crash groups, the subject cap, and the key and cell encodings.
#include "aggregate/aggregator.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <tuple>

#include "aggregate/endpoint.h"
#include "common/binary_value.h"

namespace vigil::aggregate {
namespace {

constexpr int64_t kT0 = 1767225600000;  // 2026-01-01T00:00:00Z

// One event as a test describes it; Encode() turns it into the batch record ingest would write.
struct Spec {
  std::string version, os, user, device;
  EventType type = EventType::kSessionStart;
  int64_t ts = kT0;
  int status = 200;
  std::string url = "https://api.example.com/v1/items/1";
  double duration = 10;
  int64_t bytes_sent = 100, bytes_received = 1000;
  std::string group;  // processed.group_id ("" = unprocessed)
  std::string name = "checkout", outcome = "success";
};

std::string Object(const std::vector<std::pair<std::string, std::string>>& strings) {
  std::string out;
  BinaryValueWriter w(&out);
  w.BeginObject();
  for (const auto& [k, v] : strings) {
    if (v.empty()) continue;
    w.Key(k);
    w.String(v);
  }
  w.EndObject();
  return out;
}

std::string Fields(const Spec& s) {
  std::string out;
  BinaryValueWriter w(&out);
  w.BeginObject();
  switch (s.type) {
    case EventType::kCrash:
    case EventType::kHandledException:
      w.Key("error");
      w.BeginObject();
      w.Key("type");
      w.String("java.lang.IllegalStateException");
      w.Key("format");
      w.String("java");
      w.Key("text");
      w.String("java.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)");
      w.EndObject();
      if (!s.group.empty()) {
        w.Key("processed");
        w.BeginObject();
        w.Key("group_id");
        w.String(s.group);
        w.EndObject();
      }
      break;
    case EventType::kNetwork:
      w.Key("network");
      w.BeginObject();
      w.Key("method");
      w.String("GET");
      w.Key("url");
      w.String(s.url);
      w.Key("status");
      w.Int(s.status);
      w.Key("duration_ms");
      w.Double(s.duration);
      w.Key("bytes_sent");
      w.Int(s.bytes_sent);
      w.Key("bytes_received");
      w.Int(s.bytes_received);
      if (s.status == 0) {
        w.Key("error");
        w.String("timeout");
      }
      w.EndObject();
      break;
    case EventType::kUserFlow:
      w.Key("flow");
      w.BeginObject();
      w.Key("name");
      w.String(s.name);
      w.Key("outcome");
      w.String(s.outcome);
      w.Key("duration_ms");
      w.Int(static_cast<int64_t>(s.duration));
      w.EndObject();
      break;
    case EventType::kCustom:
      w.Key("name");
      w.String(s.name);
      break;
    case EventType::kSessionStart:
      break;
  }
  w.EndObject();
  return out;
}

// Adds each spec as a one-event batch (context differs per event).
void AddAll(Aggregator* a, const std::vector<Spec>& specs) {
  for (const Spec& s : specs) {
    std::string device = Object({{"id", s.device}, {"os", s.os}});
    std::string app = Object({{"version", s.version}});
    std::string user = Object({{"id", s.user}});
    BatchHeader h;
    h.batch_id = "b";
    h.device = BinaryValue(device);
    h.app = BinaryValue(app);
    h.user = BinaryValue(user);
    std::string record;
    BatchRecordBuilder b;
    b.Begin(h, &record);
    b.AddEvent("e", s.type, s.ts, Fields(s));
    b.Finish();
    BatchRecord decoded;
    ASSERT_TRUE(DecodeBatchRecord(record, &decoded).ok());
    a->AddBatch("app1", decoded);
  }
}

RollupKey Key(std::string_view metric, std::string_view subject, std::string_view version,
              std::string_view os, Granularity g, int64_t bucket) {
  return RollupKey{
      "app1", std::string(metric), std::string(subject), std::string(version), std::string(os), g,
      bucket};
}

TEST(AggregatorTest, RandomEventsMatchIndependentCounts) {
  std::mt19937 rng(42);
  const std::string versions[] = {"1.0", "1.1", "2.0"};
  const std::string oses[] = {"android", "ios"};
  const EventType types[] = {EventType::kSessionStart,     EventType::kCrash,
                             EventType::kHandledException, EventType::kNetwork,
                             EventType::kUserFlow,         EventType::kCustom};
  std::vector<Spec> specs;
  for (int i = 0; i < 3000; ++i) {
    Spec s;
    s.version = versions[rng() % 3];
    s.os = oses[rng() % 2];
    s.device = "dev-" + std::to_string(rng() % 150);
    s.user = rng() % 4 == 0 ? "" : "user-" + s.device.substr(4);  // some anonymous users
    s.type = types[rng() % 6];
    s.ts = kT0 + static_cast<int64_t>(rng() % (3 * kDayMs));
    s.status = std::vector<int>{200, 201, 404, 500, 0}[rng() % 5];
    s.url = "https://api.example.com/v1/users/" + std::to_string(rng() % 1000) + "/feed";
    s.bytes_sent = rng() % 500;
    s.bytes_received = rng() % 5000;
    s.group = rng() % 2 ? "g" + std::to_string(rng() % 3) : "";
    s.outcome = rng() % 3 ? "success" : "fail";
    specs.push_back(s);
  }
  Aggregator a(Granularity::kHour);
  AddAll(&a, specs);
  RollupMap out;
  a.Emit({Granularity::kHour, Granularity::kDay}, &out);

  // The oracle: per (metric, version-or-all, os-or-all, granularity, bucket).
  using K = std::tuple<std::string, std::string, std::string, Granularity, int64_t>;
  std::map<K, uint64_t> count, errors, bytes;
  std::map<K, std::set<std::string>> users;
  for (const Spec& s : specs) {
    std::string who = s.user.empty() ? s.device : s.user;
    for (Granularity g : {Granularity::kHour, Granularity::kDay}) {
      int64_t b = BucketStart(s.ts, g);
      for (const std::string& v : {s.version, std::string()}) {
        for (const std::string& o : {s.os, std::string()}) {
          auto k = [&](std::string_view m) { return K(std::string(m), v, o, g, b); };
          ++count[k(metric::kUsers)];
          users[k(metric::kUsers)].insert(who);
          if (s.type == EventType::kSessionStart) ++count[k(metric::kAppLoads)];
          if (s.type == EventType::kCrash) {
            ++count[k(metric::kCrashes)];
            users[k(metric::kCrashes)].insert(who);
          }
          if (s.type == EventType::kNetwork) {
            ++count[k(metric::kNetworkRequests)];
            errors[k(metric::kNetworkRequests)] += s.status >= 400 || s.status == 0;
            bytes[k(metric::kNetworkRequests)] += s.bytes_sent + s.bytes_received;
          }
          if (s.type == EventType::kUserFlow) {
            ++count[k(metric::kUserFlows)];
            errors[k(metric::kUserFlows)] += s.outcome != "success";
          }
        }
      }
    }
  }
  size_t checked = 0;
  for (const auto& [k, n] : count) {
    const auto& [m, v, o, g, b] = k;
    auto it = out.find(Key(m, "", v, o, g, b));
    ASSERT_NE(it, out.end()) << m << " " << v << " " << o;
    EXPECT_EQ(it->second.count, n) << m << " " << v << " " << o << " " << b;
    EXPECT_EQ(it->second.errors, errors[k]) << m;
    EXPECT_EQ(it->second.bytes, bytes[k]) << m;
    if (users.count(k)) {
      // ≤ 150 distinct users: the sketch is still exact.
      EXPECT_EQ(it->second.users.Estimate(), users[k].size()) << m << " " << v << " " << o;
    }
    ++checked;
  }
  EXPECT_GT(checked, 500u);
  // Nothing the oracle does not know of among the app-wide metrics.
  for (const auto& [k, c] : out) {
    if (!k.subject.empty() || k.metric == metric::kHandledExceptions ||
        k.metric == metric::kCustomEvents) {
      continue;
    }
    EXPECT_TRUE(count.count(K(k.metric, k.version, k.os, k.granularity, k.bucket_ms))) << k.metric;
  }
}

// BucketCells finds cells by the caller's codes instead of by hashing: it must fill exactly the
// cells AddFact fills — also for facts outside its bucket, and past its slot limit (where it
// hashes too). Cells are compared by their full serialized form.
TEST(AggregatorTest, BucketCellsCountExactlyWhatAddFactCounts) {
  const std::vector<std::string> versions = {"1.0", "1.1", "2.0"};
  const std::vector<std::string> oses = {"android", "ios"};
  const std::vector<std::string> subjects = {"", "GET /a/{id}", "g1", "g2", "checkout\x1fsuccess"};
  const EventType types[] = {EventType::kSessionStart,     EventType::kCrash,
                             EventType::kHandledException, EventType::kNetwork,
                             EventType::kUserFlow,         EventType::kCustom};
  struct Row {
    size_t version, os, subject;
    EventType type;
    int64_t ts;
    int user;  // < 0: anonymous
    bool error;
    uint64_t bytes;
    bool has_latency;
    double latency;
  };
  std::mt19937 rng(7);
  std::vector<Row> rows;
  for (int i = 0; i < 5000; ++i) {
    Row r;
    r.version = rng() % versions.size();
    r.os = rng() % oses.size();
    r.subject = rng() % subjects.size();
    r.type = types[rng() % 6];
    // Four hours; one "part" per hour below, and 1 in 20 rows lands outside its part's hour.
    r.ts = kT0 + static_cast<int64_t>(i / 1250) * kHourMs + static_cast<int64_t>(rng() % kHourMs);
    if (rng() % 20 == 0) r.ts += kHourMs * 5;
    r.user = rng() % 5 == 0 ? -1 : static_cast<int>(rng() % 300);
    r.error = rng() % 3 == 0;
    r.bytes = rng() % 10000;
    r.has_latency = rng() % 4 != 0;
    r.latency = rng() % 2 ? static_cast<double>(rng() % 2000) : (rng() % 100000) / 7.0;
    rows.push_back(r);
  }
  auto fact_of = [&](Aggregator* a, const Row& r) {
    Aggregator::Fact f;
    f.ts_ms = r.ts;
    f.type = r.type;
    f.app = a->Intern("app1");
    f.version = a->Intern(versions[r.version]);
    f.os = a->Intern(oses[r.os]);
    f.has_user = r.user >= 0;
    f.user_hash = HyperLogLog::Hash("user-" + std::to_string(r.user));
    f.subject = a->Subject(f.app, r.type, subjects[r.subject]);
    f.error = r.error;
    f.bytes = r.bytes;
    f.has_latency = r.has_latency;
    f.latency = r.latency;
    return f;
  };
  Aggregator hashed(Granularity::kHour);
  for (const Row& r : rows) hashed.AddFact(fact_of(&hashed, r));
  RollupMap want;
  hashed.Emit({Granularity::kHour, Granularity::kDay}, &want);

  // Declared code ranges small (cells by index) and large (past the slot limit: hashed).
  for (size_t scale : {size_t{1}, size_t{1000}}) {
    SCOPED_TRACE(scale);
    Aggregator coded(Granularity::kHour);
    for (size_t part = 0; part < 4; ++part) {
      Aggregator::BucketCells cells(&coded, coded.Intern("app1"), kT0 + part * kHourMs,
                                    versions.size() * oses.size() * scale,
                                    subjects.size() * kEventTypeCount * scale);
      for (size_t i = part * 1250; i < (part + 1) * 1250; ++i) {
        const Row& r = rows[i];
        cells.Add(
            fact_of(&coded, r), static_cast<uint32_t>(r.version * oses.size() + r.os),
            static_cast<uint32_t>(r.subject * kEventTypeCount + static_cast<size_t>(r.type) - 1));
      }
    }
    RollupMap got;
    coded.Emit({Granularity::kHour, Granularity::kDay}, &got);
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [key, cell] : want) {
      auto it = got.find(key);
      ASSERT_NE(it, got.end()) << key.metric << " " << key.subject;
      EXPECT_EQ(it->second.Serialize(), cell.Serialize()) << key.metric << " " << key.subject;
    }
  }
}

TEST(AggregatorTest, EndpointsFoldIdsAndKeepLatency) {
  std::vector<Spec> specs;
  for (int i = 0; i < 100; ++i) {
    Spec s;
    s.version = "1.0";
    s.os = "ios";
    s.user = "u";
    s.type = EventType::kNetwork;
    s.url = "https://api.example.com/v1/users/" + std::to_string(1000 + i) +
            "/feed?x=" + std::to_string(i);
    s.duration = i + 1;  // 1..100 ms
    s.status = i < 10 ? 503 : 200;
    specs.push_back(s);
  }
  Aggregator a(Granularity::kHour);
  AddAll(&a, specs);
  RollupMap out;
  a.Emit({Granularity::kDay}, &out);
  auto it = out.find(Key(metric::kEndpoint, "GET api.example.com/v1/users/{id}/feed", "", "",
                         Granularity::kDay, BucketStart(kT0, Granularity::kDay)));
  ASSERT_NE(it, out.end());
  EXPECT_EQ(it->second.count, 100u);
  EXPECT_EQ(it->second.errors, 10u);
  EXPECT_EQ(it->second.bytes, 100u * 1100);
  EXPECT_NEAR(it->second.latency.Quantile(0.5), 50, 0.5);    // rank 49 of 1..100
  EXPECT_NEAR(it->second.latency.Quantile(0.99), 99, 0.99);  // rank 98
}

TEST(AggregatorTest, CrashGroupsComeFromProcessingElseFromTheStack) {
  Spec s;
  s.version = "3.1";
  s.os = "android";
  s.user = "u1";
  s.type = EventType::kCrash;
  s.ts = kT0 + 5000;
  std::vector<Spec> specs{s, s, s};
  specs[0].group = "abc";
  specs[1].group = "abc";
  specs[1].ts = kT0 + 9000;
  specs[1].user = "u2";
  Aggregator a(Granularity::kHour);
  AddAll(&a, specs);
  RollupMap out;
  a.Emit({Granularity::kHour}, &out);
  auto g = out.find(Key(metric::kCrashGroup, "abc", "3.1", "", Granularity::kHour, kT0));
  ASSERT_NE(g, out.end());
  EXPECT_EQ(g->second.count, 2u);
  EXPECT_EQ(g->second.users.Estimate(), 2u);
  EXPECT_EQ(g->second.first_ms, kT0 + 5000);
  EXPECT_EQ(g->second.last_ms, kT0 + 9000);
  size_t raw_groups = 0;
  for (const auto& [k, c] : out) {
    if (k.metric == metric::kCrashGroup && k.subject.starts_with("raw-")) {
      ++raw_groups;
      EXPECT_EQ(k.subject.size(), 20u);
      EXPECT_EQ(c.count, 1u);
    }
  }
  EXPECT_EQ(raw_groups, 4u);  // one group, four version/os combinations
}

TEST(AggregatorTest, FallbackGroupsFollowTheTopFrames) {
  auto group_of = [](const std::string& text) {
    std::string fields;
    BinaryValueWriter w(&fields);
    w.BeginObject();
    w.Key("error");
    w.BeginObject();
    w.Key("type");
    w.String("E");
    w.Key("text");
    w.String(text);
    w.EndObject();
    w.EndObject();
    EventView e;
    e.type = EventType::kCrash;
    e.fields = BinaryValue(fields);
    return CrashGroupOf(e);
  };
  EXPECT_EQ(group_of("E: id 1\n at a\n at b"), group_of("E: id 2\n at a\n at b"));
  EXPECT_NE(group_of("E: x\n at a\n at b"), group_of("E: x\n at a\n at c"));
}

TEST(AggregatorTest, SubjectsPastTheCapCountAsOther) {
  std::vector<Spec> specs;
  for (size_t i = 0; i < kMaxSubjects + 10; ++i) {
    Spec s;
    s.version = "1";
    s.os = "ios";
    s.type = EventType::kCustom;
    s.name = "event-" + std::string(1, static_cast<char>('a' + i % 26)) + std::to_string(i);
    specs.push_back(s);
  }
  Aggregator a(Granularity::kHour);
  AddAll(&a, specs);
  RollupMap out;
  a.Emit({Granularity::kHour}, &out);
  auto other = out.find(Key(metric::kCustom, kOtherSubject, "", "", Granularity::kHour, kT0));
  ASSERT_NE(other, out.end());
  EXPECT_EQ(other->second.count, 10u);
}

TEST(AggregatorTest, MinuteCellsRollUpIntoHoursAndDays) {
  std::vector<Spec> specs;
  for (int i = 0; i < 180; ++i) {
    Spec s;
    s.version = "1";
    s.os = "ios";
    s.user = "u" + std::to_string(i % 7);
    s.ts = kT0 + i * kMinuteMs;  // three hours, one event a minute
    specs.push_back(s);
  }
  Aggregator a(Granularity::kMinute);
  AddAll(&a, specs);
  RollupMap out;
  a.Emit({Granularity::kMinute, Granularity::kHour, Granularity::kDay}, &out);
  for (int h = 0; h < 3; ++h) {
    auto it = out.find(Key(metric::kAppLoads, "", "", "", Granularity::kHour, kT0 + h * kHourMs));
    ASSERT_NE(it, out.end());
    EXPECT_EQ(it->second.count, 60u);
  }
  auto day = out.find(Key(metric::kUsers, "", "1", "ios", Granularity::kDay, kT0));
  ASSERT_NE(day, out.end());
  EXPECT_EQ(day->second.count, 180u);
  EXPECT_EQ(day->second.users.Estimate(), 7u);
  EXPECT_EQ(
      out.count(Key(metric::kAppLoads, "", "", "", Granularity::kMinute, kT0 + 61 * kMinuteMs)),
      1u);
}

TEST(RollupTest, KeysRoundTripAndSortBySeriesThenTime) {
  RollupKey k = Key("endpoint", "GET x/{id}", "1.0", "", Granularity::kDay, -kDayMs);
  RollupKey back;
  ASSERT_TRUE(DecodeRollupKey(EncodeRollupKey(k), &back).ok());
  EXPECT_EQ(back, k);
  RollupKey later = k;
  later.bucket_ms = 5 * kDayMs;
  EXPECT_LT(EncodeRollupKey(k), EncodeRollupKey(later));  // negative times sort first
  EXPECT_TRUE(EncodeRollupKey(later).starts_with(EncodeSeriesPrefix(k)));
  std::string bytes = EncodeRollupKey(k);
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_FALSE(DecodeRollupKey(bytes.substr(0, len), &back).ok()) << len;
  }
}

TEST(RollupTest, CellsRoundTripMergeAndRejectDamage) {
  RollupCell c;
  c.count = 12;
  c.errors = 3;
  c.bytes = 4567;
  c.first_ms = kT0;
  c.last_ms = kT0 + 99;
  for (int i = 0; i < 400; ++i) c.users.Add("u" + std::to_string(i));
  for (int i = 1; i <= 50; ++i) c.latency.Add(i);
  std::string bytes = c.Serialize();
  RollupCell back;
  ASSERT_TRUE(RollupCell::Decode(bytes, &back).ok());
  EXPECT_EQ(back.Serialize(), bytes);
  back.Merge(c);
  EXPECT_EQ(back.count, 24u);
  EXPECT_EQ(back.users.Estimate(), c.users.Estimate());
  EXPECT_EQ(back.latency.count(), 100u);
  for (size_t len = 0; len < bytes.size(); ++len) {
    RollupCell t;
    EXPECT_EQ(RollupCell::Decode(bytes.substr(0, len), &t).code(), StatusCode::kCorruption) << len;
  }
  RollupCell empty;
  ASSERT_TRUE(RollupCell::Decode(RollupCell().Serialize(), &empty).ok());
  EXPECT_EQ(empty.count, 0u);
}

}  // namespace
}  // namespace vigil::aggregate
