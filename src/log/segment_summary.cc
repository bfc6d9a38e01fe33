// Segment summaries: encoding, checked decoding, reading and writing. See segment_summary.h.
#include "log/segment_summary.h"

#include <fcntl.h>
#include <libdeflate.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/coding.h"
#include "common/file_util.h"
#include "log/record_format.h"

namespace vigil::log {

namespace {

constexpr char kMagic[8] = {'V', 'I', 'G', 'I', 'L', 'S', 'U', 'M'};
constexpr uint32_t kVersion = 1;
// Magic, version, head size, 7 u64 fields, index count, key count, keys bytes, reserved.
constexpr size_t kFixedHeadSize = 8 + 4 + 4 + 7 * 8 + 4 * 4;
constexpr size_t kIndexEntrySize = 16;
constexpr size_t kCrcSize = 4;
// A key takes its 8 bytes and at least one byte for each of its two deltas, at most ten.
constexpr size_t kMinKeyBytes = 8 + 1 + 1;
constexpr size_t kMaxKeyBytes = 8 + 2 * kMaxVarint64Bytes;

uint32_t Crc(std::string_view bytes) { return libdeflate_crc32(0, bytes.data(), bytes.size()); }

Status Bad(const std::string& what) { return Status::Corruption("segment summary: " + what); }

// The most records a segment file of `file_size` bytes can hold.
uint64_t MaxRecords(uint64_t file_size) {
  return file_size <= kSegmentHeaderSize ? 0 : (file_size - kSegmentHeaderSize) / kRecordHeaderSize;
}

// pread of exactly `n` bytes at `at` into `out`.
Status ReadAt(int fd, uint64_t at, size_t n, std::string* out, const std::string& path) {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, out->data() + done, n - done, static_cast<off_t>(at + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::FromErrno("read " + path, errno);
    if (r == 0) return Bad(path + " is shorter than it says");
    done += static_cast<size_t>(r);
  }
  return Status::Ok();
}

}  // namespace

std::string SummaryPath(const std::string& segment_path) {
  std::string_view stem = segment_path;
  if (stem.ends_with(".seg")) stem.remove_suffix(4);
  return std::string(stem) + ".summary";
}

void SummaryKeys::Add(uint64_t key, uint64_t offset, int64_t time_ms) {
  PutFixed64(&bytes_, key);
  PutVarint64(&bytes_, offset - prev_offset_);
  // In unsigned arithmetic (as the decoder adds it back): any two times, no overflow.
  PutVarsint64(&bytes_, static_cast<int64_t>(static_cast<uint64_t>(time_ms) -
                                             static_cast<uint64_t>(prev_time_ms_)));
  prev_offset_ = offset;
  prev_time_ms_ = time_ms;
  ++count_;
}

std::string EncodeSegmentSummary(const SegmentSummary& s) {
  SummaryKeys keys(s.base_offset, s.created_ms);
  for (const SegmentSummary::Key& k : s.keys) keys.Add(k.key, k.offset, k.time_ms);
  return EncodeSegmentSummary(s, keys);
}

std::string EncodeSegmentSummary(const SegmentSummary& s, const SummaryKeys& keys) {
  std::string out;
  const size_t head_size = kFixedHeadSize + s.index.size() * kIndexEntrySize + kCrcSize;
  out.reserve(head_size + keys.bytes().size() + kCrcSize);
  out.append(kMagic, sizeof(kMagic));
  PutFixed32(&out, kVersion);
  PutFixed32(&out, static_cast<uint32_t>(head_size));
  PutFixed64(&out, s.base_offset);
  PutFixed64(&out, static_cast<uint64_t>(s.created_ms));
  PutFixed64(&out, s.file_size);
  PutFixed64(&out, s.bytes);
  PutFixed64(&out, s.end_offset);
  PutFixed64(&out, s.items);
  PutFixed64(&out, static_cast<uint64_t>(s.last_append_ms));
  PutFixed32(&out, static_cast<uint32_t>(s.index.size()));
  PutFixed32(&out, keys.count());
  PutFixed32(&out, static_cast<uint32_t>(keys.bytes().size()));
  PutFixed32(&out, 0);
  for (const auto& [offset, position] : s.index) {
    PutFixed64(&out, offset);
    PutFixed64(&out, position);
  }
  PutFixed32(&out, Crc(out));
  out.append(keys.bytes());
  PutFixed32(&out, Crc(keys.bytes()));
  return out;
}

Status DecodeSegmentSummary(std::string_view bytes, bool with_keys, SegmentSummary* out) {
  *out = SegmentSummary();
  if (bytes.size() < kFixedHeadSize + kCrcSize) return Bad("too short");
  const char* p = bytes.data();
  if (std::string_view(p, sizeof(kMagic)) != std::string_view(kMagic, sizeof(kMagic))) {
    return Bad("not a segment summary");
  }
  if (DecodeFixed32(p + 8) != kVersion) return Bad("unknown version");
  const uint64_t head_size = DecodeFixed32(p + 12);
  SegmentSummary s;
  s.base_offset = DecodeFixed64(p + 16);
  s.created_ms = static_cast<int64_t>(DecodeFixed64(p + 24));
  s.file_size = DecodeFixed64(p + 32);
  s.bytes = DecodeFixed64(p + 40);
  s.end_offset = DecodeFixed64(p + 48);
  s.items = DecodeFixed64(p + 56);
  s.last_append_ms = static_cast<int64_t>(DecodeFixed64(p + 64));
  const uint64_t index_count = DecodeFixed32(p + 72);
  const uint64_t key_count = DecodeFixed32(p + 76);
  const uint64_t keys_bytes = DecodeFixed32(p + 80);
  if (head_size != kFixedHeadSize + index_count * kIndexEntrySize + kCrcSize ||
      head_size > bytes.size()) {
    return Bad("head size disagrees with its index");
  }
  if (DecodeFixed32(p + head_size - kCrcSize) != Crc(bytes.substr(0, head_size - kCrcSize))) {
    return Bad("head CRC mismatch");
  }
  const uint64_t records = s.end_offset - s.base_offset;
  if (s.end_offset < s.base_offset || s.bytes < kSegmentHeaderSize || s.bytes > s.file_size ||
      records > MaxRecords(s.bytes) || index_count > records || key_count > records) {
    return Bad("counts the segment cannot hold");
  }
  s.index.reserve(index_count);
  for (uint64_t i = 0; i < index_count; ++i) {
    const char* e = p + kFixedHeadSize + i * kIndexEntrySize;
    const uint64_t offset = DecodeFixed64(e), position = DecodeFixed64(e + 8);
    if (offset < s.base_offset || offset >= s.end_offset || position < kSegmentHeaderSize ||
        position >= s.bytes ||
        (!s.index.empty() &&
         (offset <= s.index.back().first || position <= s.index.back().second))) {
      return Bad("index entry out of order or range");
    }
    s.index.emplace_back(offset, position);
  }
  if (with_keys) {
    if (bytes.size() != head_size + keys_bytes + kCrcSize) return Bad("keys size disagrees");
    const std::string_view keys = bytes.substr(head_size, keys_bytes);
    if (DecodeFixed32(keys.data() + keys.size()) != Crc(keys)) return Bad("keys CRC mismatch");
    if (key_count * kMinKeyBytes > keys_bytes || keys_bytes > key_count * kMaxKeyBytes) {
      return Bad("key count disagrees with the keys' size");
    }
    s.keys.reserve(key_count);
    const char* k = keys.data();
    const char* end = k + keys.size();
    uint64_t offset = s.base_offset;
    int64_t time = s.created_ms;
    for (uint64_t i = 0; i < key_count; ++i) {
      uint64_t delta;
      int64_t time_delta;
      if (end - k < 8) return Bad("keys end early");
      const uint64_t key = DecodeFixed64(k);
      k += 8;
      if (!GetVarint64(k, end, &delta) || !GetVarsint64(k, end, &time_delta)) {
        return Bad("keys end early");
      }
      if (key == 0 || (i > 0 && delta == 0) || delta >= s.end_offset - offset) {
        return Bad("key out of order or range");
      }
      offset += delta;
      time = static_cast<int64_t>(static_cast<uint64_t>(time) + static_cast<uint64_t>(time_delta));
      s.keys.push_back({key, offset, time});
    }
    if (k != end) return Bad("bytes after the last key");
  }
  *out = std::move(s);
  return Status::Ok();
}

Status ReadSegmentSummary(const std::string& path, uint64_t base, std::optional<uint64_t> file_size,
                          int64_t keys_since_ms, SegmentSummary* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path);
    return Status::FromErrno("open " + path, errno);
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("stat " + path, errno);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  // Size cap: what a summary of a segment this big can take, so that a damaged or foreign file
  // costs no more than the segment itself.
  const uint64_t cap = !file_size
                           ? kMaxGoneSummaryBytes
                           : kFixedHeadSize + 2 * kCrcSize +
                                 (MaxRecords(*file_size) + 1) * (kIndexEntrySize + kMaxKeyBytes);
  if (size < kFixedHeadSize + kCrcSize || size > cap) return Bad(path + " has an impossible size");
  std::string bytes;
  VIGIL_RETURN_IF_ERROR(ReadAt(fd, 0, kFixedHeadSize, &bytes, path));
  const uint64_t head_size = DecodeFixed32(bytes.data() + 12);
  const uint64_t keys_bytes = DecodeFixed32(bytes.data() + 80);
  if (head_size > size || head_size + keys_bytes + kCrcSize != size) {
    return Bad(path + " is not as long as it says");
  }
  VIGIL_RETURN_IF_ERROR(ReadAt(fd, 0, head_size, &bytes, path));
  VIGIL_RETURN_IF_ERROR(DecodeSegmentSummary(bytes, /*with_keys=*/false, out));
  if (out->base_offset != base || (file_size && out->file_size != *file_size)) {
    return Bad(path + " describes another state of its segment");
  }
  if (out->keys.empty() && DecodeFixed32(bytes.data() + 76) > 0 &&
      out->last_append_ms >= keys_since_ms) {
    VIGIL_RETURN_IF_ERROR(ReadAt(fd, 0, size, &bytes, path));
    VIGIL_RETURN_IF_ERROR(DecodeSegmentSummary(bytes, /*with_keys=*/true, out));
    if (out->base_offset != base || (file_size && out->file_size != *file_size)) {
      return Bad(path + " describes another state of its segment");
    }
  }
  return Status::Ok();
}

Status WriteSegmentSummary(const std::string& path, const SegmentSummary& s,
                           const SummaryKeys& keys) {
  const std::string tmp = path + ".tmp";
  VIGIL_RETURN_IF_ERROR(WriteFile(tmp, EncodeSegmentSummary(s, keys), 0644));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = Status::FromErrno("rename " + tmp, errno);
    ::unlink(tmp.c_str());
    return st;
  }
  return Status::Ok();
}

}  // namespace vigil::log
