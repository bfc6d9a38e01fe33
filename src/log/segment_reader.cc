// Buffered sequential segment reading.
#include "log/segment_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace vigil::log {

namespace {
constexpr size_t kReadChunk = 1 << 20;
}

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
  buffer_.clear();
  buffer_start_ = position;
}

bool SegmentReader::Fill(size_t n) {
  if (position_ >= buffer_start_ && position_ + n <= buffer_start_ + buffer_.size()) return true;
  // Keep the unread part, then read more after it.
  if (position_ >= buffer_start_ && position_ <= buffer_start_ + buffer_.size()) {
    buffer_.erase(0, position_ - buffer_start_);
  } else {
    buffer_.clear();
  }
  buffer_start_ = position_;
  while (buffer_.size() < n) {
    size_t want = std::max(n - buffer_.size(), kReadChunk);
    size_t old = buffer_.size();
    buffer_.resize(old + want);
    ssize_t got = ::pread(fd_, buffer_.data() + old, want, buffer_start_ + old);
    if (got < 0 && errno == EINTR) {
      buffer_.resize(old);
      continue;
    }
    buffer_.resize(old + std::max<ssize_t>(got, 0));
    if (got <= 0) return buffer_.size() >= n;
  }
  return true;
}

SegmentReader::Outcome SegmentReader::Next(LogRecord* record, bool read_payload) {
  if (!Fill(kRecordHeaderSize)) {
    return buffer_.size() == position_ - buffer_start_ ? Outcome::kEnd : Outcome::kTorn;
  }
  RecordHeader h;
  std::string_view head(buffer_.data() + (position_ - buffer_start_), kRecordHeaderSize);
  if (DecodeRecordHeader(head, &h) != RecordCheck::kOk) return Outcome::kCorrupt;
  size_t total = kRecordHeaderSize + h.payload_size;
  if (read_payload) {
    if (!Fill(total)) return Outcome::kTorn;
    std::string_view whole(buffer_.data() + (position_ - buffer_start_), total);
    if (!RecordCrcMatches(h, whole)) return Outcome::kCorrupt;
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

}  // namespace vigil::log
