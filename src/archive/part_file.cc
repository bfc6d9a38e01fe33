// Part file writing (sort, encode columns, compress, atomic write) and checked reading.
#include "archive/part_file.h"

#include <fcntl.h>
#include <lz4.h>
#include <lz4hc.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <memory>
#include <numeric>
#include <string>

#include "aggregate/string_interner.h"
#include "archive/derived_columns.h"
#include "common/coding.h"
#include "common/file_util.h"
#include "common/ingest_pause.h"
#include "common/time_bucket.h"

namespace vigil::archive {

namespace {

constexpr char kMagic[8] = {'V', 'I', 'G', 'I', 'L', 'P', 'R', 'T'};
constexpr size_t kTailBytes = 4 + 8 + 8;

// The row's value of a length-prefixed or dictionary column that comes from the row itself.
std::string_view StringField(const ArchiveRowView& r, Column c) {
  switch (c) {
    case kId:
      return r.id;
    case kVersion:
      return r.batch->version;
    case kOs:
      return r.batch->os;
    case kUser:
      return r.batch->user;
    case kFields:
      return r.fields;
    default:
      return r.batch->context;
  }
}

constexpr Column kLengthPrefixedColumns[] = {kId, kFields};
// The batch's own (version, os, user, context: one value per batch, so each is looked up once
// per run of a batch's rows), then the row's (subject).
constexpr Column kDictionaryColumns[] = {kVersion, kOs, kUser, kContext, kSubject};
constexpr size_t kDictionaries = std::size(kDictionaryColumns);

// The first 8 bytes of `id`, big-endian, zero-padded: comparing two such keys as integers
// orders the ids as comparing them as strings does, except where the keys are equal.
uint64_t IdPrefix(std::string_view id) {
  unsigned char bytes[8] = {};
  std::memcpy(bytes, id.data(), std::min<size_t>(id.size(), 8));
  uint64_t key = 0;
  for (unsigned char b : bytes) key = key << 8 | b;
  return key;
}

// Orders `run` (row indices of equal ts, ascending) by id, stable. Sorting (id prefix, index)
// pairs compares integers without chasing each row's id; only rows whose prefixes are equal
// compare whole ids (and none, when those ids are already in order, as for one event resent).
void OrderRunById(std::span<const ArchiveRowView> rows, uint32_t* run, size_t size,
                  std::vector<std::pair<uint64_t, uint32_t>>* keys) {
  keys->clear();
  for (size_t k = 0; k < size; ++k) keys->emplace_back(IdPrefix(rows[run[k]].id), run[k]);
  std::sort(keys->begin(), keys->end());  // the index breaks ties: stable
  for (size_t k = 0; k < size; ++k) run[k] = (*keys)[k].second;
  auto by_id = [&rows](uint32_t x, uint32_t y) { return rows[x].id < rows[y].id; };
  for (size_t first = 0; first < size;) {
    size_t last = first + 1;
    while (last < size && (*keys)[last].first == (*keys)[first].first) ++last;
    if (last - first > 1 && !std::is_sorted(run + first, run + last, by_id)) {
      std::stable_sort(run + first, run + last, by_id);  // in index order already: stays stable
    }
    first = last;
  }
}

// The order of `rows` by (ts, id), stable: of rows equal in both, the earlier stays earlier.
// Every ts must lie in [hour_ms, hour_ms + 1 h), so a time is a 22-bit key: two stable counting
// passes of 11 bits sort (key, index) pairs, then runs of equal times, rare outside of resent
// batches, are ordered by id (OrderRunById). A comparison sort of indices spent most of a flush
// in compares that chase each row's id (and in memmove); this is two sequential passes.
std::vector<uint32_t> TimeOrder(std::span<const ArchiveRowView> rows, int64_t hour_ms) {
  constexpr int kBits = 11;
  constexpr size_t kBuckets = size_t{1} << kBits;
  static_assert(kHourMs <= (int64_t{1} << (2 * kBits)));
  const size_t n = rows.size();
  std::vector<uint64_t> a(n), b(n);  // (ms into the hour << 32) | row index
  std::vector<uint32_t> low(kBuckets + 1, 0), high(kBuckets + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = static_cast<uint64_t>(rows[i].ts_ms - hour_ms);
    a[i] = key << 32 | i;
    ++low[(key & (kBuckets - 1)) + 1];
    ++high[(key >> kBits) + 1];
  }
  for (size_t k = 1; k <= kBuckets; ++k) {
    low[k] += low[k - 1];
    high[k] += high[k - 1];
  }
  PauseForIngestAfterChunk();  // between the passes over every row (ingest_pause.h)
  for (uint64_t v : a) b[low[(v >> 32) & (kBuckets - 1)]++] = v;
  PauseForIngestAfterChunk();
  for (uint64_t v : b) a[high[v >> (32 + kBits)]++] = v;
  PauseForIngestAfterChunk();
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(a[i]);
  std::vector<std::pair<uint64_t, uint32_t>> keys;  // (id prefix, row index) of one run
  for (size_t first = 0; first < n;) {
    size_t last = first + 1;
    while (last < n && a[last] >> 32 == a[first] >> 32) ++last;
    if (last - first > 1) OrderRunById(rows, order.data() + first, last - first, &keys);
    first = last;
  }
  return order;
}

// One column's compressed bytes, made while the column is encoded. A zstd column's values go to
// a small chunk that is compressed whenever it fills, so the event bodies never exist
// uncompressed in full (a flush of a million rows would otherwise build, and fault in, hundreds
// of megabytes of them). An LZ4 column is one block: its values gather in full (scan columns
// take about 30 bytes a row) and are compressed at End(). A raw column gathers in full too, and
// End() keeps it as it is.
class ColumnStream {
 public:
  ColumnStream() = default;
  ColumnStream(const ColumnStream&) = delete;
  ColumnStream& operator=(const ColumnStream&) = delete;
  ~ColumnStream() { ZSTD_freeCCtx(cctx_); }

  // Starts a column of exactly `raw_size` bytes (zstd sizes its tables by it) with `codec`, or
  // with zstd if the column is beyond what one LZ4 block holds. `level`: the codec's level
  // (PartCompression).
  Status Begin(PartCodec codec, int level, uint64_t raw_size) {
    chunk_.clear();
    out_.clear();
    raw_size_ = raw_size;
    level_ = level;
    status_ = Status::Ok();
    codec_ = codec == PartCodec::kLz4 && raw_size > LZ4_MAX_INPUT_SIZE ? PartCodec::kZstd : codec;
    if (codec_ != PartCodec::kZstd) return Status::Ok();
    if (cctx_ == nullptr && (cctx_ = ZSTD_createCCtx()) == nullptr) {
      return Status::IoError("zstd: cannot allocate a compression context");
    }
    size_t r = ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_only);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setPledgedSrcSize(cctx_, raw_size);
    if (ZSTD_isError(r)) return Status::IoError(std::string("zstd: ") + ZSTD_getErrorName(r));
    return Status::Ok();
  }
  // Where the next values are appended; call Flow() after appending.
  std::string* chunk() { return &chunk_; }
  void Flow() {
    if (codec_ == PartCodec::kZstd && chunk_.size() >= kChunkBytes) Compress(ZSTD_e_continue);
  }
  // Ends the column; out() then holds it. Fails if the values appended were not exactly the raw
  // size given to Begin.
  Status End() {
    if (codec_ == PartCodec::kZstd) {
      Compress(ZSTD_e_end);
      return status_;
    }
    if (chunk_.size() != raw_size_) return Status::IoError("column size differs from its plan");
    if (codec_ == PartCodec::kRaw) {
      out_.swap(chunk_);
      return Status::Ok();
    }
    const int n = static_cast<int>(chunk_.size());
    out_.resize(static_cast<size_t>(LZ4_compressBound(n)));
    const int got = level_ <= 0
                        ? LZ4_compress_fast_extState(Lz4State(), chunk_.data(), out_.data(), n,
                                                     static_cast<int>(out_.size()), 1)
                        : LZ4_compress_HC_extStateHC(Lz4HcState(), chunk_.data(), out_.data(), n,
                                                     static_cast<int>(out_.size()), level_);
    if (got <= 0 && n > 0) return Status::IoError("lz4: cannot compress a column");
    out_.resize(static_cast<size_t>(got));
    return Status::Ok();
  }
  PartCodec codec() const { return codec_; }
  const std::string& out() const { return out_; }
  uint64_t raw_size() const { return raw_size_; }
  void Trim(size_t keep) {
    if (out_.capacity() > keep) std::string().swap(out_);
    if (chunk_.capacity() > keep) std::string().swap(chunk_);
  }

 private:
  static constexpr size_t kChunkBytes = 128 << 10;

  void Compress(ZSTD_EndDirective mode) {
    if (!status_.ok()) return;
    ZSTD_inBuffer in{chunk_.data(), chunk_.size(), 0};
    for (;;) {
      const size_t at = out_.size();
      const size_t room = ZSTD_compressBound(in.size - in.pos) + 64;
      out_.resize(at + room);
      ZSTD_outBuffer o{out_.data() + at, room, 0};
      size_t r = ZSTD_compressStream2(cctx_, &o, &in, mode);
      out_.resize(at + o.pos);
      if (ZSTD_isError(r)) {
        status_ = Status::IoError(std::string("zstd: ") + ZSTD_getErrorName(r));
        return;
      }
      if (mode == ZSTD_e_end ? r == 0 : in.pos == in.size) break;
    }
    chunk_.clear();
  }
  // LZ4's compression states, one per thread (every column of a thread's parts shares them).
  static void* Lz4State() {
    thread_local std::unique_ptr<char[]> state(new char[static_cast<size_t>(LZ4_sizeofState())]);
    return state.get();
  }
  static void* Lz4HcState() {
    thread_local std::unique_ptr<char[]> state(new char[static_cast<size_t>(LZ4_sizeofStateHC())]);
    return state.get();
  }

  ZSTD_CCtx* cctx_ = nullptr;
  PartCodec codec_ = PartCodec::kZstd;
  int level_ = 0;
  std::string chunk_;
  std::string out_;
  uint64_t raw_size_ = 0;
  Status status_;
};

// One row's small values: its time, type, derived values and dictionary codes. The first pass
// of EncodeColumns writes them in the rows' order; one gather then puts them in time order, so
// that each column's loop reads them in sequence (gathering each column's values from the rows'
// order instead took a cache miss per row per column: a third of EncodeColumns' own time).
struct RowValues {
  int64_t ts;
  DerivedRow derived;
  uint32_t codes[kDictionaries];  // of kDictionaryColumns
  EventType type;
};

// Per thread: the column streams of part writing, the zstd context and buffer of part reading,
// the file being assembled and the row values of EncodeColumns, reused from part to part.
// ZSTD_compress/ZSTD_decompress would allocate (and the kernel fault in) a fresh context of a
// megabyte or more per column; on the archive thread that was a fifth of its time. Buffers grown
// past kKeepBytes by one huge part are released after it, so an occasional compaction of a big hour
// does not pin memory.
class PartScratch {
 public:
  static PartScratch& ForThisThread() {
    thread_local PartScratch scratch;
    return scratch;
  }
  ~PartScratch() { ZSTD_freeDCtx(dctx_); }
  ZSTD_DCtx* dctx() {
    if (dctx_ == nullptr) dctx_ = ZSTD_createDCtx();
    return dctx_;
  }
  // A buffer of at least n bytes whose contents are undefined (not zero-filled).
  char* Bytes(size_t n) { return bytes_.Get(n); }
  // Another such buffer, for a column decoded out of it (ts and bytes varints).
  char* Raw(size_t n) { return raw_.Get(n); }
  ColumnStream* streams() { return streams_; }
  std::string& file() { return file_; }
  // Row values in the rows' order and in time order (EncodeColumns); kept across parts, as the
  // archive writes part after part of about the same size.
  std::vector<RowValues>& values() { return values_; }
  std::vector<RowValues>& sorted() { return sorted_; }
  void Trim() {
    constexpr size_t kKeepBytes = 64 << 20;
    bytes_.Trim(kKeepBytes);
    raw_.Trim(kKeepBytes);
    for (ColumnStream& c : streams_) c.Trim(kKeepBytes);
    if (file_.capacity() > kKeepBytes) std::string().swap(file_);
    for (std::vector<RowValues>* v : {&values_, &sorted_}) {
      if (v->capacity() * sizeof(RowValues) > kKeepBytes) std::vector<RowValues>().swap(*v);
    }
  }

 private:
  PartScratch() = default;
  ZSTD_DCtx* dctx_ = nullptr;
  // Grows to the largest size asked for; never zero-filled.
  class Buffer {
   public:
    char* Get(size_t n) {
      if (n > capacity_) {
        data_.reset(new char[n]);
        capacity_ = n;
      }
      return data_.get();
    }
    void Trim(size_t keep) {
      if (capacity_ > keep) {
        data_.reset();
        capacity_ = 0;
      }
    }

   private:
    std::unique_ptr<char[]> data_;
    size_t capacity_ = 0;
  };
  Buffer bytes_, raw_;
  ColumnStream streams_[kColumnCount];
  std::string file_;
  std::vector<RowValues> values_, sorted_;
};

// A dictionary column being built: the distinct values in order of first sight (the rows'
// codes are in their RowValues).
struct Dictionary {
  aggregate::StringInterner values;
  uint64_t raw = 0;  // encoded size of the codes
};

// The decoders of a scan's hot columns. Most varints in them are one byte (value lengths,
// dictionary codes, time deltas under 64 ms) or two (bytes, latencies): those cases are taken
// without the general loop.
inline bool GetSmallVarint(const char*& p, const char* end, uint64_t* v) {
  if (end - p >= 2) {
    const uint64_t b0 = static_cast<unsigned char>(p[0]);
    if (b0 < 0x80) {
      *v = b0;
      p += 1;
      return true;
    }
    const uint64_t b1 = static_cast<unsigned char>(p[1]);
    if (b1 < 0x80) {
      *v = (b0 & 0x7f) | b1 << 7;
      p += 2;
      return true;
    }
  }
  return GetVarint64(p, end, v);
}

// Latencies are milliseconds, nearly always whole: a whole value in [0, 2^52) is stored as
// varint(ms << 1), any other double (fractional, negative, -0, NaN) as varint(1) and its 8 bytes,
// so every value reads back bit for bit.
bool WholeLatency(double v, uint64_t* ms) {
  if (!(v >= 0 && v < 4503599627370496.0) || std::signbit(v)) return false;
  *ms = static_cast<uint64_t>(v);
  return static_cast<double>(*ms) == v;
}
size_t LatencyLength(double v) {
  uint64_t ms;
  return WholeLatency(v, &ms) ? VarintLength(ms << 1) : 1 + 8;
}
void PutLatency(std::string* out, double v) {
  uint64_t ms;
  if (WholeLatency(v, &ms)) {
    PutVarint64(out, ms << 1);
    return;
  }
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  out->push_back(1);
  PutFixed64(out, bits);
}
bool GetLatency(const char*& p, const char* end, double* v) {
  uint64_t x;
  if (!GetSmallVarint(p, end, &x)) return false;
  if ((x & 1) == 0) {
    *v = static_cast<double>(x >> 1);
    return true;
  }
  uint64_t bits;
  if (x != 1 || !GetFixed64(p, end, &bits)) return false;
  std::memcpy(v, &bits, sizeof(bits));
  return true;
}

// `count` length-prefixed values, as (offset from `base`, size).
template <typename Value>
bool GetLengthPrefixedValues(const char*& p, const char* end, const char* base, size_t count,
                             Value* values) {
  for (size_t i = 0; i < count; ++i) {
    uint64_t size;
    if (!GetSmallVarint(p, end, &size) || size > static_cast<uint64_t>(end - p)) return false;
    values[i] = {static_cast<uint32_t>(p - base), static_cast<uint32_t>(size)};
    p += size;
  }
  return true;
}

// `count` length-prefixed values, as hash(value) each.
template <typename Hash, typename HashFn>
bool HashLengthPrefixedValues(const char*& p, const char* end, size_t count, Hash* hashes,
                              HashFn hash) {
  for (size_t i = 0; i < count; ++i) {
    uint64_t size;
    if (!GetSmallVarint(p, end, &size) || size > static_cast<uint64_t>(end - p)) return false;
    hash(std::string_view(p, size), &hashes[i]);
    p += size;
  }
  return true;
}

// `rows` dictionary codes, each below `count`. When there are at most 128 values and exactly
// one byte per row is left, every code is that byte: a loop the compiler vectorizes (a byte of
// 128 or more, a varint's continuation, fails the bound too).
bool GetCodes(const char*& p, const char* end, size_t rows, uint64_t count, uint32_t* codes) {
  if (count <= 128 && static_cast<size_t>(end - p) == rows) {
    const unsigned char* u = reinterpret_cast<const unsigned char*>(p);
    unsigned char max = 0;
    for (size_t i = 0; i < rows; ++i) {
      codes[i] = u[i];
      max = std::max(max, u[i]);
    }
    p = end;
    return rows == 0 || max < count;
  }
  for (size_t i = 0; i < rows; ++i) {
    uint64_t code;
    if (!GetSmallVarint(p, end, &code) || code >= count) return false;
    codes[i] = static_cast<uint32_t>(code);
  }
  return true;
}

// Whether a part of `version` stores column `c` as a dictionary (else a value per row).
bool StoredAsDictionary(Column c, uint8_t version) {
  if (c == kUser || c == kContext) return version >= 6;
  return version > 1 && IsDictionaryColumn(c);
}

// A dictionary column asked for as hashes: each distinct value of `s` (its values point into
// `data`) hashed once, then every row's hash is its code's. The values are dropped after, as
// for a column hashed row by row.
template <typename Values, typename Hash, typename HashFn>
void SpreadDictionaryHashes(Values* values, const std::vector<uint32_t>& codes, const char* data,
                            std::vector<Hash>* hashes, HashFn hash) {
  thread_local std::vector<Hash> distinct;
  distinct.resize(values->size());
  for (size_t k = 0; k < values->size(); ++k) {
    hash(std::string_view(data + (*values)[k].offset, (*values)[k].size), &distinct[k]);
  }
  hashes->resize(codes.size());
  for (size_t i = 0; i < codes.size(); ++i) (*hashes)[i] = distinct[codes[i]];
  values->clear();
}

// `rows` times, stored as zigzag deltas from the previous (the first from 0): each must lie in
// [min_ts, max_ts], in order. Checked as a first time in range and then deltas of at most the
// room left below max_ts (which never overflows).
bool GetTimes(const char*& p, const char* end, int64_t min_ts, int64_t max_ts, size_t rows,
              int64_t* out) {
  int64_t previous = 0;
  for (size_t i = 0; i < rows; ++i) {
    uint64_t zigzag;
    if (!GetSmallVarint(p, end, &zigzag)) return false;
    if (i == 0) {
      previous = ZigZagDecode(zigzag);
      if (previous < min_ts || previous > max_ts) return false;
    } else {
      if (zigzag & 1) return false;  // a negative delta: unsorted
      const uint64_t delta = zigzag >> 1;
      if (delta > static_cast<uint64_t>(max_ts - previous)) return false;
      previous += static_cast<int64_t>(delta);
    }
    out[i] = previous;
  }
  return true;
}

// A version 3 column of values for the rows with `flag` only (bytes, latency), spread over every
// row, 0 for the others. The values are decoded in one pass, then placed without a branch per
// row: which rows are flagged follows the event mix, and a branch on it would mispredict about
// every other row. False if the values are damaged or not one per flagged row.
template <typename T, typename Get>  // Get: bool(const char*& p, const char* end, T* value)
bool SpreadFlagged(const char*& p, const char* end, const std::vector<uint8_t>& flags, uint8_t flag,
                   std::vector<T>* out, Get get) {
  static_assert(sizeof(T) == sizeof(uint64_t), "values are placed as 64-bit patterns");
  size_t flagged = 0;
  for (uint8_t f : flags) flagged += (f & flag) != 0;
  // One slot per flagged row (so damage cannot make it larger than the column it fills), and
  // one more, read and not used, after the last.
  thread_local std::vector<T> values;  // reused: a scan reads part after part
  if (values.size() < flagged + 1) values.resize(flagged + 1);
  T* v = values.data();
  for (size_t n = 0; n < flagged; ++n) {
    if (!get(p, end, &v[n])) return false;
  }
  if (p != end) return false;  // more values than flagged rows
  v[flagged] = T{};
  out->resize(flags.size());
  T* o = out->data();
  size_t k = 0;
  for (size_t i = 0; i < flags.size(); ++i) {
    const uint64_t keep = 0 - static_cast<uint64_t>((flags[i] & flag) != 0);
    o[i] = std::bit_cast<T>(std::bit_cast<uint64_t>(v[k]) & keep);
    k += keep & 1;
  }
  return true;
}

// Compresses every column of rows[order[0]], rows[order[1]], ... into the scratch's streams. A
// first pass, in the rows' own order, derives each row's values (RowValues) and sizes every
// column; one gather puts the values in time order; then each column is encoded in a loop of
// its own.
Status EncodeColumns(std::span<const ArchiveRowView> rows, const std::vector<uint32_t>& order,
                     const PartCompression& compression, PartScratch* scratch) {
  const size_t n = rows.size();
  ColumnStream* streams = scratch->streams();
  uint64_t raw[kColumnCount] = {};
  std::vector<RowValues>& values = scratch->values();
  values.resize(n);
  Dictionary dictionaries[kDictionaries];  // of kDictionaryColumns
  aggregate::EventFacts facts;
  // The rows of one batch come together and share its version, os, user and context: their
  // codes are looked up once per batch.
  const ArchiveBatchContext* batch = nullptr;
  uint32_t codes[kDictionaries] = {};
  for (size_t i = 0; i < n; ++i) {
    const ArchiveRowView& r = rows[i];
    PauseForIngest();
    for (Column c : kLengthPrefixedColumns) {
      const size_t size = StringField(r, c).size();
      raw[c] += VarintLength(size) + size;
    }
    RowValues& v = values[i];
    v.ts = r.ts_ms;
    v.type = r.type;
    v.derived = DeriveRow(r.type, r.fields, &facts);
    if (v.derived.flags & kFlagHasBytes) raw[kBytes] += VarintLength(v.derived.bytes);
    if (v.derived.flags & kFlagHasLatency) raw[kLatency] += LatencyLength(v.derived.latency);
    if (r.batch != batch) {
      batch = r.batch;
      for (size_t d = 0; d + 1 < kDictionaries; ++d) {
        codes[d] = dictionaries[d].values.Intern(StringField(r, kDictionaryColumns[d]));
      }
    }
    codes[kDictionaries - 1] = dictionaries[kDictionaries - 1].values.Intern(facts.subject);
    for (size_t d = 0; d < kDictionaries; ++d) {
      v.codes[d] = codes[d];
      dictionaries[d].raw += VarintLength(codes[d]);
    }
  }
  // Time order, gathered once: the loops below read `sorted` in sequence.
  std::vector<RowValues>& sorted = scratch->sorted();
  sorted.resize(n);
  constexpr size_t kAhead = 16;
  for (size_t k = 0; k < n; ++k) {
    if (k + kAhead < n) __builtin_prefetch(&values[order[k + kAhead]]);
    sorted[k] = values[order[k]];
  }
  PauseForIngestAfterChunk();
  for (size_t d = 0; d < kDictionaries; ++d) {
    const Dictionary& dict = dictionaries[d];
    uint64_t& size = raw[kDictionaryColumns[d]];
    size = VarintLength(dict.values.size()) + dict.raw;
    for (uint32_t k = 0; k < dict.values.size(); ++k) {
      size += VarintLength(dict.values.Get(k).size()) + dict.values.Get(k).size();
    }
  }
  raw[kType] = n;
  raw[kFlags] = n;
  raw[kIdHash] = sizeof(Hash128) * n;
  int64_t previous = 0;
  for (const RowValues& v : sorted) {
    raw[kTs] += VarintLength(ZigZagEncode(v.ts - previous));
    previous = v.ts;
  }
  for (uint32_t c = 0; c < kColumnCount; ++c) {
    if (raw[c] > kMaxPartColumnBytes) {
      return Status::TooLarge(std::string("part column ") + kColumnNames[c] + " is over 2 GiB");
    }
    const PartCodec codec = CodecOf(static_cast<Column>(c));
    VIGIL_RETURN_IF_ERROR(streams[c].Begin(
        codec, codec == PartCodec::kZstd ? compression.zstd_level : compression.lz4_level, raw[c]));
  }
  for (size_t d = 0; d < kDictionaries; ++d) {
    ColumnStream& stream = streams[kDictionaryColumns[d]];
    const aggregate::StringInterner& values = dictionaries[d].values;
    PutVarint64(stream.chunk(), values.size());
    for (uint32_t k = 0; k < values.size(); ++k) {
      PutLengthPrefixed(stream.chunk(), values.Get(k));
      stream.Flow();
    }
  }
  // The rows in time order, a column at a time: the small values in sequence from `sorted`,
  // then each row's strings, gathered by `order` with their misses overlapped (the iterations
  // do not depend on each other). (Every column of a row in one iteration was a chain of
  // dependent misses per row: 40 % of the archive thread's time in a flush of a few hundred
  // thousand rows.)
  // The loops without a per-row pause for ingest (ingest_pause.h) pause between them.
  PauseForIngestAfterChunk();
  previous = 0;
  for (const RowValues& v : sorted) {
    PutVarsint64(streams[kTs].chunk(), v.ts - previous);
    previous = v.ts;
  }
  PauseForIngestAfterChunk();
  for (const RowValues& v : sorted) streams[kType].chunk()->push_back(static_cast<char>(v.type));
  for (size_t c = 0; c < kDictionaries; ++c) {
    PauseForIngestAfterChunk();
    std::string* chunk = streams[kDictionaryColumns[c]].chunk();
    for (const RowValues& v : sorted) PutVarint64(chunk, v.codes[c]);
    streams[kDictionaryColumns[c]].Flow();
  }
  for (const RowValues& v : sorted) {
    PauseForIngest();
    const DerivedRow& d = v.derived;
    streams[kFlags].chunk()->push_back(static_cast<char>(d.flags));
    if (d.flags & kFlagHasBytes) PutVarint64(streams[kBytes].chunk(), d.bytes);
    if (d.flags & kFlagHasLatency) PutLatency(streams[kLatency].chunk(), d.latency);
  }
  // The strings: rows prefetched 2 * kAhead ahead, their bytes kAhead ahead.
  for (Column c : kLengthPrefixedColumns) {
    ColumnStream& stream = streams[c];
    for (size_t k = 0; k < n; ++k) {
      if (k + 2 * kAhead < n) __builtin_prefetch(&rows[order[k + 2 * kAhead]]);
      if (k + kAhead < n) __builtin_prefetch(StringField(rows[order[k + kAhead]], c).data());
      const std::string_view v = StringField(rows[order[k]], c);
      PauseForIngest();
      PutLengthPrefixed(stream.chunk(), v);
      if (c == kId) {
        Hash128 id_hash;
        StoreHash128(v, &id_hash);
        PutFixed64(streams[kIdHash].chunk(), id_hash.low);
        PutFixed64(streams[kIdHash].chunk(), id_hash.high);
      }
      stream.Flow();
    }
  }
  for (uint32_t c = 0; c < kColumnCount; ++c) {
    PauseForIngestAfterChunk();  // End compresses a whole lz4 column at once
    VIGIL_RETURN_IF_ERROR(streams[c].End());
  }
  return Status::Ok();
}

Status PreadAll(int fd, uint64_t offset, size_t n, char* out, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    ssize_t got = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read " + path, errno);
    }
    if (got == 0) return Status::Corruption(path + ": part file is truncated");
    done += static_cast<size_t>(got);
  }
  return Status::Ok();
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Status WritePart(const std::string& path, const std::vector<ArchiveRow>& rows, PartInfo* info,
                 const PartCompression& compression) {
  std::vector<ArchiveBatchContext> batches(rows.size());
  std::vector<ArchiveRowView> views(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const ArchiveRow& r = rows[i];
    batches[i] = {r.version, r.os, r.user, r.context};
    views[i] = {r.id, r.fields, r.ts_ms, r.type, &batches[i]};
  }
  return WritePart(path, views, info, compression);
}

Status WritePart(const std::string& path, std::span<const ArchiveRowView> rows, PartInfo* info,
                 const PartCompression& compression) {
  if (rows.empty()) return Status::InvalidArgument("a part needs at least one row");
  if (rows.size() > UINT32_MAX) return Status::TooLarge("a part holds at most 2^32 - 1 rows");
  int64_t min_ts = rows.front().ts_ms, max_ts = min_ts;
  for (const ArchiveRowView& r : rows) {
    min_ts = std::min(min_ts, r.ts_ms);
    max_ts = std::max(max_ts, r.ts_ms);
  }
  if (min_ts < info->hour_ms || max_ts >= info->hour_ms + kHourMs) {
    return Status::InvalidArgument("part rows must lie in the part's hour");
  }
  info->rows = rows.size();
  info->min_ts = min_ts;
  info->max_ts = max_ts;
  const std::vector<uint32_t> order = TimeOrder(rows, info->hour_ms);

  PartScratch& scratch = PartScratch::ForThisThread();
  Status st = EncodeColumns(rows, order, compression, &scratch);
  if (!st.ok()) {
    scratch.Trim();
    return st;
  }
  std::string& file = scratch.file();
  file.assign(kMagic, sizeof(kMagic));
  std::string footer;
  footer.push_back(static_cast<char>(kPartVersion));
  PutVarint64(&footer, info->rows);
  PutVarsint64(&footer, info->min_ts);
  PutVarsint64(&footer, info->max_ts);
  PutLengthPrefixed(&footer, info->app);
  PutVarsint64(&footer, info->hour_ms);
  PutVarint64(&footer, info->source_first);
  PutVarint64(&footer, info->source_end);
  PutVarint64(&footer, kColumnCount);
  for (uint32_t c = 0; c < kColumnCount; ++c) {
    const ColumnStream& column = scratch.streams()[c];
    PauseForIngestAfterChunk();
    const size_t at = file.size();
    file += column.out();
    PutLengthPrefixed(&footer, kColumnNames[c]);
    PutVarint64(&footer, at);
    PutVarint64(&footer, column.out().size());
    PutVarint64(&footer, column.raw_size());
    PutFixed64(&footer, XXH3_64bits(column.out().data(), column.out().size()));
    footer.push_back(static_cast<char>(column.codec()));
  }
  file += footer;
  PutFixed32(&file, static_cast<uint32_t>(footer.size()));
  PutFixed64(&file, XXH3_64bits(footer.data(), footer.size()));
  file.append(kMagic, sizeof(kMagic));
  info->file_bytes = file.size();
  st = WriteFileAtomically(path, file, 0644, PauseForIngestAfterChunk);
  scratch.Trim();
  return st;
}

Result<PartReader> PartReader::Open(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno("open " + path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("stat " + path, errno);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  auto corrupt = [&](const std::string& what) {
    return Status::Corruption(path + ": damaged part file (" + what + ")");
  };
  if (size < sizeof(kMagic) + kTailBytes) return corrupt("too short");
  char head[sizeof(kMagic)];
  char tail[kTailBytes];
  VIGIL_RETURN_IF_ERROR(PreadAll(fd.get(), 0, sizeof(head), head, path));
  VIGIL_RETURN_IF_ERROR(PreadAll(fd.get(), size - kTailBytes, kTailBytes, tail, path));
  if (std::memcmp(head, kMagic, sizeof(kMagic)) != 0 ||
      std::memcmp(tail + 12, kMagic, sizeof(kMagic)) != 0) {
    return corrupt("bad magic");
  }
  uint32_t footer_size = DecodeFixed32(tail);
  uint64_t footer_hash = DecodeFixed64(tail + 4);
  if (footer_size == 0 || footer_size > kMaxPartFooterBytes ||
      footer_size > size - sizeof(kMagic) - kTailBytes) {
    return corrupt("bad footer size");
  }
  const uint64_t footer_at = size - kTailBytes - footer_size;
  std::string footer(footer_size, '\0');
  VIGIL_RETURN_IF_ERROR(PreadAll(fd.get(), footer_at, footer_size, footer.data(), path));
  if (XXH3_64bits(footer.data(), footer.size()) != footer_hash) return corrupt("footer checksum");

  PartReader r;
  r.path_ = path;
  const char* p = footer.data();
  const char* end = p + footer.size();
  r.version_ = static_cast<uint8_t>(*p++);
  if (r.version_ < 1 || r.version_ > kPartVersion) {
    return Status::Unsupported(path + ": part file of an unknown version; a newer Vigil wrote it");
  }
  const uint32_t stored_columns = r.version_ == 1  ? kV1ColumnCount
                                  : r.version_ < 5 ? kV4ColumnCount
                                                   : kColumnCount;
  std::string_view app;
  uint64_t ncolumns = 0;
  if (!GetVarint64(p, end, &r.info_.rows) || !GetVarsint64(p, end, &r.info_.min_ts) ||
      !GetVarsint64(p, end, &r.info_.max_ts) || !GetLengthPrefixed(p, end, &app) ||
      !GetVarsint64(p, end, &r.info_.hour_ms) || !GetVarint64(p, end, &r.info_.source_first) ||
      !GetVarint64(p, end, &r.info_.source_end) || !GetVarint64(p, end, &ncolumns)) {
    return corrupt("truncated footer");
  }
  r.info_.app.assign(app);
  r.info_.file_bytes = size;
  if (ncolumns != stored_columns) return corrupt("unexpected columns");
  if (r.info_.rows == 0 || r.info_.min_ts > r.info_.max_ts) return corrupt("bad row range");
  for (uint32_t c = 0; c < stored_columns; ++c) {
    std::string_view name;
    ColumnRef& ref = r.columns_[c];
    if (!GetLengthPrefixed(p, end, &name) || !GetVarint64(p, end, &ref.offset) ||
        !GetVarint64(p, end, &ref.compressed) || !GetVarint64(p, end, &ref.raw) || end - p < 8) {
      return corrupt("truncated column directory");
    }
    ref.hash = DecodeFixed64(p);
    p += 8;
    if (r.version_ >= 4) {
      if (p == end) return corrupt("truncated column directory");
      const uint8_t codec = static_cast<uint8_t>(*p++);
      if (codec > static_cast<uint8_t>(PartCodec::kRaw)) return corrupt("unknown codec");
      ref.codec = static_cast<PartCodec>(codec);
      // Raw is version 5's, for id_hash only.
      if (ref.codec == PartCodec::kRaw && (r.version_ < 5 || c != kIdHash)) {
        return corrupt("raw codec on column " + std::string(kColumnNames[c]));
      }
      if (ref.codec == PartCodec::kRaw && ref.compressed != ref.raw) {
        return corrupt("raw column of two sizes");
      }
    }
    if (name != kColumnNames[c]) return corrupt("unexpected column " + std::string(name));
    // An LZ4 block's sizes are ints, its output at most LZ4_MAX_INPUT_SIZE.
    if (ref.codec == PartCodec::kLz4 &&
        (ref.raw > LZ4_MAX_INPUT_SIZE || ref.compressed > static_cast<uint64_t>(INT32_MAX))) {
      return corrupt("LZ4 column too large");
    }
    if (ref.offset < sizeof(kMagic) || ref.offset > footer_at ||
        ref.compressed > footer_at - ref.offset || ref.raw > kMaxPartColumnBytes) {
      return corrupt("column out of bounds");
    }
  }
  if (p != end) return corrupt("trailing footer bytes");
  return r;
}

Status PartReader::Read(ColumnMask mask, PartColumns* out, HashedColumns hashes) {
  mask &= kAllColumns;
  hashes.xxh3_64 &= mask;
  hashes.xxh3_128 &= mask;
  constexpr ColumnMask kHashable = ~(ColumnBit(kTs) | ColumnBit(kType) | ColumnBit(kFlags) |
                                     ColumnBit(kBytes) | ColumnBit(kLatency) | ColumnBit(kVersion) |
                                     ColumnBit(kOs) | ColumnBit(kSubject) | ColumnBit(kIdHash));
  if (((hashes.xxh3_64 | hashes.xxh3_128) & ~kHashable) != 0 ||
      (hashes.xxh3_64 & hashes.xxh3_128) != 0 ||
      (version_ == 1 && (mask & ~kRowColumns & ~ColumnBit(kIdHash)) != 0 &&
       ((hashes.xxh3_64 | hashes.xxh3_128) & ColumnBit(kFields)) != 0)) {
    return Status::InvalidArgument(
        "part read: only the id, user, fields and context columns can be read as hashes, "
        "with one hash each");
  }
  if (version_ >= 5 || (mask & ColumnBit(kIdHash)) == 0) return ReadVersioned(mask, out, hashes);
  // Before version 5: `id_hash` is hashed from `id`, read as 128-bit hashes unless the ids were
  // asked for another way (as values, or as 64-bit hashes: then read as values, both hashed
  // here, and the values dropped as a hashed read drops them).
  const ColumnMask id = ColumnBit(kId);
  const bool ids_as_values = (mask & id) != 0 && (hashes.xxh3_128 & id) == 0;
  const bool ids_as_hash64 = (hashes.xxh3_64 & id) != 0;
  HashedColumns with_ids = hashes;
  with_ids.xxh3_64 &= ~id;
  if (!ids_as_values) with_ids.xxh3_128 |= id;
  VIGIL_RETURN_IF_ERROR(ReadVersioned((mask & ~ColumnBit(kIdHash)) | id, out, with_ids));
  const size_t rows = out->rows_;
  std::vector<Hash128>& id_hashes = out->id_hashes_;
  if (ids_as_values) {
    PartColumns::StringColumn& ids = out->strings_[kId];
    id_hashes.resize(rows);
    if (ids_as_hash64) ids.hash64.resize(rows);
    for (size_t i = 0; i < rows; ++i) {
      const std::string_view v = out->str(kId, i);
      StoreHash128(v, &id_hashes[i]);
      if (ids_as_hash64) ids.hash64[i] = v.empty() ? 0 : Hash64(v);
    }
    if (ids_as_hash64) ids.values.clear();
  } else if ((mask & id) != 0) {
    id_hashes = out->strings_[kId].hash128;  // asked for both
  } else {
    id_hashes.swap(out->strings_[kId].hash128);
  }
  out->mask_ = mask;
  return Status::Ok();
}

Status PartReader::ReadVersioned(ColumnMask mask, PartColumns* out, HashedColumns hashes) {
  // Version 1 parts: a column built here from each row's value, as a dictionary column.
  auto set_dictionary = [](const aggregate::StringInterner& values, PartColumns::StringColumn* s) {
    s->data.clear();
    s->values.clear();
    for (uint32_t k = 0; k < values.size(); ++k) {
      std::string_view v = values.Get(k);
      s->values.push_back({static_cast<uint32_t>(s->data.size()), static_cast<uint32_t>(v.size())});
      s->data += v;
    }
  };
  constexpr ColumnMask kFlagged = ColumnBit(kBytes) | ColumnBit(kLatency);
  if (version_ >= 3) {
    // Bytes and latencies are stored for the rows whose flags say they have one.
    VIGIL_RETURN_IF_ERROR(
        ReadStored((mask & kFlagged) ? mask | ColumnBit(kFlags) : mask, out, hashes));
    out->mask_ = mask;
  } else if (version_ == 2) {
    // Version 2 stored every row's bytes and no kFlagHasBytes: the flags get it from them.
    const bool flags = (mask & ColumnBit(kFlags)) != 0;
    VIGIL_RETURN_IF_ERROR(ReadStored(flags ? mask | ColumnBit(kBytes) : mask, out, hashes));
    if (flags) {
      for (size_t i = 0; i < out->rows_; ++i) {
        if (out->bytes_[i] != 0) out->flags_[i] |= kFlagHasBytes;
      }
    }
    out->mask_ = mask;
  } else if ((mask & ~kRowColumns) == 0) {
    VIGIL_RETURN_IF_ERROR(ReadStored(mask, out, hashes));
  } else {
    // A version 1 part: derive the derived columns from the row columns they come from.
    constexpr ColumnMask kSources = ColumnBit(kType) | ColumnBit(kFields);
    VIGIL_RETURN_IF_ERROR(ReadStored((mask & kRowColumns) | kSources, out, hashes));
    const size_t rows = out->rows_;
    out->flags_.resize(rows);
    out->bytes_.resize(rows);
    out->latencies_.resize(rows);
    aggregate::StringInterner subjects;
    PartColumns::StringColumn& subject = out->strings_[kSubject];
    subject.codes.resize(rows);
    aggregate::EventFacts facts;
    for (size_t i = 0; i < rows; ++i) {
      const DerivedRow d = DeriveRow(out->type(i), out->str(kFields, i), &facts);
      out->flags_[i] = d.flags;
      out->bytes_[i] = d.bytes;
      out->latencies_[i] = d.latency;
      subject.codes[i] = subjects.Intern(facts.subject);
    }
    set_dictionary(subjects, &subject);
    out->mask_ = mask;
  }
  if (version_ == 1) {
    // Version 1 stored `version` and `os` length-prefixed: give them their dictionaries.
    for (Column c : {kVersion, kOs}) {
      if (!out->has(c)) continue;
      PartColumns::StringColumn& s = out->strings_[c];
      aggregate::StringInterner values;
      s.codes.resize(s.values.size());
      for (size_t i = 0; i < s.values.size(); ++i) {
        s.codes[i] =
            values.Intern(std::string_view(s.data.data() + s.values[i].offset, s.values[i].size));
      }
      set_dictionary(values, &s);
    }
  }
  return Status::Ok();
}

Status PartReader::ReadStored(ColumnMask mask, PartColumns* out, HashedColumns hashes) {
  // `out` keeps the buffers of an earlier read: a scan that reads part after part into one
  // PartColumns neither allocates nor zero-fills them again (resizing to a similar row count).
  out->rows_ = info_.rows;
  out->mask_ = mask;
  Fd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno("open " + path_, errno);
  auto corrupt = [&](const char* column, const char* what) {
    return Status::Corruption(path_ + ": damaged part file (column " + column + ": " + what + ")");
  };
  const size_t rows = info_.rows;
  PartScratch& scratch = PartScratch::ForThisThread();
  ZSTD_DCtx* dctx = scratch.dctx();
  if (dctx == nullptr) return Status::IoError("zstd: cannot allocate a decompression context");
  static_assert(std::endian::native == std::endian::little, "fixed columns are little-endian");
  static_assert(sizeof(Hash128) == 16 && offsetof(Hash128, low) == 0,
                "id_hash decompresses straight into Hash128s: low, then high");
  for (uint32_t c = 0; c < kColumnCount; ++c) {
    if ((out->mask_ & (1u << c)) == 0) continue;
    const ColumnRef& ref = columns_[c];
    const char* name = kColumnNames[c];
    // Every encoding but a version 3 part's bytes and latencies (only the rows flagged with one)
    // takes at least one byte per row: a row count beyond the bytes is damage, not a reason to
    // allocate.
    const bool flagged = version_ >= 3 && (c == kBytes || c == kLatency);
    if (!flagged && rows > ref.raw) return corrupt(name, "too few values");
    // Fixed-width columns decompress straight into their values (a raw one is read into them),
    // varint columns into scratch, string columns into their own buffer (values point into it).
    char* raw;
    switch (flagged ? kColumnCount : c) {
      case kType:
      case kFlags:
      case kLatency:
      case kIdHash: {
        const size_t width = c == kIdHash ? sizeof(Hash128) : c == kLatency ? 8 : 1;
        if (ref.raw != width * rows) return corrupt(name, "wrong length");
        if (c == kLatency) {
          out->latencies_.resize(rows);
          raw = reinterpret_cast<char*>(out->latencies_.data());
        } else if (c == kIdHash) {
          out->id_hashes_.resize(rows);
          raw = reinterpret_cast<char*>(out->id_hashes_.data());
        } else {
          std::vector<uint8_t>& v = c == kType ? out->types_ : out->flags_;
          v.resize(rows);
          raw = reinterpret_cast<char*>(v.data());
        }
        break;
      }
      case kTs:
      case kBytes:
      case kColumnCount:  // flagged
        raw = scratch.Raw(ref.raw);
        break;
      default:
        out->strings_[c].data.resize(ref.raw);
        raw = out->strings_[c].data.data();
    }
    char* compressed = ref.codec == PartCodec::kRaw ? raw : scratch.Bytes(ref.compressed);
    VIGIL_RETURN_IF_ERROR(PreadAll(fd.get(), ref.offset, ref.compressed, compressed, path_));
    if (XXH3_64bits(compressed, ref.compressed) != ref.hash) return corrupt(name, "checksum");
    if (ref.codec == PartCodec::kRaw) {
      // Read as is (Open checked that its two sizes agree).
    } else if (ref.codec == PartCodec::kLz4) {
      const int n = LZ4_decompress_safe(compressed, raw, static_cast<int>(ref.compressed),
                                        static_cast<int>(ref.raw));
      if (n < 0 || static_cast<uint64_t>(n) != ref.raw) return corrupt(name, "does not decompress");
    } else {
      size_t n = ZSTD_decompressDCtx(dctx, raw, ref.raw, compressed, ref.compressed);
      if (ZSTD_isError(n) || n != ref.raw) return corrupt(name, "does not decompress");
    }
    const char* p = raw;
    const char* end = raw + ref.raw;
    switch (flagged ? kColumnCount : c) {
      case kColumnCount: {  // flagged: a value for each row whose flags say it has one, else 0
        auto get_bytes = [](const char*& q, const char* e, uint64_t* v) {
          return GetSmallVarint(q, e, v);
        };
        auto get_latency = [](const char*& q, const char* e, double* v) {
          return GetLatency(q, e, v);
        };
        if (c == kBytes
                ? !SpreadFlagged(p, end, out->flags_, kFlagHasBytes, &out->bytes_, get_bytes)
                : !SpreadFlagged(p, end, out->flags_, kFlagHasLatency, &out->latencies_,
                                 get_latency)) {
          return corrupt(name, "values do not match the flagged rows");
        }
        break;
      }
      case kTs: {
        out->ts_.resize(rows);
        if (!GetTimes(p, end, info_.min_ts, info_.max_ts, rows, out->ts_.data())) {
          return corrupt(name, "truncated, unsorted or outside the footer's range");
        }
        break;
      }
      case kType:
        for (uint8_t t : out->types_) {
          if (t < 1 || t > kEventTypeCount) return corrupt(name, "unknown event type");
        }
        p = end;
        break;
      case kFlags:
      case kLatency:
      case kIdHash:
        p = end;
        break;
      case kBytes:
        out->bytes_.resize(rows);
        for (size_t i = 0; i < rows; ++i) {
          if (!GetVarint64(p, end, &out->bytes_[i])) return corrupt(name, "truncated");
        }
        break;
      default: {
        PartColumns::StringColumn& s = out->strings_[c];
        const bool dictionary = StoredAsDictionary(static_cast<Column>(c), version_);
        // What a value read as a hash becomes (HashedColumns), stored per row or in a dictionary.
        auto hash64 = [](std::string_view v, uint64_t* h) { *h = v.empty() ? 0 : Hash64(v); };
        auto hash128 = [](std::string_view v, Hash128* h) { StoreHash128(v, h); };
        if (!dictionary && (hashes.xxh3_64 & (1u << c)) != 0) {
          s.values.clear();  // no stale places into the new data
          s.hash64.resize(rows);
          if (!HashLengthPrefixedValues(p, end, rows, s.hash64.data(), hash64)) {
            return corrupt(name, "truncated");
          }
          break;
        }
        if (!dictionary && (hashes.xxh3_128 & (1u << c)) != 0) {
          s.values.clear();
          s.hash128.resize(rows);
          if (!HashLengthPrefixedValues(p, end, rows, s.hash128.data(), hash128)) {
            return corrupt(name, "truncated");
          }
          break;
        }
        uint64_t count = rows;
        if (dictionary && (!GetVarint64(p, end, &count) || count > ref.raw)) {
          return corrupt(name, "bad dictionary size");
        }
        s.values.resize(count);
        if (!GetLengthPrefixedValues(p, end, raw, count, s.values.data())) {
          return corrupt(name, "truncated");
        }
        if (dictionary) {
          s.codes.resize(rows);
          if (!GetCodes(p, end, rows, count, s.codes.data())) {
            return corrupt(name, "truncated, or a code outside the dictionary");
          }
          // Asked as hashes: each distinct value is hashed once, and every row takes its code's.
          if ((hashes.xxh3_64 & (1u << c)) != 0) {
            SpreadDictionaryHashes(&s.values, s.codes, raw, &s.hash64, hash64);
          } else if ((hashes.xxh3_128 & (1u << c)) != 0) {
            SpreadDictionaryHashes(&s.values, s.codes, raw, &s.hash128, hash128);
          }
        } else if (IsDictionaryColumn(static_cast<Column>(c))) {
          // Stored a value per row (user and context before version 6, version and os in
          // version 1): row i is entry i, so that str() reads every version alike.
          s.codes.resize(rows);
          std::iota(s.codes.begin(), s.codes.end(), 0u);
        }
      }
    }
    if (p != end) return corrupt(name, "trailing bytes");
  }
  scratch.Trim();
  return Status::Ok();
}

}  // namespace vigil::archive
