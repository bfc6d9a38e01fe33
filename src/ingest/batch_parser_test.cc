// BatchParser: valid batches become records; each kind of bad event or body is named.
#include "ingest/batch_parser.h"

#include <gtest/gtest.h>

#include "common/batch_record.h"

namespace vigil::ingest {
namespace {

constexpr int64_t kNow = 1700000000000;

struct Parsed {
  Status status;
  ParsedBatch batch;
  BatchRecord record;
  std::string storage;
};

std::unique_ptr<Parsed> Parse(std::string json, int64_t now = kNow) {
  auto p = std::make_unique<Parsed>();
  static BatchParser parser;
  p->storage = std::move(json);
  size_t size = p->storage.size();
  p->storage.reserve(size + kJsonPadding);
  p->status = parser.Parse(p->storage.data(), size, p->storage.capacity(), now, &p->batch);
  if (p->status.ok() && !p->batch.record.empty()) {
    EXPECT_TRUE(DecodeBatchRecord(p->batch.record, &p->record).ok());
  }
  return p;
}

std::string Batch(const std::string& events, const std::string& extra = "") {
  return R"({"batch_id":"b-1","sent_at":1700000000000,"device":{"id":"d1","os":"ios"},)"
         R"("app":{"version":"2.3.1","build":"77"},"user":{"id":"u1"},)" +
         extra + R"("events":[)" + events + "]}";
}

TEST(BatchParserTest, NumbersKeepTheirKindAndHugeIntegersBecomeDoubles) {
  auto p =
      Parse(Batch(R"({"id":"e1","type":"custom","ts":1700000000000,"name":"n","attrs":{"i":-42,)"
                  R"("u":18446744073709551615,"d":2.5,"huge":123456789012345678901234567890}})"));
  ASSERT_TRUE(p->status.ok()) << p->status.ToString();
  ASSERT_EQ(p->record.events.size(), 1u);
  BinaryValue attrs = p->record.events[0].fields.Get("attrs");
  EXPECT_EQ(attrs.Get("i").AsInt(), -42);
  EXPECT_EQ(attrs.Get("u").tag(), ValueTag::kUint);
  EXPECT_EQ(attrs.Get("d").AsDouble(), 2.5);
  EXPECT_EQ(attrs.Get("huge").tag(), ValueTag::kDouble);
  EXPECT_DOUBLE_EQ(attrs.Get("huge").AsDouble(), 1.2345678901234568e29);
}

TEST(BatchParserTest, AcceptsEveryEventTypeAndKeepsContext) {
  auto p = Parse(Batch(
      R"({"id":"e1","type":"session_start","ts":1700000000000},)"
      R"({"id":"e2","type":"crash","ts":1700000000001,"error":{"type":"SIGSEGV","reason":"bad access"}},)"
      R"j({"id":"e3","type":"handled_exception","ts":1700000000002,"error":{"format":"java","text":"java.lang.X: y\n\tat a.b(C.java:1)"}},)j"
      R"({"id":"e4","type":"network","ts":1700000000003,"network":{"method":"GET","url":"https://x/y","status":0,"duration_ms":3.5,"error":"timeout"}},)"
      R"({"id":"e5","type":"user_flow","ts":1700000000004,"flow":{"name":"checkout","outcome":"fail","duration_ms":1200}},)"
      R"({"id":"e6","type":"custom","ts":1700000000005,"name":"purchase","attrs":{"sku":"a1","price":9.99},"extra_field":[1,2]})"));
  ASSERT_TRUE(p->status.ok()) << p->status.ToString();
  EXPECT_EQ(p->batch.accepted, 6u);
  EXPECT_EQ(p->batch.rejected, 0u);
  ASSERT_EQ(p->record.events.size(), 6u);
  EXPECT_EQ(p->record.header.batch_id, "b-1");
  EXPECT_EQ(p->record.header.device.Get("os").AsString(), "ios");
  EXPECT_EQ(p->record.header.app.Get("version").AsString(), "2.3.1");
  EXPECT_EQ(p->record.header.user.Get("id").AsString(), "u1");
  EXPECT_EQ(p->record.events[3].type, EventType::kNetwork);
  EXPECT_EQ(p->record.events[3].fields.Get("network").Get("error").AsString(), "timeout");
  // Unknown fields are kept.
  EXPECT_EQ(p->record.events[5].fields.Get("extra_field").Count(), 2u);
}

TEST(BatchParserTest, BadEventsAreRejectedWithIndexAndReasonOthersKept) {
  auto p = Parse(Batch(
      R"("not an object",)"
      R"({"type":"session_start","ts":1700000000000},)"
      R"({"id":"x","type":"teleport","ts":1700000000000},)"
      R"({"id":"y","type":"session_start","ts":"yesterday"},)"
      R"({"id":"z","type":"network","ts":1700000000000,"network":{"method":"GET","url":"/a","status":"200","duration_ms":1}},)"
      R"({"id":"ok","type":"session_start","ts":1700000000000},)"
      R"({"id":"0123456789012345678901234567890123456789012345678901234567890123456789","type":"session_start","ts":1700000000000})"));
  ASSERT_TRUE(p->status.ok()) << p->status.ToString();
  EXPECT_EQ(p->batch.accepted, 1u);
  EXPECT_EQ(p->batch.rejected, 6u);
  ASSERT_EQ(p->batch.errors.size(), 6u);
  EXPECT_EQ(p->batch.errors[0].index, 0u);
  EXPECT_EQ(p->batch.errors[0].reason, DropReason::kNotAnObject);
  EXPECT_EQ(p->batch.errors[1].reason, DropReason::kBadId);
  EXPECT_EQ(p->batch.errors[2].reason, DropReason::kBadType);
  EXPECT_EQ(p->batch.errors[3].reason, DropReason::kBadTimestamp);
  EXPECT_EQ(p->batch.errors[4].reason, DropReason::kBadFields);
  EXPECT_EQ(p->batch.errors[4].message,
            "network: network.status must be an integer HTTP status (0 for a failed call)");
  EXPECT_EQ(p->batch.errors[5].index, 6u);
  EXPECT_EQ(p->batch.errors[5].reason, DropReason::kBadId);
  ASSERT_EQ(p->record.events.size(), 1u);
  EXPECT_EQ(p->record.events[0].id, "ok");
}

TEST(BatchParserTest, TypeSpecificRulesAreEnforced) {
  struct Case {
    const char* event;
    const char* message;
  } cases[] = {
      {R"({"id":"a","type":"crash","ts":1700000000000})",
       "crash: error must be an object: {\"type\", \"reason\"} and/or a stack (see "
       "docs/protocol.md)"},
      {R"({"id":"a","type":"crash","ts":1700000000000,"error":{"format":"cobol","text":"x"}})",
       "crash: error.format must be one of native, apple, java, tombstone"},
      {R"({"id":"a","type":"crash","ts":1700000000000,"error":{"format":"apple"}})",
       "crash: error.format \"apple\" needs error.text"},
      {R"({"id":"a","type":"network","ts":1700000000000,"network":{"method":"GET","url":"/a","status":0,"duration_ms":1}})",
       "network: network.status 0 (a failed call) needs network.error saying why"},
      {R"({"id":"a","type":"user_flow","ts":1700000000000,"flow":{"name":"x","outcome":"maybe"}})",
       "user_flow: flow.outcome must be one of success, fail, crash"},
      {R"({"id":"a","type":"custom","ts":1700000000000,"name":"x","attrs":{"nested":{"a":1}}})",
       "custom: attrs.nested must be a string or a number"},
  };
  for (const Case& c : cases) {
    auto p = Parse(Batch(c.event));
    ASSERT_TRUE(p->status.ok());
    ASSERT_EQ(p->batch.errors.size(), 1u) << c.event;
    EXPECT_EQ(p->batch.errors[0].message, c.message);
  }
}

TEST(BatchParserTest, WholeBodyProblemsAreInvalidArgument) {
  EXPECT_EQ(Parse("")->status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Parse("[1,2]")->status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Parse(R"({"batch_id":"b","events":{}})")->status.message(),
            "events must be an array of event objects");
  EXPECT_EQ(Parse(R"({"events":[]})")->status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Parse(R"({"batch_id":"b"})")->status.message(),
            "events is required: an array of event objects");
  EXPECT_EQ(Parse(R"({"batch_id":"b","events":[{"id":"a",)")->status.code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Parse("{\"batch_id\":\"\xff\",\"events\":[]}")->status.message(),
            "body is not valid UTF-8; encode every string as UTF-8");
}

TEST(BatchParserTest, ClockSkewOverAMinuteShiftsTimestamps) {
  // The device clock is 10 minutes behind: sent_at = now - 600 s.
  auto p = Parse(R"({"batch_id":"b","sent_at":1699999400000,"events":[)"
                 R"({"id":"e","type":"session_start","ts":1699999300000}]})");
  ASSERT_TRUE(p->status.ok());
  EXPECT_TRUE(p->batch.skew_corrected);
  EXPECT_EQ(p->batch.skew_ms, 600000);
  EXPECT_EQ(p->record.events[0].ts_ms, 1699999900000);
  EXPECT_TRUE(p->record.header.skew_corrected);
}

TEST(BatchParserTest, SkewUnderAMinuteIsLeftAlone) {
  auto p = Parse(R"({"batch_id":"b","sent_at":1699999990000,"events":[)"
                 R"({"id":"e","type":"session_start","ts":1699999980000}]})");
  ASSERT_TRUE(p->status.ok());
  EXPECT_FALSE(p->batch.skew_corrected);
  EXPECT_EQ(p->record.events[0].ts_ms, 1699999980000);
}

TEST(BatchParserTest, TooManyEventsIsTooLarge) {
  BatchParser parser(BatchLimits{.max_events = 2});
  std::string json = Batch(R"({"id":"a","type":"session_start","ts":1700000000000},)"
                           R"({"id":"b","type":"session_start","ts":1700000000000},)"
                           R"({"id":"c","type":"session_start","ts":1700000000000})");
  size_t size = json.size();
  json.reserve(size + kJsonPadding);
  ParsedBatch out;
  EXPECT_EQ(parser.Parse(json.data(), size, json.capacity(), kNow, &out).code(),
            StatusCode::kTooLarge);
}

}  // namespace
}  // namespace vigil::ingest
