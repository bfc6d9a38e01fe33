// Part file writing (sort, encode columns, compress, atomic write) and checked reading.
#include "archive/part_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "common/coding.h"
#include "common/file_util.h"
#include "common/time_bucket.h"

namespace vigil::archive {

namespace {

constexpr char kMagic[8] = {'V', 'I', 'G', 'I', 'L', 'P', 'R', 'T'};
constexpr size_t kTailBytes = 4 + 8 + 8;

// The row's value of a string or binary column.
const std::string& StringField(const ArchiveRow& r, Column c) {
  switch (c) {
    case kId:
      return r.id;
    case kVersion:
      return r.version;
    case kOs:
      return r.os;
    case kUser:
      return r.user;
    case kFields:
      return r.fields;
    default:
      return r.context;
  }
}

// Column `c` of rows[order[0]], rows[order[1]], ...
std::string EncodeColumn(Column c, const std::vector<ArchiveRow>& rows,
                         const std::vector<uint32_t>& order) {
  std::string out;
  if (c == kTs) {
    int64_t previous = 0;
    for (uint32_t i : order) {
      PutVarsint64(&out, rows[i].ts_ms - previous);
      previous = rows[i].ts_ms;
    }
  } else if (c == kType) {
    for (uint32_t i : order) out.push_back(static_cast<char>(rows[i].type));
  } else {
    for (uint32_t i : order) PutLengthPrefixed(&out, StringField(rows[i], c));
  }
  return out;
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
                 int zstd_level) {
  if (rows.empty()) return Status::InvalidArgument("a part needs at least one row");
  if (rows.size() > UINT32_MAX) return Status::TooLarge("a part holds at most 2^32 - 1 rows");
  // The sort permutes indices, not the ~200-byte rows. Stable: of two rows with the same time
  // and id, the later one (a newer delivery) stays later.
  std::vector<uint32_t> order(rows.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&rows](uint32_t a, uint32_t b) {
    const ArchiveRow& x = rows[a];
    const ArchiveRow& y = rows[b];
    return x.ts_ms != y.ts_ms ? x.ts_ms < y.ts_ms : x.id < y.id;
  });
  info->rows = rows.size();
  info->min_ts = rows[order.front()].ts_ms;
  info->max_ts = rows[order.back()].ts_ms;
  if (info->min_ts < info->hour_ms || info->max_ts >= info->hour_ms + kHourMs) {
    return Status::InvalidArgument("part rows must lie in the part's hour");
  }

  std::string file(kMagic, sizeof(kMagic));
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
    std::string raw = EncodeColumn(static_cast<Column>(c), rows, order);
    if (raw.size() > kMaxPartColumnBytes) {
      return Status::TooLarge(std::string("part column ") + kColumnNames[c] + " is over 2 GiB");
    }
    size_t at = file.size();
    file.resize(at + ZSTD_compressBound(raw.size()));
    size_t n =
        ZSTD_compress(file.data() + at, file.size() - at, raw.data(), raw.size(), zstd_level);
    if (ZSTD_isError(n)) {
      return Status::IoError(std::string("zstd: ") + ZSTD_getErrorName(n));
    }
    file.resize(at + n);
    PutLengthPrefixed(&footer, kColumnNames[c]);
    PutVarint64(&footer, at);
    PutVarint64(&footer, n);
    PutVarint64(&footer, raw.size());
    PutFixed64(&footer, XXH3_64bits(file.data() + at, n));
  }
  file += footer;
  PutFixed32(&file, static_cast<uint32_t>(footer.size()));
  PutFixed64(&file, XXH3_64bits(footer.data(), footer.size()));
  file.append(kMagic, sizeof(kMagic));
  info->file_bytes = file.size();
  return WriteFileAtomically(path, file, 0644);
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
  if (static_cast<uint8_t>(*p++) != kPartVersion) {
    return Status::Unsupported(path + ": part file of an unknown version; a newer Vigil wrote it");
  }
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
  if (ncolumns != kColumnCount) return corrupt("unexpected columns");
  if (r.info_.rows == 0 || r.info_.min_ts > r.info_.max_ts) return corrupt("bad row range");
  for (uint32_t c = 0; c < kColumnCount; ++c) {
    std::string_view name;
    ColumnRef& ref = r.columns_[c];
    if (!GetLengthPrefixed(p, end, &name) || !GetVarint64(p, end, &ref.offset) ||
        !GetVarint64(p, end, &ref.compressed) || !GetVarint64(p, end, &ref.raw) || end - p < 8) {
      return corrupt("truncated column directory");
    }
    ref.hash = DecodeFixed64(p);
    p += 8;
    if (name != kColumnNames[c]) return corrupt("unexpected column " + std::string(name));
    if (ref.offset < sizeof(kMagic) || ref.offset > footer_at ||
        ref.compressed > footer_at - ref.offset || ref.raw > kMaxPartColumnBytes) {
      return corrupt("column out of bounds");
    }
  }
  if (p != end) return corrupt("trailing footer bytes");
  return r;
}

Status PartReader::Read(ColumnMask mask, PartColumns* out) {
  *out = PartColumns();
  out->rows_ = info_.rows;
  out->mask_ = mask & kAllColumns;
  Fd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno("open " + path_, errno);
  auto corrupt = [&](const char* column, const char* what) {
    return Status::Corruption(path_ + ": damaged part file (column " + column + ": " + what + ")");
  };
  const size_t rows = info_.rows;
  std::string compressed;
  for (uint32_t c = 0; c < kColumnCount; ++c) {
    if ((out->mask_ & (1u << c)) == 0) continue;
    const ColumnRef& ref = columns_[c];
    compressed.resize(ref.compressed);
    VIGIL_RETURN_IF_ERROR(PreadAll(fd.get(), ref.offset, ref.compressed, compressed.data(), path_));
    if (XXH3_64bits(compressed.data(), compressed.size()) != ref.hash) {
      return corrupt(kColumnNames[c], "checksum");
    }
    // String columns keep this buffer and point into it, so it is decompressed into place.
    std::string& raw = out->strings_[c].data;
    raw.resize(ref.raw);
    size_t n = ZSTD_decompress(raw.data(), raw.size(), compressed.data(), compressed.size());
    if (ZSTD_isError(n) || n != ref.raw) return corrupt(kColumnNames[c], "does not decompress");
    const char* p = raw.data();
    const char* end = p + raw.size();
    if (c == kTs) {
      // Each row takes at least one byte: a row count beyond the bytes is damage, not a
      // reason to allocate.
      if (rows > raw.size()) return corrupt("ts", "too few values");
      out->ts_.resize(rows);
      int64_t previous = 0;
      for (size_t i = 0; i < rows; ++i) {
        int64_t delta;
        if (!GetVarsint64(p, end, &delta)) return corrupt("ts", "truncated");
        previous += delta;
        if (previous < info_.min_ts || previous > info_.max_ts ||
            (i > 0 && previous < out->ts_[i - 1])) {
          return corrupt("ts", "time outside the footer's range or unsorted");
        }
        out->ts_[i] = previous;
      }
    } else if (c == kType) {
      if (raw.size() != rows) return corrupt("type", "wrong length");
      out->types_.assign(raw.begin(), raw.end());
      for (uint8_t t : out->types_) {
        if (t < 1 || t > kEventTypeCount) return corrupt("type", "unknown event type");
      }
      p = end;
    } else {
      if (rows > raw.size()) return corrupt(kColumnNames[c], "too few values");
      PartColumns::StringColumn& s = out->strings_[c];
      s.values.resize(rows);
      for (size_t i = 0; i < rows; ++i) {
        std::string_view v;
        if (!GetLengthPrefixed(p, end, &v)) return corrupt(kColumnNames[c], "truncated");
        s.values[i] = {static_cast<uint32_t>(v.data() - raw.data()),
                       static_cast<uint32_t>(v.size())};
      }
    }
    if (p != end) return corrupt(kColumnNames[c], "trailing bytes");
    if (c == kTs || c == kType) std::string().swap(raw);  // decoded into ts_ / types_
  }
  return Status::Ok();
}

}  // namespace vigil::archive
