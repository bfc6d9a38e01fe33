// Record framing: round trips and every way a record's bytes can be wrong.
#include "log/record_format.h"

#include <gtest/gtest.h>

namespace vigil::log {
namespace {

TEST(RecordFormatTest, RoundTripsHeaderAndPayload) {
  std::string buf;
  EncodeRecord(42, 1700000000000, 0xabcdef, 20, "payload", &buf);
  ASSERT_EQ(buf.size(), kRecordHeaderSize + 7);
  RecordHeader h;
  ASSERT_EQ(DecodeRecordHeader(buf, &h), RecordCheck::kOk);
  EXPECT_EQ(h.payload_size, 7u);
  EXPECT_EQ(h.offset, 42u);
  EXPECT_EQ(h.append_time_ms, 1700000000000);
  EXPECT_EQ(h.dedup_key, 0xabcdefu);
  EXPECT_EQ(h.item_count, 20u);
  EXPECT_TRUE(RecordCrcMatches(h, buf));
}

TEST(RecordFormatTest, FlippedPayloadBitFailsCrc) {
  std::string buf;
  EncodeRecord(1, 2, 3, 4, "some payload bytes", &buf);
  buf[kRecordHeaderSize + 3] ^= 0x10;
  RecordHeader h;
  ASSERT_EQ(DecodeRecordHeader(buf, &h), RecordCheck::kOk);
  EXPECT_FALSE(RecordCrcMatches(h, buf));
}

TEST(RecordFormatTest, ChangedOffsetFailsCrc) {
  std::string buf;
  EncodeRecord(1, 2, 3, 4, "x", &buf);
  buf[8] = 9;
  RecordHeader h;
  ASSERT_EQ(DecodeRecordHeader(buf, &h), RecordCheck::kOk);
  EXPECT_FALSE(RecordCrcMatches(h, buf));
}

TEST(RecordFormatTest, ShortHeaderIsTruncated) {
  std::string buf;
  EncodeRecord(1, 2, 3, 4, "x", &buf);
  RecordHeader h;
  EXPECT_EQ(DecodeRecordHeader(std::string_view(buf).substr(0, 10), &h), RecordCheck::kTruncated);
}

TEST(RecordFormatTest, AbsurdLengthIsCorrupt) {
  std::string buf;
  EncodeRecord(1, 2, 3, 4, "x", &buf);
  buf[3] = 0x7f;  // length ~2 GiB
  RecordHeader h;
  EXPECT_EQ(DecodeRecordHeader(buf, &h), RecordCheck::kCorrupt);
}

TEST(RecordFormatTest, SegmentHeaderRoundTripsAndRejectsBadMagic) {
  std::string buf;
  EncodeSegmentHeader({77, 123456}, &buf);
  ASSERT_EQ(buf.size(), kSegmentHeaderSize);
  SegmentHeader h;
  ASSERT_TRUE(DecodeSegmentHeader(buf, &h));
  EXPECT_EQ(h.base_offset, 77u);
  EXPECT_EQ(h.created_ms, 123456);
  buf[0] = 'X';
  EXPECT_FALSE(DecodeSegmentHeader(buf, &h));
}

}  // namespace
}  // namespace vigil::log
