// SegmentWriter: appends encoded records to one segment file and makes them durable.
//
// Owned and used by LocalLog's writer thread only (but PrepareSpare, a static function, which
// its spare thread runs). A failed write (ENOSPC, EIO) truncates the file back to its size before
// the write, so a segment never holds a partial record that was not also a crash's torn tail.
//
// Zero tail: appends overwrite zeros written ahead of them (a chunk that doubles from 64 KiB to
// 256 KiB as the segment fills). An fdatasync after an append that grows the file must also
// make the file's new size and blocks durable (its inode and allocation metadata, through the
// journal where the filesystem has one); after an overwrite of blocks already written, it
// flushes the data alone. On this machine's ext4 (mounted without a journal) that halved an
// fdatasync of nine records (~200 → ~100 µs, and its CPU ~75 → ~42 µs), the cost of every
// acknowledged batch. A segment's records therefore end where its first all-zero record header is
// (SegmentReader reads the zero tail as the end); Seal() cuts the tail off a segment that is
// done, and OpenForAppend() off the one recovery reopens.
//
// Spares: the fdatasync after a chunk of zeros also writes the chunk and the new allocation out,
// and every batch of that round waits on it: with 256 KiB chunks, one round in fifteen, those
// fdatasyncs took 0.83 ms on average against 0.19 ms, and held more than half of the ones over
// 2 ms (half-peak load, 5 s). So a partition that fills its segments fast has the next one
// written as zeros ahead of time, by another thread (PrepareSpare), and rolls into it
// (CreateFromSpare): its appends then only overwrite zeros that are already on disk.
//
// Direct zeros while saturated, whole pages always: written through the page cache, each 4 KiB
// of a spare costs a page allocated, cleared, marked dirty and written back: 11 % of a core for
// the spare thread at peak ingest, where the CPUs are the limit. With O_DIRECT from one static
// buffer it costs almost nothing, but the disk then takes the zeros back to back, and the
// fdatasyncs that acknowledgements wait on suffered: at half the peak, 47-69 of them over
// 2.5 ms in 12 s against 16-19, and a p99 of 4.7-5.3 ms against 2.9-4.2 (three A/B pairs). So
// PrepareSpare goes direct piece by piece while the caller says so (Partition: while ingest
// saturates the CPUs, common/ingest_burst.h) and through the page cache otherwise. Peak ingest,
// five A/B pairs in a slow phase of the VM: 31.6 / 33.1 / 28.3 / 32.2 / 29.8k req/s against
// 27.9 / 27.8 / 27.9 / 28.3 / 28.7k; at half the peak it changes nothing.
//
// Appends then land on pages the cache does not hold, and a write to part of such a page makes
// the kernel read the page from the disk first, synchronously (measured: 4 KiB read per partial
// write to a page written with O_DIRECT). So Write() pads each append with zeros to the end of
// its last page: every page is begun by a write that covers it, and the partial last page stays
// cached for the next append.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "log/record_format.h"

namespace vigil::log {

// The page size the log's files are written and dropped from the page cache in.
inline constexpr uint64_t kPageBytes = 4096;

class SegmentWriter {
 public:
  ~SegmentWriter();
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Creates `path` with a header, fsyncs it and its directory.
  static Result<std::unique_ptr<SegmentWriter>> Create(const std::string& path,
                                                       const SegmentHeader& header);
  // Writes `path` as `size` bytes of zeros (rounded up to whole pages) and fsyncs it: a spare
  // for CreateFromSpare. Each 256 KiB piece goes with O_DIRECT while `direct_now()` says so (and
  // the filesystem takes it), else through the page cache. Any thread (it touches no writer). On
  // failure `path` is removed. `stop`, if set while it writes, ends it early with Unavailable.
  static Status PrepareSpare(const std::string& path, uint64_t size, const std::atomic<bool>* stop,
                             const std::function<bool()>& direct_now);
  // Makes the spare at `spare_path` (PrepareSpare) segment `path`: writes the header over its
  // first bytes, fsyncs, renames it to `path` and fsyncs the directory. The zeros after the
  // header are the new segment's zero tail. On failure the spare is removed and nothing is left
  // at `path`.
  static Result<std::unique_ptr<SegmentWriter>> CreateFromSpare(const std::string& spare_path,
                                                                const std::string& path,
                                                                const SegmentHeader& header);
  // Opens an existing segment for appending after truncating it to `valid_size` bytes.
  static Result<std::unique_ptr<SegmentWriter>> OpenForAppend(const std::string& path,
                                                              uint64_t valid_size);

  // Appends `bytes` (whole records). Not durable until Sync().
  Status Write(std::string_view bytes);
  Status Sync();
  // Truncates the zero tail and syncs: the segment ends at its last record. Call before rolling
  // to a new segment; no Write() after.
  Status Seal();
  uint64_t size() const { return size_; }  // where the records end (the zero tail excluded)
  const std::string& path() const { return path_; }

 private:
  SegmentWriter(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size), file_size_(size) {}
  // Writes zeros past file_size_ so that the file holds at least `end` bytes.
  Status Prefill(uint64_t end);
  // Puts the file back at `size` bytes after a failed write.
  void RollBack(uint64_t size);
  // Writes [data, data + n) at file position `at`; *written: how much, also on failure.
  Status WriteAt(const char* data, size_t n, uint64_t at, size_t* written);
  // Writes all of iov[0, count) at file position `at` (consumes `iov`); *written: how much,
  // also on failure.
  Status WriteVecAt(struct iovec* iov, int count, uint64_t at, size_t* written);

  // The fdatasync after an extension writes its zeros out too: 4 MiB chunks made those a
  // p99 of 9 ms at peak load; 256 KiB measured best (64 KiB and 1 MiB a little worse).
  static constexpr uint64_t kMinPrefill = 64 << 10;
  static constexpr uint64_t kMaxPrefill = 256 << 10;

  int fd_;
  std::string path_;
  uint64_t size_;
  uint64_t file_size_;    // size_ plus the zero tail
  uint64_t prefill_ = 0;  // the last chunk of zeros written
};

}  // namespace vigil::log
