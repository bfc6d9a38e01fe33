// Derived columns: a part carries each row's aggregation facts (subject, error, bytes, latency),
// and parts of every earlier version — checked in as fixtures — read
// with the same columns and the same values, derived on read.
#include "archive/derived_columns.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <xxhash.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <iterator>

#include "archive/part_file.h"
#include "common/binary_value.h"
#include "common/file_util.h"
#include "common/temp_dir.h"

namespace vigil::archive {
namespace {

constexpr int64_t kHour = 1767225600000;  // 2026-01-01T00:00:00Z, the fixture's hour
const std::string kV1Part = std::string(VIGIL_FIXTURES_DIR) + "/archive/part_v1.vpart";
// The same rows as written by version 2 (every row's bytes, 8-byte latencies, no flag 4).
const std::string kV2Part = std::string(VIGIL_FIXTURES_DIR) + "/archive/part_v2.vpart";
// The same rows as written by version 3 (every column zstd, no codec byte).
const std::string kV3Part = std::string(VIGIL_FIXTURES_DIR) + "/archive/part_v3.vpart";
// The same rows as written by version 4 (LZ4 scan columns, ids among them; no id_hash).
const std::string kV4Part = std::string(VIGIL_FIXTURES_DIR) + "/archive/part_v4.vpart";

// The same rows as written by version 5 (user and context a value per row).
const std::string kV5Part = std::string(VIGIL_FIXTURES_DIR) + "/archive/part_v5.vpart";

// The rows of tests/data/archive/part_v1.vpart: one of each event type, with the fields
// aggregation reads, an anonymous user and an empty version and OS.
std::vector<ArchiveRow> CompatRows(int64_t hour_ms) {
  auto obj = [](const std::function<void(BinaryValueWriter&)>& body) {
    std::string out;
    BinaryValueWriter w(&out);
    w.BeginObject();
    body(w);
    w.EndObject();
    return out;
  };
  auto network = [&](std::string_view method, std::string_view url, int64_t status, double duration,
                     int64_t sent, int64_t received) {
    return obj([&](BinaryValueWriter& w) {
      w.Key("network");
      w.BeginObject();
      w.Key("method");
      w.String(method);
      w.Key("url");
      w.String(url);
      w.Key("status");
      w.Int(status);
      w.Key("duration_ms");
      w.Double(duration);
      w.Key("bytes_sent");
      w.Int(sent);
      w.Key("bytes_received");
      w.Int(received);
      w.EndObject();
    });
  };
  std::vector<ArchiveRow> rows(8);
  auto row = [&](size_t i, std::string id, int64_t at, EventType type, std::string version,
                 std::string os, std::string user, std::string fields) {
    rows[i].id = std::move(id);
    rows[i].ts_ms = hour_ms + at;
    rows[i].type = type;
    rows[i].version = std::move(version);
    rows[i].os = std::move(os);
    rows[i].user = std::move(user);
    rows[i].fields = std::move(fields);
    rows[i].context = obj([](BinaryValueWriter& w) {
      w.Key("batch_id");
      w.String("b-1");
    });
  };
  row(0, "e1", 1000, EventType::kSessionStart, "1.0", "android 14", "u1",
      obj([](BinaryValueWriter&) {}));
  row(1, "e2", 2000, EventType::kNetwork, "1.0", "", "u2",
      network("GET", "https://api.example.com/v1/users/123/feed?x=1", 200, 123.5, 10, 300));
  row(2, "e3", 3000, EventType::kNetwork, "1.1", "ios 17", "u1",
      network("POST", "/v1/orders/9f8e7d6c5b4a39281706f5e4d3c2b1a0", 503, 20, 0, 0));
  row(3, "e4", 4000, EventType::kCrash, "1.1", "ios 17", "u3", obj([](BinaryValueWriter& w) {
        w.Key("error");
        w.BeginObject();
        w.Key("type");
        w.String("SIGSEGV");
        w.Key("threads");
        w.BeginArray();
        w.BeginObject();
        w.Key("crashed");
        w.Bool(true);
        w.Key("frames");
        w.BeginArray();
        w.BeginObject();
        w.Key("function");
        w.String("render_frame");
        w.EndObject();
        w.EndArray();
        w.EndObject();
        w.EndArray();
        w.EndObject();
      }));
  row(4, "e5", 5000, EventType::kHandledException, "", "", "u2", obj([](BinaryValueWriter& w) {
        w.Key("processed");
        w.BeginObject();
        w.Key("group_id");
        w.String("grp-1");
        w.EndObject();
      }));
  row(5, "e6", 6000, EventType::kUserFlow, "1.0", "android 14", "", obj([](BinaryValueWriter& w) {
        w.Key("flow");
        w.BeginObject();
        w.Key("name");
        w.String("checkout");
        w.Key("outcome");
        w.String("failed");
        w.Key("duration_ms");
        w.Int(5000);
        w.EndObject();
      }));
  row(6, "e7", 7000, EventType::kUserFlow, "1.0", "android 14", "u4", obj([](BinaryValueWriter& w) {
        w.Key("flow");
        w.BeginObject();
        w.Key("name");
        w.String("login");
        w.Key("outcome");
        w.String("success");
        w.EndObject();
      }));
  row(7, "e8", 7000, EventType::kCustom, "1.0", "android 14", "u4", obj([](BinaryValueWriter& w) {
        w.Key("name");
        w.String("tap");
      }));
  return rows;
}

// What each CompatRows row must derive, worked out by hand from docs/aggregation.md.
struct Expected {
  std::string_view subject;
  uint8_t flags;
  uint64_t bytes;
  double latency;
};
const Expected kExpected[8] = {
    {"", 0, 0, 0},  // session start
    {"GET api.example.com/v1/users/{id}/feed", kFlagHasLatency | kFlagHasBytes, 310,
     123.5},                                                        // query dropped
    {"POST /v1/orders/{id}", kFlagError | kFlagHasLatency, 0, 20},  // 503, a hash
    {"", 0, 0, 0},  // crash: subject checked apart (a hash of type and frames)
    {"grp-1", 0, 0, 0},
    {"checkout\x1f"
     "failed",
     kFlagError | kFlagHasLatency, 0, 5000},
    {"login\x1f"
     "success",
     0, 0, 0},  // no duration: no latency
    {"tap", 0, 0, 0},
};

void ExpectRows(const PartColumns& cols, const std::vector<ArchiveRow>& rows) {
  ASSERT_EQ(cols.rows(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(cols.str(kId, i), rows[i].id);
    const XXH128_hash_t h = XXH3_128bits(rows[i].id.data(), rows[i].id.size());
    EXPECT_TRUE(cols.id_hash(i) == (Hash128{h.low64, h.high64})) << i;
    EXPECT_EQ(cols.ts(i), rows[i].ts_ms);
    EXPECT_EQ(cols.type(i), rows[i].type);
    EXPECT_EQ(cols.str(kVersion, i), rows[i].version);
    EXPECT_EQ(cols.str(kOs, i), rows[i].os);
    EXPECT_EQ(cols.str(kUser, i), rows[i].user);
    EXPECT_EQ(cols.str(kFields, i), rows[i].fields);
    EXPECT_EQ(cols.str(kContext, i), rows[i].context);
  }
}

void ExpectDerived(const PartColumns& cols) {
  ASSERT_EQ(cols.rows(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    const Expected& want = kExpected[i];
    if (i == 3) {
      EXPECT_EQ(cols.str(kSubject, i).substr(0, 4), "raw-");
      EXPECT_EQ(cols.str(kSubject, i).size(), 20u);
    } else {
      EXPECT_EQ(cols.str(kSubject, i), want.subject) << i;
    }
    EXPECT_EQ(cols.flags(i), want.flags) << i;
    EXPECT_EQ(cols.bytes(i), want.bytes) << i;
    if (want.flags & kFlagHasLatency) {
      EXPECT_EQ(cols.latency(i), want.latency) << i;
    }
  }
}

class DerivedColumnsTest : public ::testing::Test {
 protected:
  // `rows` written now, as a part of `app` in kHour, opened again.
  Result<PartReader> WriteAndOpen(const std::string& name, const std::vector<ArchiveRow>& rows,
                                  const std::string& app) {
    PartInfo info;
    info.app = app;
    info.hour_ms = kHour;
    Status st = WritePart(dir_ + "/" + name, rows, &info);
    if (!st.ok()) return st;
    return PartReader::Open(dir_ + "/" + name);
  }

  TempDir temp_dir_;
  std::string dir_ = temp_dir_.path();
};

TEST_F(DerivedColumnsTest, WrittenPartsCarryEachRowsFacts) {
  Result<PartReader> r = WriteAndOpen("p.vpart", CompatRows(kHour), "app-compat");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version(), kPartVersion);
  PartColumns cols;
  ASSERT_TRUE(r->Read(kAllColumns, &cols).ok());
  ExpectDerived(cols);
  // Dictionary columns hold each distinct value once; rows point at theirs.
  EXPECT_EQ(cols.dictionary_size(kVersion), 3u);  // "1.0", "1.1", ""
  EXPECT_EQ(cols.dictionary_size(kOs), 3u);       // "android 14", "", "ios 17"
  EXPECT_EQ(cols.code(kVersion, 0), cols.code(kVersion, 1));
  EXPECT_EQ(cols.dictionary(kVersion, cols.code(kVersion, 4)), "");
  EXPECT_EQ(cols.dictionary_size(kSubject), 8u);  // "" (the session start) and seven others
}

TEST_F(DerivedColumnsTest, VersionOnePartsReadWithTheSameColumnsAndValues) {
  Result<PartReader> r = PartReader::Open(kV1Part);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version(), 1);
  EXPECT_EQ(r->info().app, "app-compat");
  EXPECT_EQ(r->info().source_first, 5u);
  EXPECT_EQ(r->info().source_end, 9u);
  PartColumns cols;
  ASSERT_TRUE(r->Read(kAllColumns, &cols).ok());
  const std::vector<ArchiveRow> rows = CompatRows(kHour);  // already in (ts, id) order
  ExpectRows(cols, rows);
  ExpectDerived(cols);
  EXPECT_EQ(cols.dictionary_size(kVersion), 3u);
  EXPECT_EQ(cols.dictionary(kVersion, cols.code(kVersion, 2)), "1.1");

  // The same rows written now derive the very same values, crash group included.
  Result<PartReader> written = WriteAndOpen("now.vpart", rows, "app-compat");
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  PartColumns now;
  ASSERT_TRUE(written->Read(ColumnBit(kSubject) | ColumnBit(kFlags), &now).ok());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(now.str(kSubject, i), cols.str(kSubject, i)) << i;
    EXPECT_EQ(now.flags(i), cols.flags(i)) << i;
  }

  // Only derived columns asked of a version 1 part: they are there, nothing else is needed.
  PartColumns only;
  ASSERT_TRUE(r->Read(ColumnBit(kBytes) | ColumnBit(kLatency), &only).ok());
  EXPECT_EQ(only.bytes(1), 310u);
  EXPECT_EQ(only.latency(5), 5000);
}

TEST_F(DerivedColumnsTest, VersionTwoPartsReadWithTheSameColumnsAndValues) {
  Result<PartReader> r = PartReader::Open(kV2Part);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version(), 2);
  PartColumns cols;
  ASSERT_TRUE(r->Read(kAllColumns, &cols).ok());
  ExpectRows(cols, CompatRows(kHour));
  ExpectDerived(cols);  // flag 4 included, set from the stored bytes
  // Each derived column alone, as a batch scan asks for them.
  PartColumns flags, bytes, latency;
  ASSERT_TRUE(r->Read(ColumnBit(kFlags), &flags).ok());
  ASSERT_TRUE(r->Read(ColumnBit(kBytes), &bytes).ok());
  ASSERT_TRUE(r->Read(ColumnBit(kLatency), &latency).ok());
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(flags.flags(i), kExpected[i].flags) << i;
    EXPECT_EQ(bytes.bytes(i), kExpected[i].bytes) << i;
    if (kExpected[i].flags & kFlagHasLatency) {
      EXPECT_EQ(latency.latency(i), kExpected[i].latency) << i;
    }
  }
}

TEST_F(DerivedColumnsTest, VersionThreePartsReadWithTheSameColumnsAndValues) {
  Result<PartReader> r = PartReader::Open(kV3Part);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version(), 3);
  EXPECT_EQ(r->info().source_first, 5u);
  EXPECT_EQ(r->info().source_end, 9u);
  for (uint32_t c = 0; c < kColumnCount; ++c) {
    EXPECT_EQ(r->codec(static_cast<Column>(c)), PartCodec::kZstd) << kColumnNames[c];
  }
  PartColumns cols;
  ASSERT_TRUE(r->Read(kAllColumns, &cols).ok());
  ExpectRows(cols, CompatRows(kHour));
  ExpectDerived(cols);
  // The columns a batch scan asks for, alone.
  PartColumns scan;
  ASSERT_TRUE(r->Read(ColumnBit(kUser) | ColumnBit(kBytes) | ColumnBit(kLatency), &scan).ok());
  EXPECT_EQ(scan.str(kUser, 2), "u1");
  EXPECT_EQ(scan.bytes(1), 310u);
  EXPECT_EQ(scan.latency(5), 5000);
}

TEST_F(DerivedColumnsTest, VersionFourPartsHashTheirIdsIntoIdHashHoweverTheIdsAreAskedFor) {
  Result<PartReader> r = PartReader::Open(kV4Part);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version(), 4);
  EXPECT_EQ(r->codec(kId), PartCodec::kLz4);
  PartColumns cols;
  ASSERT_TRUE(r->Read(kAllColumns, &cols).ok());
  const std::vector<ArchiveRow> rows = CompatRows(kHour);
  ExpectRows(cols, rows);  // id_hash included, hashed from the ids
  ExpectDerived(cols);
  // id_hash alone, as a batch scan asks for it; with the ids as hashes too; with the ids as
  // values: the same hashes each time, and the ids as asked.
  PartColumns alone, as_hashes, as_values;
  ASSERT_TRUE(r->Read(ColumnBit(kIdHash) | ColumnBit(kTs), &alone).ok());
  HashedColumns hashed;
  hashed.xxh3_128 = ColumnBit(kId);
  ASSERT_TRUE(r->Read(ColumnBit(kIdHash) | ColumnBit(kId), &as_hashes, hashed).ok());
  ASSERT_TRUE(r->Read(ColumnBit(kIdHash) | ColumnBit(kId), &as_values).ok());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_TRUE(alone.id_hash(i) == cols.id_hash(i)) << i;
    EXPECT_EQ(alone.ts(i), rows[i].ts_ms) << i;
    EXPECT_TRUE(as_hashes.id_hash(i) == cols.id_hash(i)) << i;
    EXPECT_TRUE(as_hashes.hash128(kId, i) == cols.id_hash(i)) << i;
    EXPECT_TRUE(as_values.id_hash(i) == cols.id_hash(i)) << i;
    EXPECT_EQ(as_values.str(kId, i), rows[i].id) << i;
  }
  // Ids as 64-bit hashes with id_hash: both hashed from the ids (and a version 1 part too).
  HashedColumns hashed64;
  hashed64.xxh3_64 = ColumnBit(kId);
  for (const std::string& path : {kV4Part, kV1Part}) {
    Result<PartReader> old = PartReader::Open(path);
    ASSERT_TRUE(old.ok()) << old.status().ToString();
    PartColumns both;
    ASSERT_TRUE(old->Read(ColumnBit(kIdHash) | ColumnBit(kId), &both, hashed64).ok()) << path;
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_TRUE(both.id_hash(i) == cols.id_hash(i)) << path << i;
      EXPECT_EQ(both.hash64(kId, i), XXH3_64bits(rows[i].id.data(), rows[i].id.size())) << i;
    }
    // Bodies as hashes with id_hash: no derived column read, so version 1 allows it too.
    HashedColumns fields;
    fields.xxh3_64 = ColumnBit(kFields);
    PartColumns bodies;
    EXPECT_TRUE(old->Read(ColumnBit(kIdHash) | ColumnBit(kFields), &bodies, fields).ok()) << path;
  }
  // Written now, the same rows store the very same hashes.
  Result<PartReader> now = WriteAndOpen("now.vpart", rows, "app-compat");
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  EXPECT_EQ(now->codec(kIdHash), PartCodec::kRaw);
  PartColumns stored;
  ASSERT_TRUE(now->Read(ColumnBit(kIdHash), &stored).ok());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_TRUE(stored.id_hash(i) == cols.id_hash(i)) << i;
  }
}

TEST_F(DerivedColumnsTest, VersionFivePartsReadUsersAndContextsAsOneEntryPerRow) {
  Result<PartReader> r = PartReader::Open(kV5Part);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version(), 5);
  EXPECT_EQ(r->info().source_first, 5u);
  EXPECT_EQ(r->info().source_end, 9u);
  const std::vector<ArchiveRow> rows = CompatRows(kHour);
  PartColumns cols;
  ASSERT_TRUE(r->Read(kAllColumns, &cols).ok());
  ExpectRows(cols, rows);
  ExpectDerived(cols);
  // Stored a value per row: a dictionary of one entry per row, repeats included.
  EXPECT_EQ(cols.dictionary_size(kUser), rows.size());
  EXPECT_EQ(cols.dictionary_size(kContext), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(cols.code(kUser, i), i);
    EXPECT_EQ(cols.dictionary(kUser, cols.code(kUser, i)), rows[i].user);
  }
  // Users as hashes, as a batch scan reads them, from this part and from the same rows written
  // now (a dictionary of the four users and the anonymous one).
  Result<PartReader> now = WriteAndOpen("now.vpart", rows, "app-compat");
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  EXPECT_EQ(now->version(), kPartVersion);
  PartColumns now_cols;
  ASSERT_TRUE(now->Read(kAllColumns, &now_cols).ok());
  ExpectRows(now_cols, rows);
  EXPECT_EQ(now_cols.dictionary_size(kUser), 5u);
  EXPECT_EQ(now_cols.dictionary_size(kContext), 1u);
  HashedColumns hashed;
  hashed.xxh3_64 = ColumnBit(kUser);
  for (PartReader* part : {&*r, &*now}) {
    PartColumns users;
    ASSERT_TRUE(part->Read(ColumnBit(kUser) | ColumnBit(kTs), &users, hashed).ok());
    for (size_t i = 0; i < rows.size(); ++i) {
      const uint64_t want =
          rows[i].user.empty() ? 0 : XXH3_64bits(rows[i].user.data(), rows[i].user.size());
      EXPECT_EQ(users.hash64(kUser, i), want) << int{part->version()} << " row " << i;
    }
  }
}

TEST_F(DerivedColumnsTest, LatenciesAndBytesReadBackBitForBitForFlaggedRowsOnly) {
  // Whole, fractional and odd durations, and network calls with and without bytes.
  const double durations[] = {0,      1,          123.5, 127, 128,      -5,    -0.0,
                              0x1p52, 0x1p52 - 1, 1e300, NAN, 0.000001, 16383, 4294967296.0};
  std::vector<ArchiveRow> rows;
  for (size_t i = 0; i < std::size(durations); ++i) {
    ArchiveRow r;
    r.id = "n" + std::to_string(100 + i);
    r.ts_ms = kHour + static_cast<int64_t>(i);
    r.type = i % 4 == 3 ? EventType::kSessionStart : EventType::kNetwork;
    BinaryValueWriter w(&r.fields);
    w.BeginObject();
    if (r.type == EventType::kNetwork) {
      w.Key("network");
      w.BeginObject();
      w.Key("method");
      w.String("GET");
      w.Key("url");
      w.String("/a");
      w.Key("status");
      w.Int(200);
      w.Key("duration_ms");
      w.Double(durations[i]);
      w.Key("bytes_received");
      w.Int(i % 2 ? 0 : static_cast<int64_t>(i * 1000));
      w.EndObject();
    }
    w.EndObject();
    rows.push_back(std::move(r));
  }
  Result<PartReader> r = WriteAndOpen("lat.vpart", rows, "app");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Latencies without flags asked for, and bytes: the reader fetches the flags it needs.
  PartColumns lat, bytes;
  ASSERT_TRUE(r->Read(ColumnBit(kLatency), &lat).ok());
  ASSERT_TRUE(r->Read(ColumnBit(kBytes) | ColumnBit(kFlags), &bytes).ok());
  ASSERT_EQ(lat.rows(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const bool network = rows[i].type == EventType::kNetwork;
    const double want = network ? durations[i] : 0;
    uint64_t got_bits, want_bits;
    const double got = lat.latency(i);
    std::memcpy(&got_bits, &got, 8);
    std::memcpy(&want_bits, &want, 8);
    EXPECT_EQ(got_bits, want_bits) << i << ": " << got << " vs " << want;
    const uint64_t want_bytes = network && i % 2 == 0 ? i * 1000 : 0;
    EXPECT_EQ(bytes.bytes(i), want_bytes) << i;
    EXPECT_EQ((bytes.flags(i) & kFlagHasBytes) != 0, want_bytes != 0) << i;
    EXPECT_EQ((bytes.flags(i) & kFlagHasLatency) != 0, network) << i;
  }
}

}  // namespace
}  // namespace vigil::archive
