// Part files: exact round trips, column projection, the hour rule, atomic writes, and damage —
// every truncation and every flipped byte is reported as an error, never read past.
#include "archive/part_file.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <set>

#include "common/coding.h"
#include "common/file_util.h"
#include "common/temp_dir.h"

namespace vigil::archive {
namespace {

constexpr int64_t kHour = 1767229200000;  // 2026-01-01T01:00:00Z

class PartFileTest : public ::testing::Test {
 protected:
  static std::vector<ArchiveRow> Rows(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<ArchiveRow> rows(n);
    for (size_t i = 0; i < n; ++i) {
      ArchiveRow& r = rows[i];
      r.id = "ev-" + std::to_string(rng() % 100000) + "-" + std::to_string(i);
      r.ts_ms = kHour + static_cast<int64_t>(rng() % 3600000);
      r.type = static_cast<EventType>(1 + rng() % kEventTypeCount);
      r.version = i % 3 ? "2.3.1" : "";
      r.os = i % 2 ? "android" : "iOS \xc3\xa9";
      r.user = "user-" + std::to_string(rng() % 50);
      r.fields = std::string("\x08\x00\x01", 3) + std::string(rng() % 200, 'f');
      r.context = std::string(1 + rng() % 50, '\0');
    }
    return rows;
  }

  // Writes `rows` as one part of kHour and opens it.
  Result<PartReader> WriteAndOpen(const std::vector<ArchiveRow>& rows) {
    PartInfo info;
    info.app = "a";
    info.hour_ms = kHour;
    const std::string path = dir_ + "/p.vpart";
    Status st = WritePart(path, rows, &info);
    if (!st.ok()) return st;
    return PartReader::Open(path);
  }

  TempDir temp_dir_;
  std::string dir_ = temp_dir_.path();
};

// The order WritePart promises: by (ts, id), stable; computed here with std::stable_sort.
std::vector<ArchiveRow> SortedByTimeThenId(std::vector<ArchiveRow> rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const ArchiveRow& a, const ArchiveRow& b) {
    return a.ts_ms != b.ts_ms ? a.ts_ms < b.ts_ms : a.id < b.id;
  });
  return rows;
}

// XXH3-128 of an id, straight from xxhash: what the id_hash column must hold.
Hash128 ExpectedIdHash(const std::string& id) {
  const XXH128_hash_t h = XXH3_128bits(id.data(), id.size());
  return Hash128{h.low64, h.high64};
}

void ExpectRowsEqual(const std::vector<ArchiveRow>& want, const PartColumns& got) {
  ASSERT_EQ(got.rows(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got.str(kId, i), want[i].id) << i;
    ASSERT_TRUE(got.id_hash(i) == ExpectedIdHash(want[i].id)) << i;
    ASSERT_EQ(got.ts(i), want[i].ts_ms) << i;
    ASSERT_EQ(got.type(i), want[i].type) << i;
    ASSERT_EQ(got.str(kVersion, i), want[i].version) << i;
    ASSERT_EQ(got.str(kOs, i), want[i].os) << i;
    ASSERT_EQ(got.str(kUser, i), want[i].user) << i;
    ASSERT_EQ(got.str(kFields, i), want[i].fields) << i;
    ASSERT_EQ(got.str(kContext, i), want[i].context) << i;
  }
}

// The part at `path` holds exactly `rows`, in WritePart's order.
void ExpectPartHolds(const std::string& path, const std::vector<ArchiveRow>& rows) {
  Result<PartReader> r = PartReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  PartColumns cols;
  Status st = r->Read(kAllColumns, &cols);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ExpectRowsEqual(SortedByTimeThenId(rows), cols);
}

TEST_F(PartFileTest, RowsRoundTripSortedByTimeThenId) {
  std::vector<ArchiveRow> rows = Rows(5000, 1);
  std::vector<ArchiveRow> want = SortedByTimeThenId(rows);
  PartInfo info;
  info.app = "app_1";
  info.hour_ms = kHour;
  info.source_first = 17;
  info.source_end = 42;
  std::string path = dir_ + "/p.vpart";
  ASSERT_TRUE(WritePart(path, rows, &info).ok());
  Result<PartReader> r = PartReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->info().app, "app_1");
  EXPECT_EQ(r->info().hour_ms, kHour);
  EXPECT_EQ(r->info().rows, 5000u);
  EXPECT_EQ(r->info().min_ts, want.front().ts_ms);
  EXPECT_EQ(r->info().max_ts, want.back().ts_ms);
  EXPECT_EQ(r->info().source_first, 17u);
  EXPECT_EQ(r->info().source_end, 42u);
  EXPECT_EQ(r->info().file_bytes, info.file_bytes);
  PartColumns cols;
  Status st = r->Read(kAllColumns, &cols);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ExpectRowsEqual(want, cols);
  // Nothing but the part in the directory: the temp file was renamed.
  Result<std::vector<std::string>> names = ListDir(dir_);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"p.vpart"});
}

// Rows of one millisecond are ordered by id: ids that share their first 8 bytes, are shorter
// than 8, hold zero or high bytes, or repeat (a resent event: the rows keep their order, told
// apart here by their fields).
TEST_F(PartFileTest, RowsOfOneTimeAreOrderedByIdAndRepeatsKeepTheirOrder) {
  const std::string ids[] = {"abcdefgh-2",
                             "abcdefgh-10",
                             "abcdefgh",
                             "abcdefg",
                             "abc",
                             std::string("abc\0", 4),
                             std::string("abc\0\0", 5),
                             "\xff\xfe",
                             "\x7f",
                             "",
                             "zz",
                             "abcdefgh-2",
                             "b",
                             "abcdefgi",
                             "\xc3\xa9v"};
  std::mt19937 rng(11);
  std::vector<ArchiveRow> rows = Rows(3000, 12);
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].ts_ms = kHour + 1000 * static_cast<int64_t>(rng() % 4);  // four runs of ~750 rows
    rows[i].id = ids[rng() % std::size(ids)];
    rows[i].fields = std::string("\x08\x00\x01", 3) + std::to_string(i);  // which row it was
  }
  auto r = WriteAndOpen(rows);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  PartColumns cols;
  ASSERT_TRUE(r->Read(kAllColumns, &cols).ok());
  ExpectRowsEqual(SortedByTimeThenId(rows), cols);
}

// A scan reads part after part into one PartColumns, which keeps its buffers: a smaller part
// after a larger one, and a projection after a full read, must read exactly as into a fresh one.
TEST_F(PartFileTest, ReadingIntoOneColumnsObjectAgainGivesEachPartExactly) {
  const std::vector<ArchiveRow> big = Rows(4000, 7), small = Rows(300, 8), mid = Rows(2500, 9);
  std::vector<std::string> paths;
  for (const std::vector<ArchiveRow>* rows : {&big, &small, &mid}) {
    PartInfo info;
    info.app = "a";
    info.hour_ms = kHour;
    paths.push_back(dir_ + "/p" + std::to_string(paths.size()) + ".vpart");
    ASSERT_TRUE(WritePart(paths.back(), *rows, &info).ok());
  }
  PartColumns reused;
  for (int i : {0, 1, 2, 0}) {
    Result<PartReader> r = PartReader::Open(paths[i]);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->Read(kAllColumns, &reused).ok());
    ExpectRowsEqual(SortedByTimeThenId(i == 0 ? big : i == 1 ? small : mid), reused);
    // The derived columns too: compared with a fresh read of the same part.
    PartColumns fresh;
    ASSERT_TRUE(r->Read(kAllColumns, &fresh).ok());
    for (size_t j = 0; j < fresh.rows(); ++j) {
      ASSERT_EQ(reused.str(kSubject, j), fresh.str(kSubject, j)) << j;
      ASSERT_EQ(reused.flags(j), fresh.flags(j)) << j;
      ASSERT_EQ(reused.bytes(j), fresh.bytes(j)) << j;
      ASSERT_EQ(reused.latency(j), fresh.latency(j)) << j;
    }
  }
  // A projection after a full read: the requested columns are the part's, the rest unasked.
  Result<PartReader> r = PartReader::Open(paths[1]);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->Read(ColumnBit(kTs) | ColumnBit(kUser), &reused).ok());
  const std::vector<ArchiveRow> want = SortedByTimeThenId(small);
  ASSERT_EQ(reused.rows(), want.size());
  EXPECT_TRUE(reused.has(kUser));
  EXPECT_FALSE(reused.has(kFields));
  for (size_t j = 0; j < want.size(); ++j) {
    ASSERT_EQ(reused.ts(j), want[j].ts_ms);
    ASSERT_EQ(reused.str(kUser, j), want[j].user);
  }
}

TEST_F(PartFileTest, RowsWithTheSameTimeAndIdKeepTheirOrder) {
  // Two deliveries of one event and an earlier event: the later delivery must stay later (the
  // batch layer keeps the last row of an id), and the input vector is left as it was.
  std::vector<ArchiveRow> rows(3);
  rows[0].id = "dup";
  rows[0].ts_ms = kHour + 5;
  rows[0].user = "first-delivery";
  rows[1].id = "early";
  rows[1].ts_ms = kHour + 1;
  rows[2].id = "dup";
  rows[2].ts_ms = kHour + 5;
  rows[2].user = "second-delivery";
  PartInfo info;
  info.app = "a";
  info.hour_ms = kHour;
  std::string path = dir_ + "/p.vpart";
  ASSERT_TRUE(WritePart(path, rows, &info).ok());
  EXPECT_EQ(rows[0].user, "first-delivery");
  Result<PartReader> r = PartReader::Open(path);
  ASSERT_TRUE(r.ok());
  PartColumns cols;
  ASSERT_TRUE(r->Read(kAllColumns, &cols).ok());
  ASSERT_EQ(cols.rows(), 3u);
  EXPECT_EQ(cols.str(kId, 0), "early");
  EXPECT_EQ(cols.str(kUser, 1), "first-delivery");
  EXPECT_EQ(cols.str(kUser, 2), "second-delivery");
  EXPECT_EQ(r->info().min_ts, kHour + 1);
  EXPECT_EQ(r->info().max_ts, kHour + 5);
}

TEST_F(PartFileTest, ManyTiesAndHourEdgesKeepAStableTimeThenIdOrder) {
  // Times drawn from a handful of values, both edges of the hour included, ids from a few
  // values: most rows tie on time, many on (time, id). The oracle is std::stable_sort.
  std::mt19937 rng(7);
  const int64_t times[] = {kHour, kHour + 1, kHour + 2047, kHour + 2048, kHour + 3599999};
  std::vector<ArchiveRow> rows(20000);
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].id = "id-" + std::to_string(rng() % 40);
    rows[i].ts_ms = times[rng() % 5];
    rows[i].user = "delivery-" + std::to_string(i);
    // Strings long enough that columns cross the writer's compression chunks many times.
    rows[i].fields = std::string(rng() % 400, static_cast<char>('a' + i % 26));
  }
  PartInfo info;
  info.app = "a";
  info.hour_ms = kHour;
  std::string path = dir_ + "/p.vpart";
  ASSERT_TRUE(WritePart(path, rows, &info).ok());
  ExpectPartHolds(path, rows);
  EXPECT_EQ(info.min_ts, kHour);
  EXPECT_EQ(info.max_ts, kHour + 3599999);
}

TEST_F(PartFileTest, PartsWrittenOneAfterAnotherOnAThreadAreEachExact) {
  // The writer reuses per-thread buffers and zstd contexts: a big part, then a tiny one, then
  // a big one again must each read back exactly (nothing of the previous part leaks in).
  const std::vector<ArchiveRow> sets[] = {Rows(30000, 11), Rows(1, 12), Rows(2, 13),
                                          Rows(30000, 14)};
  for (size_t k = 0; k < std::size(sets); ++k) {
    PartInfo info;
    info.app = "a";
    info.hour_ms = kHour;
    std::string path = dir_ + "/p" + std::to_string(k) + ".vpart";
    ASSERT_TRUE(WritePart(path, sets[k], &info).ok());
    ExpectPartHolds(path, sets[k]);
  }
}

TEST_F(PartFileTest, ReadsOnlyTheColumnsAsked) {
  std::vector<ArchiveRow> rows = Rows(100, 2);
  Result<PartReader> r = WriteAndOpen(rows);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  PartColumns cols;
  ASSERT_TRUE(r->Read(ColumnBit(kTs) | ColumnBit(kUser), &cols).ok());
  EXPECT_TRUE(cols.has(kTs));
  EXPECT_TRUE(cols.has(kUser));
  EXPECT_FALSE(cols.has(kFields));
  rows = SortedByTimeThenId(rows);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(cols.ts(i), rows[i].ts_ms);
    EXPECT_EQ(cols.str(kUser, i), rows[i].user);
  }
}

TEST_F(PartFileTest, ColumnsReadAsHashesGiveEachValuesXxh3) {
  std::vector<ArchiveRow> rows = Rows(300, 12);
  for (size_t i = 0; i < rows.size(); i += 7) rows[i].user.clear();  // anonymous: hash 0
  Result<PartReader> r = WriteAndOpen(rows);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  PartColumns cols;
  const ColumnMask mask = ColumnBit(kId) | ColumnBit(kUser) | ColumnBit(kTs) | ColumnBit(kOs);
  HashedColumns hashed;
  hashed.xxh3_64 = ColumnBit(kUser);
  hashed.xxh3_128 = ColumnBit(kId);
  ASSERT_TRUE(r->Read(mask, &cols, hashed).ok());
  rows = SortedByTimeThenId(rows);
  ASSERT_EQ(cols.rows(), rows.size());
  size_t anonymous = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const XXH128_hash_t id = XXH3_128bits(rows[i].id.data(), rows[i].id.size());
    EXPECT_EQ(cols.hash128(kId, i).low, id.low64) << i;
    EXPECT_EQ(cols.hash128(kId, i).high, id.high64) << i;
    const uint64_t user =
        rows[i].user.empty() ? 0 : XXH3_64bits(rows[i].user.data(), rows[i].user.size());
    EXPECT_EQ(cols.hash64(kUser, i), user) << i;
    anonymous += cols.hash64(kUser, i) == 0;
    EXPECT_EQ(cols.ts(i), rows[i].ts_ms);
    EXPECT_EQ(cols.str(kOs, i), rows[i].os);
  }
  EXPECT_EQ(anonymous, (rows.size() + 6) / 7);
  // The same object read again as values: every column is whole again.
  ASSERT_TRUE(r->Read(mask, &cols).ok());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(cols.str(kId, i), rows[i].id);
    EXPECT_EQ(cols.str(kUser, i), rows[i].user);
  }
  // Only id, user, fields and context can be read as hashes, with one hash each.
  HashedColumns dictionary;
  dictionary.xxh3_64 = ColumnBit(kOs);
  EXPECT_EQ(r->Read(mask, &cols, dictionary).code(), StatusCode::kInvalidArgument);
  HashedColumns fixed;
  fixed.xxh3_128 = ColumnBit(kTs);
  EXPECT_EQ(r->Read(mask, &cols, fixed).code(), StatusCode::kInvalidArgument);
  HashedColumns both;
  both.xxh3_64 = both.xxh3_128 = ColumnBit(kId);
  EXPECT_EQ(r->Read(mask, &cols, both).code(), StatusCode::kInvalidArgument);
}

TEST_F(PartFileTest, UsersAndContextsAreStoredOncePerDistinctValue) {
  // A batch's user and context are the same for each of its events: 3000 rows of 40 contexts
  // and 50 users (Rows draws them from 50), as a flush sees them.
  std::vector<ArchiveRow> rows = Rows(3000, 21);
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].context = "ctx-" + std::to_string(i % 40) + std::string(200, 'c');
  }
  std::set<std::string> users, contexts;
  for (const ArchiveRow& r : rows) {
    users.insert(r.user);
    contexts.insert(r.context);
  }
  Result<PartReader> r = WriteAndOpen(rows);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  PartColumns cols;
  ASSERT_TRUE(r->Read(kAllColumns, &cols).ok());
  rows = SortedByTimeThenId(rows);
  ExpectRowsEqual(rows, cols);
  EXPECT_EQ(cols.dictionary_size(kUser), users.size());
  EXPECT_EQ(cols.dictionary_size(kContext), 40u);
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(cols.dictionary(kContext, cols.code(kContext, i)), rows[i].context) << i;
  }
  // As hashes, each row gets its own value's hash, whichever way it is asked.
  HashedColumns hashed;
  hashed.xxh3_64 = ColumnBit(kUser);
  hashed.xxh3_128 = ColumnBit(kContext);
  PartColumns hashes;
  ASSERT_TRUE(r->Read(ColumnBit(kUser) | ColumnBit(kContext), &hashes, hashed).ok());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(hashes.hash64(kUser, i), XXH3_64bits(rows[i].user.data(), rows[i].user.size()));
    const XXH128_hash_t context = XXH3_128bits(rows[i].context.data(), rows[i].context.size());
    EXPECT_TRUE(hashes.hash128(kContext, i) == (Hash128{context.low64, context.high64})) << i;
  }
  // The contexts cost their distinct values, not 200 bytes a row: the whole part is smaller
  // than the contexts would be, stored a row each even before compression.
  EXPECT_LT(r->info().file_bytes, rows.size() * 200);
}

TEST_F(PartFileTest, RepetitiveColumnsCompress) {
  std::vector<ArchiveRow> rows = Rows(20000, 3);
  size_t raw = 0;
  for (const ArchiveRow& r : rows) {
    raw += r.id.size() + 8 + 1 + r.version.size() + r.os.size() + r.user.size() + r.fields.size() +
           r.context.size();
  }
  PartInfo info;
  info.app = "a";
  info.hour_ms = kHour;
  ASSERT_TRUE(WritePart(dir_ + "/p.vpart", rows, &info).ok());
  EXPECT_LT(info.file_bytes * 4, raw);
}

TEST_F(PartFileTest, ScanColumnsAreLz4AndBodiesZstdAtEveryLevel) {
  const std::vector<ArchiveRow> rows = Rows(3000, 7);
  PartColumns first;
  uint64_t fast_bytes = 0, hc_bytes = 0;
  for (const PartCompression compression : {PartCompression{3, 0}, PartCompression{1, 1},
                                            PartCompression{3, 6}, PartCompression{9, 12}}) {
    SCOPED_TRACE(compression.lz4_level);
    const std::string path = dir_ + "/p" + std::to_string(compression.lz4_level) + ".vpart";
    PartInfo info;
    info.app = "a";
    info.hour_ms = kHour;
    ASSERT_TRUE(WritePart(path, rows, &info, compression).ok());
    if (compression.lz4_level == 0) fast_bytes = info.file_bytes;
    if (compression.lz4_level == 6) hc_bytes = info.file_bytes;
    ExpectPartHolds(path, rows);
    Result<PartReader> r = PartReader::Open(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->version(), kPartVersion);
    for (uint32_t c = 0; c < kColumnCount; ++c) {
      const Column column = static_cast<Column>(c);
      const PartCodec want = column == kIdHash      ? PartCodec::kRaw
                             : IsScanColumn(column) ? PartCodec::kLz4
                                                    : PartCodec::kZstd;
      EXPECT_EQ(r->codec(column), want) << kColumnNames[c];
    }
    EXPECT_EQ(r->codec(kId), PartCodec::kZstd);  // ids are read as their id_hash
    // The derived columns too read the same whatever the level.
    PartColumns cols;
    ASSERT_TRUE(r->Read(kAllColumns, &cols).ok());
    if (compression.lz4_level == 0) {
      ASSERT_TRUE(r->Read(kAllColumns, &first).ok());
      continue;
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      ASSERT_EQ(cols.str(kSubject, i), first.str(kSubject, i)) << i;
      ASSERT_EQ(cols.flags(i), first.flags(i)) << i;
      ASSERT_EQ(cols.bytes(i), first.bytes(i)) << i;
    }
  }
  EXPECT_LT(hc_bytes, fast_bytes);
}

// A written part's column directory, as the footer has it, and where its bytes are in the file.
struct StoredColumn {
  std::string name;
  uint64_t offset = 0, compressed = 0;
  size_t hash_at = 0, codec_at = 0;  // file offsets of the column's checksum and codec byte
};
std::vector<StoredColumn> ColumnDirectory(const std::string& file) {
  constexpr size_t kTail = 20;
  const size_t footer_size = DecodeFixed32(file.data() + file.size() - kTail);
  const size_t footer_at = file.size() - kTail - footer_size;
  const char* p = file.data() + footer_at + 1;  // past the version
  const char* end = file.data() + file.size() - kTail;
  uint64_t u;
  int64_t z;
  std::string_view app;
  EXPECT_TRUE(GetVarint64(p, end, &u) && GetVarsint64(p, end, &z) && GetVarsint64(p, end, &z) &&
              GetLengthPrefixed(p, end, &app) && GetVarsint64(p, end, &z) &&
              GetVarint64(p, end, &u) && GetVarint64(p, end, &u));
  uint64_t n = 0;
  EXPECT_TRUE(GetVarint64(p, end, &n));
  std::vector<StoredColumn> columns(n);
  for (StoredColumn& c : columns) {
    std::string_view name;
    EXPECT_TRUE(GetLengthPrefixed(p, end, &name) && GetVarint64(p, end, &c.offset) &&
                GetVarint64(p, end, &c.compressed) && GetVarint64(p, end, &u));
    c.name = name;
    c.hash_at = static_cast<size_t>(p - file.data());
    c.codec_at = c.hash_at + 8;
    p += 9;
  }
  EXPECT_EQ(p, end);
  return columns;
}
// Sets the footer's checksum to match the footer (after a test changed it).
void ResealFooter(std::string* file) {
  constexpr size_t kTail = 20;
  const size_t footer_size = DecodeFixed32(file->data() + file->size() - kTail);
  const size_t footer_at = file->size() - kTail - footer_size;
  const uint64_t hash = XXH3_64bits(file->data() + footer_at, footer_size);
  std::memcpy(file->data() + file->size() - kTail + 4, &hash, 8);
}

TEST_F(PartFileTest, ADamagedLz4BlockOrUnknownCodecIsCorruptionEvenWithValidChecksums) {
  const std::string path = dir_ + "/p.vpart";
  PartInfo info;
  info.app = "a";
  info.hour_ms = kHour;
  ASSERT_TRUE(WritePart(path, Rows(500, 8), &info).ok());
  Result<std::string> written = ReadFile(path);
  ASSERT_TRUE(written.ok());
  const std::vector<StoredColumn> columns = ColumnDirectory(*written);
  ASSERT_EQ(columns.size(), size_t{kColumnCount});
  const std::string bad = dir_ + "/bad.vpart";
  // Bytes of each scan column's block changed in turn (every byte of the smaller blocks), with
  // checksums made to match: the LZ4 decoder and then the column's own decoder (lengths,
  // dictionary codes, sorted times, flagged values) meet the damage and must say so, never read
  // or write out of bounds.
  for (uint32_t c = 0; c < kColumnCount; ++c) {
    const StoredColumn& column = columns[c];
    ASSERT_EQ(column.name, kColumnNames[c]);
    if (!IsScanColumn(static_cast<Column>(c)) || c == kIdHash) continue;  // id_hash: below
    SCOPED_TRACE(column.name);
    ASSERT_EQ((*written)[column.codec_at], 1);  // LZ4
    size_t damaged = 0;
    const uint64_t step = std::max<uint64_t>(1, column.compressed / 300);
    for (uint64_t i = 0; i < column.compressed; i += step) {
      std::string bent = *written;
      char* block = bent.data() + column.offset;
      block[i] = static_cast<char>(block[i] ^ 0x5a);
      const uint64_t hash = XXH3_64bits(block, column.compressed);
      std::memcpy(bent.data() + column.hash_at, &hash, 8);
      ResealFooter(&bent);
      ASSERT_TRUE(WriteFile(bad, bent).ok());
      Result<PartReader> r = PartReader::Open(bad);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      PartColumns cols;
      Status st = r->Read(ColumnBit(static_cast<Column>(c)), &cols);
      if (c == kUser) {
        // Read as hashes, the column's damage is found exactly as when read as values.
        HashedColumns hashed;
        hashed.xxh3_64 = ColumnBit(kUser);
        Status hashed_st = r->Read(ColumnBit(static_cast<Column>(c)), &cols, hashed);
        ASSERT_EQ(hashed_st.ToString(), st.ToString());
      }
      if (!st.ok()) {
        ASSERT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
        ASSERT_NE(st.message().find("column " + column.name), std::string::npos) << st.ToString();
        ++damaged;
      }
    }
    // A byte of a literal run decodes to other bytes that may still be valid values: not every
    // change is detectable, but changes to the block's structure are.
    EXPECT_GT(damaged, 0u);
  }
  const StoredColumn& user = columns[kUser];

  std::string unknown = *written;
  unknown[user.codec_at] = 7;
  ResealFooter(&unknown);
  ASSERT_TRUE(WriteFile(bad, unknown).ok());
  Result<PartReader> r = PartReader::Open(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("unknown codec"), std::string::npos) << r.status().ToString();
}

TEST_F(PartFileTest, TheRawIdHashColumnIsCheckedByItsChecksumAndItsSizes) {
  const std::string path = dir_ + "/p.vpart";
  PartInfo info;
  info.app = "a";
  info.hour_ms = kHour;
  const std::vector<ArchiveRow> rows = Rows(500, 8);
  ASSERT_TRUE(WritePart(path, rows, &info).ok());
  Result<std::string> written = ReadFile(path);
  ASSERT_TRUE(written.ok());
  const std::vector<StoredColumn> columns = ColumnDirectory(*written);
  const StoredColumn& id_hash = columns[kIdHash];
  ASSERT_EQ(id_hash.name, "id_hash");
  ASSERT_EQ((*written)[id_hash.codec_at], 2);  // raw
  EXPECT_EQ(id_hash.compressed, 16u * rows.size());
  const std::string bad = dir_ + "/bad.vpart";
  auto read_id_hash = [&](const std::string& file, PartColumns* cols) -> Status {
    if (Status st = WriteFile(bad, file); !st.ok()) return st;
    Result<PartReader> r = PartReader::Open(bad);
    if (!r.ok()) return r.status();
    return r->Read(ColumnBit(kIdHash), cols);
  };
  PartColumns cols;
  // A changed byte: the column's checksum finds it.
  std::string bent = *written;
  bent[id_hash.offset + 37] ^= 0x40;
  Status st = read_id_hash(bent, &cols);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("column id_hash: checksum"), std::string::npos) << st.ToString();
  // With the checksum made to match, hashes have no structure left to check: the row reads
  // with another hash (a batch run would count it as another event).
  const uint64_t hash = XXH3_64bits(bent.data() + id_hash.offset, id_hash.compressed);
  std::memcpy(bent.data() + id_hash.hash_at, &hash, 8);
  ResealFooter(&bent);
  ASSERT_TRUE(read_id_hash(bent, &cols).ok());
  const std::vector<ArchiveRow> sorted = SortedByTimeThenId(rows);
  EXPECT_FALSE(cols.id_hash(2) == ExpectedIdHash(sorted[2].id));
  EXPECT_TRUE(cols.id_hash(3) == ExpectedIdHash(sorted[3].id));
  // Raw claimed for an LZ4 column: refused when the part is opened.
  std::string raw_user = *written;
  raw_user[columns[kUser].codec_at] = 2;
  ResealFooter(&raw_user);
  ASSERT_TRUE(WriteFile(bad, raw_user).ok());
  Result<PartReader> r = PartReader::Open(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("raw codec on column user"), std::string::npos)
      << r.status().ToString();
  // Raw claimed for a column of the same two sizes (type: one byte a row, which LZ4 did not
  // shrink here or not): raw is id_hash's only, so it is refused however the sizes agree.
  std::string raw_type = *written;
  raw_type[columns[kType].codec_at] = 2;
  ResealFooter(&raw_type);
  ASSERT_TRUE(WriteFile(bad, raw_type).ok());
  r = PartReader::Open(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("raw codec on column type"), std::string::npos)
      << r.status().ToString();
  // LZ4 claimed for the raw hashes: they do not decompress to their size.
  std::string lz4_hashes = *written;
  lz4_hashes[id_hash.codec_at] = 1;
  ResealFooter(&lz4_hashes);
  st = read_id_hash(lz4_hashes, &cols);
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
}

TEST_F(PartFileTest, RowsOutsideThePartsHourAreRefused) {
  std::vector<ArchiveRow> rows = Rows(10, 4);
  rows[3].ts_ms = kHour + 3600000;
  PartInfo info;
  info.app = "a";
  info.hour_ms = kHour;
  EXPECT_EQ(WritePart(dir_ + "/p.vpart", rows, &info).code(), StatusCode::kInvalidArgument);
  std::vector<ArchiveRow> none;
  EXPECT_EQ(WritePart(dir_ + "/q.vpart", none, &info).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(FileExists(dir_ + "/p.vpart"));
}

Status OpenAndReadAll(const std::string& path) {
  Result<PartReader> r = PartReader::Open(path);
  if (!r.ok()) return r.status();
  PartColumns cols;
  return r->Read(kAllColumns, &cols);
}

TEST_F(PartFileTest, EveryTruncationAndFlippedByteIsAnError) {
  std::vector<ArchiveRow> rows = Rows(40, 5);
  PartInfo info;
  info.app = "a";
  info.hour_ms = kHour;
  std::string path = dir_ + "/p.vpart";
  ASSERT_TRUE(WritePart(path, rows, &info).ok());
  Result<std::string> bytes = ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  std::string bad = dir_ + "/bad.vpart";
  for (size_t len = 0; len < bytes->size(); ++len) {
    ASSERT_TRUE(WriteFile(bad, std::string_view(*bytes).substr(0, len)).ok());
    Status st = OpenAndReadAll(bad);
    ASSERT_FALSE(st.ok()) << "truncated to " << len;
  }
  for (size_t i = 0; i < bytes->size(); ++i) {
    std::string bent = *bytes;
    bent[i] = static_cast<char>(bent[i] ^ 0x20);
    ASSERT_TRUE(WriteFile(bad, bent).ok());
    Status st = OpenAndReadAll(bad);
    ASSERT_FALSE(st.ok()) << "byte " << i << " flipped";
    ASSERT_TRUE(st.code() == StatusCode::kCorruption || st.code() == StatusCode::kUnsupported)
        << st.ToString();
  }
  EXPECT_EQ(OpenAndReadAll(dir_ + "/missing.vpart").code(), StatusCode::kIoError);
}

}  // namespace
}  // namespace vigil::archive
