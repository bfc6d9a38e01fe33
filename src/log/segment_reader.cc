// Buffered sequential segment reading.
#include "log/segment_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace vigil::log {

namespace {
// Large enough to amortise syscalls over many records, small enough that a tail-follower reading
// a few new records does not pull in (and copy) a megabyte each time.
constexpr size_t kReadChunk = 256 << 10;
}  // namespace

SegmentReader::SegmentReader(int fd, SegmentHeader header)
    : fd_(fd), header_(header), expected_offset_(header.base_offset) {}

SegmentReader::~SegmentReader() { ::close(fd_); }

Result<std::unique_ptr<SegmentReader>> SegmentReader::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  char buf[kSegmentHeaderSize];
  ssize_t n = ::pread(fd, buf, sizeof(buf), 0);
  SegmentHeader header;
  if (n != static_cast<ssize_t>(sizeof(buf)) ||
      !DecodeSegmentHeader(std::string_view(buf, sizeof(buf)), &header)) {
    ::close(fd);
    return Status::Corruption(path + ": not a Vigil log segment (missing or bad header)");
  }
  return std::unique_ptr<SegmentReader>(new SegmentReader(fd, header));
}

void SegmentReader::Seek(uint64_t position, uint64_t offset) {
  position_ = position;
  expected_offset_ = offset;
  buffer_len_ = 0;
  buffer_start_ = position;
}

bool SegmentReader::Fill(size_t n) {
  if (position_ >= buffer_start_ && position_ + n <= buffer_start_ + buffer_len_) return true;
  // Keep the unread part, then read more after it.
  size_t keep = 0;
  if (position_ >= buffer_start_ && position_ <= buffer_start_ + buffer_len_) {
    keep = static_cast<size_t>(buffer_start_ + buffer_len_ - position_);
    if (keep > 0) std::memmove(buffer_.get(), buffer_.get() + (position_ - buffer_start_), keep);
  }
  buffer_start_ = position_;
  buffer_len_ = keep;
  while (buffer_len_ < n) {
    const size_t want = std::max(n - buffer_len_, kReadChunk);
    if (buffer_len_ + want > buffer_capacity_) {
      // Not std::string::resize: that would zero every byte pread then overwrites.
      std::unique_ptr<char[]> bigger(new char[buffer_len_ + want]);
      if (buffer_len_ > 0) std::memcpy(bigger.get(), buffer_.get(), buffer_len_);
      buffer_ = std::move(bigger);
      buffer_capacity_ = buffer_len_ + want;
    }
    ssize_t got = ::pread(fd_, buffer_.get() + buffer_len_, want, buffer_start_ + buffer_len_);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return buffer_len_ >= n;
    buffer_len_ += static_cast<size_t>(got);
  }
  return true;
}

SegmentReader::Outcome SegmentReader::Next(LogRecord* record, bool read_payload) {
  if (!Fill(kRecordHeaderSize)) {
    return buffer_len_ == position_ - buffer_start_ ? Outcome::kEnd : Outcome::kTorn;
  }
  RecordHeader h;
  std::string_view head(buffer_.get() + (position_ - buffer_start_), kRecordHeaderSize);
  // The zero tail an appending writer keeps ahead of its records (segment_writer.h) ends the
  // records; zeros followed by anything else are damage. A record that fails its checks is a
  // write that did not complete (as a file ending inside a record is) when a whole page of it is
  // still zeros and only zeros follow it: a crash persisted some of its pages and not the others.
  if (head.find_first_not_of('\0') == std::string_view::npos) {
    return RestIsZero(position_) ? Outcome::kEnd : Outcome::kCorrupt;
  }
  auto unfinished = [&](std::string_view bytes) {
    return HasZeroPage(bytes) && RestIsZero(position_ + bytes.size()) ? Outcome::kTorn
                                                                      : Outcome::kCorrupt;
  };
  if (DecodeRecordHeader(head, &h) != RecordCheck::kOk) return unfinished(head);
  size_t total = kRecordHeaderSize + h.payload_size;
  if (read_payload) {
    if (!Fill(total)) return Outcome::kTorn;
    std::string_view whole(buffer_.get() + (position_ - buffer_start_), total);
    if (!RecordCrcMatches(h, whole)) return unfinished(whole);
    record->payload.assign(whole.data() + kRecordHeaderSize, h.payload_size);
  } else {
    // The record must still be complete in the file to count.
    if (position_ + total > file_size_) {
      off_t end = ::lseek(fd_, 0, SEEK_END);
      file_size_ = end < 0 ? 0 : static_cast<uint64_t>(end);
      if (position_ + total > file_size_) return Outcome::kTorn;
    }
    record->payload.clear();
  }
  if (h.offset != expected_offset_) return Outcome::kCorrupt;
  record->offset = h.offset;
  record->append_time_ms = h.append_time_ms;
  record->dedup_key = h.dedup_key;
  record->item_count = h.item_count;
  position_ += total;
  ++expected_offset_;
  return Outcome::kRecord;
}

bool SegmentReader::HasZeroPage(std::string_view bytes) const {
  constexpr uint64_t kPage = 4096;
  const uint64_t end = position_ + bytes.size();
  for (uint64_t at = (position_ + kPage - 1) / kPage * kPage; at + kPage <= end; at += kPage) {
    std::string_view page = bytes.substr(at - position_, kPage);
    if (page.find_first_not_of('\0') == std::string_view::npos) return true;
  }
  return false;
}

bool SegmentReader::RestIsZero(uint64_t from) {
  char chunk[16 << 10];
  for (uint64_t at = from;;) {
    ssize_t n = ::pread(fd_, chunk, sizeof(chunk), static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0;
    if (std::string_view(chunk, static_cast<size_t>(n)).find_first_not_of('\0') !=
        std::string_view::npos) {
      return false;
    }
    at += static_cast<uint64_t>(n);
  }
}

}  // namespace vigil::log
