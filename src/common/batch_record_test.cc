// Batch records: round trip of header and events, and rejection of damaged payloads.
#include "common/batch_record.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

std::string Object(const std::function<void(BinaryValueWriter&)>& members) {
  std::string out;
  BinaryValueWriter w(&out);
  w.BeginObject();
  members(w);
  w.EndObject();
  return out;
}

std::string SampleRecord() {
  std::string device = Object([](BinaryValueWriter& w) {
    w.Key("id");
    w.String("dev-1");
  });
  std::string fields = Object([](BinaryValueWriter& w) {
    w.Key("name");
    w.String("checkout");
  });
  BatchHeader h;
  h.batch_id = "b-1";
  h.sent_at_ms = 100;
  h.received_ms = 200;
  h.skew_ms = 100;
  h.skew_corrected = true;
  h.device = BinaryValue(device);
  std::string out;
  BatchRecordBuilder b;
  b.Begin(h, &out);
  b.AddEvent("e1", EventType::kSessionStart, 1000, Object([](BinaryValueWriter&) {}));
  b.AddEvent("e2", EventType::kCustom, 2000, fields);
  b.Finish();
  return out;
}

TEST(BatchRecordTest, RoundTripsHeaderAndEvents) {
  std::string payload = SampleRecord();
  BatchRecord rec;
  ASSERT_TRUE(DecodeBatchRecord(payload, &rec).ok());
  EXPECT_EQ(rec.header.batch_id, "b-1");
  EXPECT_EQ(rec.header.sent_at_ms, 100);
  EXPECT_EQ(rec.header.received_ms, 200);
  EXPECT_EQ(rec.header.skew_ms, 100);
  EXPECT_TRUE(rec.header.skew_corrected);
  EXPECT_EQ(rec.header.device.Get("id").AsString(), "dev-1");
  EXPECT_FALSE(rec.header.app.present());
  ASSERT_EQ(rec.events.size(), 2u);
  EXPECT_EQ(rec.events[0].id, "e1");
  EXPECT_EQ(rec.events[0].type, EventType::kSessionStart);
  EXPECT_EQ(rec.events[1].ts_ms, 2000);
  EXPECT_EQ(rec.events[1].fields.Get("name").AsString(), "checkout");
}

TEST(BatchRecordTest, EveryTruncationIsCorruption) {
  std::string payload = SampleRecord();
  for (size_t len = 0; len < payload.size(); ++len) {
    BatchRecord rec;
    EXPECT_EQ(DecodeBatchRecord(std::string_view(payload).substr(0, len), &rec).code(),
              StatusCode::kCorruption)
        << len;
  }
}

TEST(BatchRecordTest, ShallowCheckPassesOverContainersByTheirSize) {
  std::string payload = SampleRecord();
  BatchRecord full, shallow;
  ASSERT_TRUE(DecodeBatchRecord(payload, &full).ok());
  ASSERT_TRUE(DecodeBatchRecord(payload, &shallow, ValueCheck::kShallow).ok());
  ASSERT_EQ(shallow.events.size(), 2u);
  EXPECT_EQ(shallow.events[1].fields.bytes(), full.events[1].fields.bytes());
  EXPECT_EQ(shallow.header.device.Get("id").AsString(), "dev-1");
  // Damage inside the last event's fields object ("checkout"'s length byte, 9 bytes before the
  // end): the full check sees it, the shallow one passes over it.
  payload[payload.size() - 9] = 0x7f;
  EXPECT_EQ(DecodeBatchRecord(payload, &full).code(), StatusCode::kCorruption);
  ASSERT_TRUE(DecodeBatchRecord(payload, &shallow, ValueCheck::kShallow).ok());
  EXPECT_NE(shallow.events[1].fields.Get("name").AsString(), "checkout");
  // Truncation is corruption either way.
  for (size_t len = 0; len < payload.size(); ++len) {
    EXPECT_EQ(
        DecodeBatchRecord(std::string_view(payload).substr(0, len), &shallow, ValueCheck::kShallow)
            .code(),
        StatusCode::kCorruption)
        << len;
  }
}

TEST(BatchRecordTest, UnknownVersionIsCorruption) {
  std::string payload = SampleRecord();
  payload[2] = 9;
  BatchRecord rec;
  EXPECT_EQ(DecodeBatchRecord(payload, &rec).code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace vigil
