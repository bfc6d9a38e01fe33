// SegmentWriter: appends encoded records to one segment file and makes them durable.
//
// Owned and used by LocalLog's writer thread only. A failed write (ENOSPC, EIO) truncates the
// file back to its size before the write, so a segment never holds a partial record that was
// not also a crash's torn tail.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "log/record_format.h"

namespace vigil::log {

class SegmentWriter {
 public:
  ~SegmentWriter();
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Creates `path` with a header, fsyncs it and its directory.
  static Result<std::unique_ptr<SegmentWriter>> Create(const std::string& path,
                                                       const SegmentHeader& header);
  // Opens an existing segment for appending after truncating it to `valid_size` bytes.
  static Result<std::unique_ptr<SegmentWriter>> OpenForAppend(const std::string& path,
                                                              uint64_t valid_size);

  // Appends `bytes` (whole records). Not durable until Sync().
  Status Write(std::string_view bytes);
  Status Sync();
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  SegmentWriter(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}

  int fd_;
  std::string path_;
  uint64_t size_;
};

}  // namespace vigil::log
