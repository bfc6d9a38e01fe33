// SegmentReader: sequential, buffered reading of one segment file, safe on damaged files.
//
// Used by recovery (to find where the valid records end), by LocalLog::Read and by the
// `vigil log` tools, which read while the server appends: a record being written shows up as a
// torn tail and reading simply stops there. Not thread-safe; one reader per thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "log/log_store.h"
#include "log/record_format.h"

namespace vigil::log {

class SegmentReader {
 public:
  enum class Outcome {
    kRecord,   // *record holds the next record
    kEnd,      // clean end of the records: of the file, or an all-zero tail
    kTorn,     // the file ends inside a record, or a record fails its checks with a whole page
               // of it and everything after it zeros (a write in progress, or a crash mid-write)
    kCorrupt,  // a complete record fails its checks (CRC, length, offset sequence)
  };

  ~SegmentReader();
  SegmentReader(const SegmentReader&) = delete;
  SegmentReader& operator=(const SegmentReader&) = delete;

  // Corruption if the file is shorter than a header or the header is not a segment header.
  static Result<std::unique_ptr<SegmentReader>> Open(const std::string& path);

  const SegmentHeader& header() const { return header_; }
  // With `read_payload` false the payload is skipped (its CRC is then not checked).
  Outcome Next(LogRecord* record, bool read_payload = true);
  // Offset of the record Next reads next.
  uint64_t next_offset() const { return expected_offset_; }
  // File position of the next record; after kTorn/kCorrupt, where the valid records end.
  uint64_t position() const { return position_; }
  // Continues at `position` (a record boundary, e.g. from a sparse index) expecting `offset`.
  void Seek(uint64_t position, uint64_t offset);

 private:
  SegmentReader(int fd, SegmentHeader header);
  // Makes bytes [position_, position_ + n) available in buffer_; false at end of file.
  bool Fill(size_t n);
  // True if every byte from file position `from` to the end of the file is zero (or none is
  // left).
  bool RestIsZero(uint64_t from);
  // True if `bytes` (the file's bytes from position_) hold a whole 4 KiB page of the file that
  // is all zeros. (A smaller zero piece proves too little: a damaged record can end in zeros.)
  bool HasZeroPage(std::string_view bytes) const;

  int fd_;
  SegmentHeader header_;
  uint64_t position_ = kSegmentHeaderSize;
  uint64_t expected_offset_;
  std::unique_ptr<char[]> buffer_;
  size_t buffer_capacity_ = 0;
  size_t buffer_len_ = 0;      // bytes of buffer_ holding file data
  uint64_t buffer_start_ = 0;  // file position of buffer_[0]
  uint64_t file_size_ = 0;     // last size seen, for skipping payloads
};

}  // namespace vigil::log
