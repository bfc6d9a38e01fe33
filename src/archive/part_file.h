// Archive part files: the immutable, compressed, columnar files the archive keeps events in.
//
// One part holds events of one app whose occurred time falls in one UTC hour, sorted by
// (time, id). Each column is compressed on its own, so a scan that needs only times, types and
// users does not decompress the event bodies. Layout (docs/archive_format.md):
//
//   "VIGILPRT"                                8-byte head magic
//   column chunks                             compressed, in kColumns order
//   footer                                    see below
//   u32 footer size | u64 XXH3 of footer | "VIGILPRT"   20-byte tail
//
//   footer := u8 version(6) varint rows zigzag min_ts zigzag max_ts
//             lp app zigzag hour_ms varint source_first varint source_end
//             varint ncolumns (lp name varint offset varint compressed varint raw u64 XXH3
//             u8 codec)*
//
// A column's codec is 0 (a zstd frame), 1 (an LZ4 block) or 2 (raw: stored as is, version 5,
// for `id_hash`, which is incompressible and is read straight into its values). The columns a batch
// scan reads (every column but `id`, `fields` and `context`, see IsScanColumn; `id_hash` aside) are
// LZ4: it decompresses three to four times faster than zstd, and the batch layer reads those
// columns of every part of 30 days on each run, while it never reads the ids or the event bodies,
// which zstd keeps small. (ClickHouse makes the same choice for its column files.) An LZ4 column
// over LZ4's input limit is zstd.
//
// Column encodings before compression: `ts` zigzag varint deltas; `type` one byte per row;
// `id` and `fields` varint length then bytes, per row; `version`, `os`, `user`, `context` and
// `subject` are dictionaries (varint n, n length-prefixed distinct values, then one varint code
// per row). `user` and `context` are the batch's, the same for its twenty-odd events: stored per
// row (before version 6) they were most of a flush's bytes to copy and compress, ~300 B a row.
// `fields` is the event's binary-value object (docs/log_format.md); `context` is a binary-value
// object {batch_id, received_ms, skew_ms, device, app, user, extra} with the batch's context as
// ingest stored it, so a part alone can rebuild the raw event.
//
// The derived columns hold what the batch layer needs of an event body, computed once when the
// part is written (derived_columns.h, aggregate::FactsOf): `subject`, `flags` (a byte: 1 error,
// 2 has latency, 4 has bytes), `bytes` (varint, only for rows flagged with bytes) and `latency`
// (only for rows flagged with one: a whole number of ms in [0, 2^52) as varint(ms << 1), any
// other double as varint(1) and its 8 bytes). A batch scan reads those instead of the event
// bodies, which are most of a part's bytes and of the work of reading it. `id_hash` (version 5)
// is each row's id as XXH3-128, 16 bytes (low then high 64 bits, little-endian): the batch layer
// drops repeated ids by their hash, and reading 16 stored bytes per row cost it a tenth of a run
// less than decompressing, parsing and hashing every id (measured over the bench archive). It
// costs 16 incompressible bytes of disk per row, fewer net: ids no longer scanned are zstd.
// Older versions read with the same columns and values, whichever version wrote the part
// (versions 1 to 5 stored `user` and `context` per row: they read as dictionaries of one entry
// per row, codes = row index):
// version 1 parts (before derived columns) have only the first eight columns, and Read() derives
// the others from them; versions 1 to 4 have no `id_hash`, which Read() hashes from `id`; version 2
// stored `bytes` for every row and `latency` as every row's 8-byte double, without flag 4, which
// Read() sets from the bytes; versions 1 to 3 have no codec byte: every column is zstd.
//
// [source_first, source_end) is the range of log offsets the part's rows came from (both 0 for
// parts that compaction wrote): the archiver resumes after the highest source_end it finds, so
// a crash between writing a part and committing the log offset does not archive rows twice.
//
// Writing is atomic (temp file, fsync, rename, fsync directory). Reading checks the tail, the
// footer checksum, every column's bounds and checksum and sizes before use: a damaged part is
// reported as Corruption, never read out of bounds.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/event_type.h"
#include "common/hash.h"
#include "common/status.h"

namespace vigil::archive {

inline constexpr uint8_t kPartVersion = 6;  // what WritePart writes; Read also reads 1 to 5
inline constexpr uint64_t kMaxPartColumnBytes = 1ull << 31;  // raw bytes of one column
inline constexpr uint32_t kMaxPartFooterBytes = 1u << 20;

enum Column : uint32_t {
  kId = 0,
  kTs,
  kType,
  kVersion,
  kOs,
  kUser,
  kFields,
  kContext,
  kSubject,  // derived columns from here on (version 2)
  kFlags,
  kBytes,
  kLatency,
  kIdHash,  // version 5
  kColumnCount,
};
inline constexpr uint32_t kV1ColumnCount = kSubject;
inline constexpr uint32_t kV4ColumnCount = kIdHash;  // versions 2 to 4
inline constexpr const char* kColumnNames[kColumnCount] = {
    "id",      "ts",      "type",  "version", "os",      "user",   "fields",
    "context", "subject", "flags", "bytes",   "latency", "id_hash"};
using ColumnMask = uint32_t;
inline constexpr ColumnMask kAllColumns = (1u << kColumnCount) - 1;
// The columns an ArchiveRow is made of (the others are derived from them).
inline constexpr ColumnMask kRowColumns = (1u << kV1ColumnCount) - 1;
inline constexpr ColumnMask ColumnBit(Column c) { return 1u << c; }

// The columns a batch scan reads (every column but the ids and the event bodies): they are
// LZ4-compressed, but id_hash, which is raw (CodecOf).
inline constexpr bool IsScanColumn(Column c) { return c != kId && c != kFields && c != kContext; }

// How a column is compressed (the footer's codec byte).
enum class PartCodec : uint8_t { kZstd = 0, kLz4 = 1, kRaw = 2 };
// The codec WritePart gives a column (an LZ4 column over LZ4's input limit becomes zstd).
inline constexpr PartCodec CodecOf(Column c) {
  return c == kIdHash ? PartCodec::kRaw : IsScanColumn(c) ? PartCodec::kLz4 : PartCodec::kZstd;
}

// How hard WritePart compresses. Scan columns (id_hash aside) are LZ4: `lz4_level` 0 is LZ4's fast
// mode (about as fast to write as zstd's level 1 is, but larger), 1 to 12 LZ4HC's levels (slower to
// write, smaller: level 6 by a fifth; they read as fast). The event bodies are zstd at
// `zstd_level`. The archiver flushes with the fast mode and compaction, which writes each hour's
// final part once, with LZ4HC (archiver.h).
struct PartCompression {
  int zstd_level = 3;
  int lz4_level = 0;
};

// The batch context the events of one log record share: views into bytes the caller keeps.
struct ArchiveBatchContext {
  std::string_view version;  // app version
  std::string_view os;       // device OS version
  std::string_view user;     // user id, else device id
  std::string_view context;  // binary-value object (see above)
};

// One archived event as views, the writer's input: the archiver's rows point into the log
// records it buffers, compaction's into the columns it read, so that no event is copied on its
// way into a part. `batch` is shared by the rows of one record.
struct ArchiveRowView {
  std::string_view id;
  std::string_view fields;  // binary-value object
  int64_t ts_ms = 0;
  EventType type = EventType::kCustom;
  const ArchiveBatchContext* batch = nullptr;
};

// One archived event, owning its bytes (tests and tools; WritePart takes these too).
struct ArchiveRow {
  std::string id;
  int64_t ts_ms = 0;
  EventType type = EventType::kCustom;
  std::string version;
  std::string os;
  std::string user;
  std::string fields;   // binary-value object
  std::string context;  // binary-value object
};

struct PartInfo {
  std::string app;
  int64_t hour_ms = 0;
  uint64_t rows = 0;
  int64_t min_ts = 0;
  int64_t max_ts = 0;
  uint64_t source_first = 0;
  uint64_t source_end = 0;
  uint64_t file_bytes = 0;
};

// Writes `rows`, ordered by (ts, id), as one part at `path` atomically (`rows` is not changed;
// the bytes they view must stay alive until it returns). `info` gives the app, hour and source
// range (rows, min/max and size are filled in). Every row's time must lie in
// [hour_ms, hour_ms + 1 h). `compression` trades write CPU for size.
Status WritePart(const std::string& path, std::span<const ArchiveRowView> rows, PartInfo* info,
                 const PartCompression& compression = {});
// The same, of owning rows.
Status WritePart(const std::string& path, const std::vector<ArchiveRow>& rows, PartInfo* info,
                 const PartCompression& compression = {});

// The columns `version`, `os`, `user`, `context` and `subject` read as dictionaries (code(),
// dictionary()). A part of version 5 or older stored `user` and `context` a value per row: they
// read with one entry per row (the row's index as its code), entries that may repeat.
inline constexpr bool IsDictionaryColumn(Column c) {
  return c == kVersion || c == kOs || c == kUser || c == kContext || c == kSubject;
}

// Flags of the `flags` column.
inline constexpr uint8_t kFlagError = 1;
inline constexpr uint8_t kFlagHasLatency = 2;
inline constexpr uint8_t kFlagHasBytes = 4;  // bytes != 0

// The columns of a part a scan asked for, decoded. Reading an unrequested column is undefined
// (it may hold an earlier read's values: Read() reuses the buffers), and so is str() of a column
// read as hashes, or hash64/hash128 of one read as values.
class PartColumns {
 public:
  size_t rows() const { return rows_; }
  int64_t ts(size_t i) const { return ts_[i]; }
  EventType type(size_t i) const { return static_cast<EventType>(types_[i]); }
  // A string column's value (any column but ts, type and the fixed-width derived ones).
  std::string_view str(Column c, size_t i) const {
    const StringColumn& s = strings_[c];
    const StringColumn::Value& v = s.values[IsDictionaryColumn(c) ? s.codes[i] : i];
    return std::string_view(s.data.data() + v.offset, v.size);
  }
  // Dictionary columns: the row's code, and the distinct values codes index.
  uint32_t code(Column c, size_t i) const { return strings_[c].codes[i]; }
  size_t dictionary_size(Column c) const { return strings_[c].values.size(); }
  std::string_view dictionary(Column c, uint32_t code) const {
    const StringColumn::Value& v = strings_[c].values[code];
    return std::string_view(strings_[c].data.data() + v.offset, v.size);
  }
  // Columns read as hashes (PartReader::Read's `hashes`): the row value's XXH3, seed 0.
  // hash64 is 0 for an empty value (a value whose XXH3-64 is 0, odds 2^-64, reads as empty).
  uint64_t hash64(Column c, size_t i) const { return strings_[c].hash64[i]; }
  Hash128 hash128(Column c, size_t i) const { return strings_[c].hash128[i]; }
  // The row's id as XXH3-128 (IdSet::HashOf): the `id_hash` column.
  const Hash128& id_hash(size_t i) const { return id_hashes_[i]; }
  uint8_t flags(size_t i) const { return flags_[i]; }
  uint64_t bytes(size_t i) const { return bytes_[i]; }
  double latency(size_t i) const { return latencies_[i]; }
  bool has(Column c) const { return (mask_ & ColumnBit(c)) != 0; }

 private:
  friend class PartReader;
  // A string column as stored: its bytes, and where each value (each dictionary entry, for a
  // dictionary column, with the rows' codes) is in them; or, read as hashes, each row's hash.
  struct StringColumn {
    struct Value {
      uint32_t offset, size;
    };
    std::string data;
    std::vector<Value> values;
    std::vector<uint32_t> codes;
    std::vector<uint64_t> hash64;
    std::vector<Hash128> hash128;
  };
  size_t rows_ = 0;
  ColumnMask mask_ = 0;
  std::vector<int64_t> ts_;
  std::vector<uint8_t> types_;
  std::vector<uint8_t> flags_;
  std::vector<uint64_t> bytes_;
  std::vector<double> latencies_;
  std::vector<Hash128> id_hashes_;
  StringColumn strings_[kColumnCount];
};

// String columns that PartReader::Read gives as each row's hash only (PartColumns::hash64/hash128,
// not str()): a caller that only hashes values (the batch layer hashes users, 100M rows a run)
// neither stores nor reloads every value's place. A column stored a value per row is hashed in
// the pass that finds the values; a dictionary (`user` from version 6) hashes each distinct
// value once. `version`, `os` and `subject` are not read as hashes.
struct HashedColumns {
  ColumnMask xxh3_64 = 0, xxh3_128 = 0;
};

// Reads one part. Not thread-safe; open one reader per thread.
class PartReader {
 public:
  // Reads and checks the tail and footer only.
  static Result<PartReader> Open(const std::string& path);
  const PartInfo& info() const { return info_; }
  uint8_t version() const { return version_; }
  PartCodec codec(Column c) const { return columns_[c].codec; }
  // Decompresses and decodes the columns in `mask` (of a version 1 part, the derived columns
  // in it are computed from the type and fields columns) into `out`, replacing what it held but
  // keeping its buffers: a scan reads part after part into one PartColumns without allocating.
  // The string columns in `hashes` are read as hashes (see HashedColumns).
  Status Read(ColumnMask mask, PartColumns* out, HashedColumns hashes = {});

 private:
  struct ColumnRef {
    uint64_t offset = 0, compressed = 0, raw = 0, hash = 0;
    PartCodec codec = PartCodec::kZstd;
  };
  Status ReadVersioned(ColumnMask mask, PartColumns* out, HashedColumns hashes);
  Status ReadStored(ColumnMask mask, PartColumns* out, HashedColumns hashes = {});
  std::string path_;
  PartInfo info_;
  uint8_t version_ = kPartVersion;
  ColumnRef columns_[kColumnCount];
};

}  // namespace vigil::archive
