// SegmentWriter's spares: a file of zeros written ahead, then made a segment by CreateFromSpare.
#include "log/segment_writer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "common/file_util.h"
#include "common/temp_dir.h"
#include "log/record_format.h"
#include "log/segment_reader.h"

namespace vigil::log {
namespace {

off_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// PrepareSpare's choice, piece by piece: through the page cache, or O_DIRECT.
bool Buffered() { return false; }
bool Direct() { return true; }

class SegmentWriterTest : public ::testing::Test {
 protected:
  TempDir temp_dir_;
  std::string spare_ = temp_dir_.path() + "/spare";
  std::string segment_ = temp_dir_.path() + "/00000000000000000007.seg";
};

TEST_F(SegmentWriterTest, ASpareIsItsSizeInZerosRoundedUpToWholePages) {
  ASSERT_TRUE(SegmentWriter::PrepareSpare(spare_, 300000, nullptr, Buffered).ok());
  Result<std::string> bytes = ReadFile(spare_);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), 74u * 4096);  // 300000 / 4096 = 73.2
  EXPECT_EQ(bytes->find_first_not_of('\0'), std::string::npos);
}

TEST_F(SegmentWriterTest, ASpareIsZerosWhetherItsPiecesGoDirectOrNot) {
  int piece = 0;
  auto alternate = [&piece] { return piece++ % 3 != 1; };  // direct, buffered, direct, ...
  ASSERT_TRUE(SegmentWriter::PrepareSpare(spare_, (2 << 20) + 1000, nullptr, alternate).ok());
  EXPECT_EQ(piece, 9);  // 8 whole pieces of 256 KiB and one of a page
  Result<std::string> bytes = ReadFile(spare_);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), (2u << 20) + 4096);
  EXPECT_EQ(bytes->find_first_not_of('\0'), std::string::npos);
}

TEST_F(SegmentWriterTest, AppendsToASegmentMadeFromASpareOverwriteItsZeros) {
  ASSERT_TRUE(SegmentWriter::PrepareSpare(spare_, 64 << 10, nullptr, Buffered).ok());
  Result<std::unique_ptr<SegmentWriter>> w =
      SegmentWriter::CreateFromSpare(spare_, segment_, SegmentHeader{7, 1700000000000});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_FALSE(Exists(spare_));
  EXPECT_EQ((*w)->path(), segment_);
  EXPECT_EQ((*w)->size(), kSegmentHeaderSize);
  std::string records;
  for (uint64_t offset = 7; offset < 17; ++offset) {
    EncodeRecord(offset, 1700000000000, 0, 1, "payload-" + std::to_string(offset), &records);
  }
  ASSERT_TRUE((*w)->Write(records).ok());
  ASSERT_TRUE((*w)->Sync().ok());
  // The file did not grow: the records went over zeros already there.
  EXPECT_EQ(FileSize(segment_), 64 << 10);
  EXPECT_EQ((*w)->size(), kSegmentHeaderSize + records.size());

  Result<std::unique_ptr<SegmentReader>> r = SegmentReader::Open(segment_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->header().base_offset, 7u);
  LogRecord rec;
  for (uint64_t offset = 7; offset < 17; ++offset) {
    ASSERT_EQ((*r)->Next(&rec), SegmentReader::Outcome::kRecord);
    EXPECT_EQ(rec.offset, offset);
    EXPECT_EQ(rec.payload, "payload-" + std::to_string(offset));
  }
  EXPECT_EQ((*r)->Next(&rec), SegmentReader::Outcome::kEnd);  // the rest of the spare's zeros

  ASSERT_TRUE((*w)->Seal().ok());
  EXPECT_EQ(FileSize(segment_), static_cast<off_t>(kSegmentHeaderSize + records.size()));
}

TEST_F(SegmentWriterTest, ARoundPastTheSparesEndExtendsTheFile) {
  ASSERT_TRUE(SegmentWriter::PrepareSpare(spare_, 4096, nullptr, Buffered).ok());
  Result<std::unique_ptr<SegmentWriter>> w =
      SegmentWriter::CreateFromSpare(spare_, segment_, SegmentHeader{7, 1700000000000});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::string records;
  EncodeRecord(7, 1700000000000, 0, 1, std::string(10000, 'x'), &records);
  ASSERT_TRUE((*w)->Write(records).ok());
  ASSERT_TRUE((*w)->Sync().ok());
  EXPECT_GT(FileSize(segment_), static_cast<off_t>(kSegmentHeaderSize + records.size()));
  Result<std::unique_ptr<SegmentReader>> r = SegmentReader::Open(segment_);
  ASSERT_TRUE(r.ok());
  LogRecord rec;
  ASSERT_EQ((*r)->Next(&rec), SegmentReader::Outcome::kRecord);
  EXPECT_EQ(rec.payload, std::string(10000, 'x'));
  EXPECT_EQ((*r)->Next(&rec), SegmentReader::Outcome::kEnd);
}

// Write() pads each append with zeros to the end of its last page, over a spare written with
// O_DIRECT: whatever the sizes of the appends, the file holds exactly what was appended, then
// zeros, also after OpenForAppend picks up a segment that ends mid-page.
TEST_F(SegmentWriterTest, AppendsOfAnySizeLeaveExactlyTheirBytesThenZeros) {
  ASSERT_TRUE(SegmentWriter::PrepareSpare(spare_, 256 << 10, nullptr, Direct).ok());
  Result<std::unique_ptr<SegmentWriter>> w =
      SegmentWriter::CreateFromSpare(spare_, segment_, SegmentHeader{7, 1700000000000});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::string expected;
  EncodeSegmentHeader(SegmentHeader{7, 1700000000000}, &expected);
  auto check = [&](const char* when) {
    Result<std::string> bytes = ReadFile(segment_);
    ASSERT_TRUE(bytes.ok());
    ASSERT_GE(bytes->size(), expected.size()) << when;
    EXPECT_EQ(bytes->substr(0, expected.size()), expected) << when;
    EXPECT_EQ(bytes->find_first_not_of('\0', expected.size()), std::string::npos) << when;
  };
  // Within a page, up to a page's end exactly, across one boundary, across several, from a
  // page's start.
  const size_t sizes[] = {100, 4096 - 100 - kSegmentHeaderSize, 5000, 3, 20000, 4093, 1, 70000};
  char fill = 'a';
  for (size_t n : sizes) {
    const std::string piece(n, fill++);
    ASSERT_TRUE((*w)->Write(piece).ok());
    expected += piece;
    ASSERT_EQ((*w)->size(), expected.size());
    ASSERT_NO_FATAL_FAILURE(check("after a write"));
  }
  ASSERT_TRUE((*w)->Sync().ok());
  w->reset();
  ASSERT_NE(expected.size() % 4096, 0u);  // the reopened segment ends mid-page
  // Recovery truncates the zero tail first, as for a crashed server's segment.
  w = SegmentWriter::OpenForAppend(segment_, expected.size());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (size_t n : {10, 5000}) {
    const std::string piece(n, fill++);
    ASSERT_TRUE((*w)->Write(piece).ok());
    expected += piece;
    ASSERT_NO_FATAL_FAILURE(check("after a write to the reopened segment"));
  }
  ASSERT_TRUE((*w)->Seal().ok());
  Result<std::string> bytes = ReadFile(segment_);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, expected);
}

TEST_F(SegmentWriterTest, AMissingSpareFailsAndLeavesNoSegment) {
  Result<std::unique_ptr<SegmentWriter>> w =
      SegmentWriter::CreateFromSpare(spare_, segment_, SegmentHeader{7, 1700000000000});
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find(spare_), std::string::npos) << w.status().message();
  EXPECT_FALSE(Exists(segment_));
}

TEST_F(SegmentWriterTest, AStoppedSpareIsRemoved) {
  std::atomic<bool> stop{true};
  Status st = SegmentWriter::PrepareSpare(spare_, 1 << 20, &stop, Buffered);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_FALSE(Exists(spare_));
}

TEST_F(SegmentWriterTest, ASpareThatCannotBeCreatedSaysWhere) {
  const std::string nowhere = temp_dir_.path() + "/no-such-dir/spare";
  Status st = SegmentWriter::PrepareSpare(nowhere, 4096, nullptr, Direct);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(nowhere), std::string::npos) << st.message();
}

}  // namespace
}  // namespace vigil::log
