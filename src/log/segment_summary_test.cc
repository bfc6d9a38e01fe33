// Segment summaries: the byte format round-trips, and every kind of damage or inconsistency is
// refused (recovery then reads the segment), never trusted.
#include "log/segment_summary.h"

#include <gtest/gtest.h>

#include "common/coding.h"
#include "common/file_util.h"
#include "common/temp_dir.h"

namespace vigil::log {
namespace {

SegmentSummary Sample() {
  SegmentSummary s;
  s.base_offset = 1000;
  s.created_ms = 1700000000000;
  s.file_size = 10000;
  s.bytes = 10000;
  s.end_offset = 1100;
  s.items = 2000;
  s.last_append_ms = 1700000005000;
  s.index = {{1000, 32}, {1050, 5000}};
  // Keys with gaps (records without a key) and a clock that stepped back once.
  s.keys = {{11, 1000, 1700000000001},
            {22, 1001, 1700000000000},
            {33, 1050, 1700000004000},
            {0xffffffffffffffffull, 1099, 1700000005000}};
  return s;
}

void ExpectSame(const SegmentSummary& a, const SegmentSummary& b, bool with_keys) {
  EXPECT_EQ(a.base_offset, b.base_offset);
  EXPECT_EQ(a.created_ms, b.created_ms);
  EXPECT_EQ(a.file_size, b.file_size);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.end_offset, b.end_offset);
  EXPECT_EQ(a.items, b.items);
  EXPECT_EQ(a.last_append_ms, b.last_append_ms);
  EXPECT_EQ(a.index, b.index);
  if (!with_keys) {
    EXPECT_TRUE(b.keys.empty());
    return;
  }
  ASSERT_EQ(a.keys.size(), b.keys.size());
  for (size_t i = 0; i < a.keys.size(); ++i) {
    EXPECT_EQ(a.keys[i].key, b.keys[i].key);
    EXPECT_EQ(a.keys[i].offset, b.keys[i].offset);
    EXPECT_EQ(a.keys[i].time_ms, b.keys[i].time_ms);
  }
}

TEST(SegmentSummaryTest, RoundTripsWithAndWithoutKeys) {
  const SegmentSummary s = Sample();
  const std::string bytes = EncodeSegmentSummary(s);
  // Fixed head 88 bytes, two index entries, head CRC; then the keys (8 + 1 + at most 3 bytes
  // each here) and their CRC.
  EXPECT_EQ(bytes.substr(0, 8), "VIGILSUM");
  EXPECT_LE(bytes.size(), 88u + 32 + 4 + 4 * 12 + 4);
  SegmentSummary out;
  ASSERT_TRUE(DecodeSegmentSummary(bytes, true, &out).ok());
  ExpectSame(s, out, true);
  // The head alone is enough without keys.
  const size_t head = 88 + 32 + 4;
  ASSERT_TRUE(DecodeSegmentSummary(std::string_view(bytes).substr(0, head), false, &out).ok());
  ExpectSame(s, out, false);
  EXPECT_FALSE(DecodeSegmentSummary(std::string_view(bytes).substr(0, head), true, &out).ok());
}

// Times far apart (a clock set wildly wrong) still round-trip: deltas are taken modulo 2^64.
TEST(SegmentSummaryTest, ExtremeTimesRoundTrip) {
  SegmentSummary s = Sample();
  s.created_ms = INT64_MIN;
  s.keys[0].time_ms = INT64_MAX;
  s.keys[1].time_ms = INT64_MIN;
  s.keys[2].time_ms = 0;
  SegmentSummary out;
  ASSERT_TRUE(DecodeSegmentSummary(EncodeSegmentSummary(s), true, &out).ok());
  ExpectSame(s, out, true);
}

TEST(SegmentSummaryTest, EmptySegmentRoundTrips) {
  SegmentSummary s = Sample();  // its records gone: a header alone
  s.file_size = s.bytes = 32;
  s.end_offset = s.base_offset;
  s.items = 0;
  s.index.clear();
  s.keys.clear();
  SegmentSummary out;
  ASSERT_TRUE(DecodeSegmentSummary(EncodeSegmentSummary(s), true, &out).ok());
  ExpectSame(s, out, true);
}

TEST(SegmentSummaryTest, EveryFlippedBitIsRefused) {
  const std::string bytes = EncodeSegmentSummary(Sample());
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; bit += 3) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      SegmentSummary out;
      EXPECT_FALSE(DecodeSegmentSummary(bad, true, &out).ok()) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(SegmentSummaryTest, EveryTruncationIsRefused) {
  const std::string bytes = EncodeSegmentSummary(Sample());
  for (size_t n = 0; n < bytes.size(); ++n) {
    SegmentSummary out;
    EXPECT_FALSE(DecodeSegmentSummary(std::string_view(bytes).substr(0, n), true, &out).ok()) << n;
  }
  SegmentSummary out;
  EXPECT_FALSE(DecodeSegmentSummary(bytes + "x", true, &out).ok());
}

// Well-formed (CRCs match) but inconsistent: counts the segment cannot hold, keys out of
// order, an index past the records' end.
TEST(SegmentSummaryTest, InconsistentSummariesAreRefused) {
  auto refused = [](SegmentSummary s) {
    SegmentSummary out;
    return !DecodeSegmentSummary(EncodeSegmentSummary(s), true, &out).ok();
  };
  SegmentSummary s = Sample();
  s.end_offset = s.base_offset + 1000000;  // a million records in 10 KB
  EXPECT_TRUE(refused(s));
  s = Sample();
  s.bytes = s.file_size + 1;
  EXPECT_TRUE(refused(s));
  s = Sample();
  s.end_offset = s.base_offset - 1;
  EXPECT_TRUE(refused(s));
  s = Sample();
  s.index = {{1050, 5000}, {1000, 32}};
  EXPECT_TRUE(refused(s));
  s = Sample();
  s.index = {{1000, 10000}};  // at the records' end
  EXPECT_TRUE(refused(s));
  s = Sample();
  std::swap(s.keys[1], s.keys[2]);
  EXPECT_TRUE(refused(s));
  s = Sample();
  s.keys[3].offset = s.end_offset;
  EXPECT_TRUE(refused(s));
  s = Sample();
  s.keys[0].key = 0;
  EXPECT_TRUE(refused(s));
  s = Sample();
  s.keys[1].offset = s.keys[0].offset;  // the same record twice
  EXPECT_TRUE(refused(s));
}

class SegmentSummaryFileTest : public ::testing::Test {
 protected:
  Status Write(const SegmentSummary& s) {
    SummaryKeys keys(s.base_offset, s.created_ms);
    for (const SegmentSummary::Key& k : s.keys) keys.Add(k.key, k.offset, k.time_ms);
    return WriteSegmentSummary(path_, s, keys);
  }

  TempDir temp_dir_;
  std::string path_ = temp_dir_.path() + "/00000000000000001000.summary";
};

TEST_F(SegmentSummaryFileTest, PathIsBesideTheSegment) {
  EXPECT_EQ(SummaryPath("/d/app/00000000000000001000.seg"), "/d/app/00000000000000001000.summary");
}

TEST_F(SegmentSummaryFileTest, KeysAreReadOnlyForAYoungEnoughSegment) {
  const SegmentSummary s = Sample();
  ASSERT_TRUE(Write(s).ok());
  EXPECT_FALSE(FileExists(path_ + ".tmp"));
  SegmentSummary out;
  ASSERT_TRUE(ReadSegmentSummary(path_, 1000, 10000, s.last_append_ms, &out).ok());
  ExpectSame(s, out, true);
  ASSERT_TRUE(ReadSegmentSummary(path_, 1000, 10000, s.last_append_ms + 1, &out).ok());
  ExpectSame(s, out, false);
}

TEST_F(SegmentSummaryFileTest, ASummaryOfAnotherSegmentOrSizeIsRefused) {
  ASSERT_TRUE(Write(Sample()).ok());
  SegmentSummary out;
  EXPECT_EQ(ReadSegmentSummary(path_, 1001, 10000, 0, &out).code(), StatusCode::kCorruption);
  EXPECT_EQ(ReadSegmentSummary(path_, 1000, 10001, 0, &out).code(), StatusCode::kCorruption);
  EXPECT_EQ(ReadSegmentSummary(path_ + "x", 1000, 10000, 0, &out).code(), StatusCode::kNotFound);
}

// The summary of a segment retention deleted is read for its keys whatever size it names.
TEST_F(SegmentSummaryFileTest, ASummaryOfAGoneSegmentNamesAnySize) {
  ASSERT_TRUE(Write(Sample()).ok());
  SegmentSummary out;
  ASSERT_TRUE(ReadSegmentSummary(path_, 1000, std::nullopt, 0, &out).ok());
  ExpectSame(Sample(), out, true);
  EXPECT_EQ(ReadSegmentSummary(path_, 1001, std::nullopt, 0, &out).code(), StatusCode::kCorruption);
}

TEST_F(SegmentSummaryFileTest, DamageInTheKeysIsFoundWhenTheyAreRead) {
  ASSERT_TRUE(Write(Sample()).ok());
  Result<std::string> bytes = ReadFile(path_);
  ASSERT_TRUE(bytes.ok());
  (*bytes)[bytes->size() - 6] ^= 1;
  ASSERT_TRUE(WriteFile(path_, *bytes).ok());
  SegmentSummary out;
  EXPECT_EQ(ReadSegmentSummary(path_, 1000, 10000, 0, &out).code(), StatusCode::kCorruption);
}

// A file far bigger than a summary of its segment can be is refused before it is read.
TEST_F(SegmentSummaryFileTest, AnOversizedFileIsRefusedUnread) {
  ASSERT_TRUE(WriteFile(path_, std::string(1 << 20, 'x')).ok());
  SegmentSummary out;
  Status st = ReadSegmentSummary(path_, 1000, 10000, 0, &out);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("impossible size"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace vigil::log
