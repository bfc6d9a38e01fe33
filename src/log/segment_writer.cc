// Segment file creation, appends with rollback, and fdatasync.
#include "log/segment_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "common/file_util.h"

namespace vigil::log {

namespace {
// Zeros for the tail, written a piece at a time.
constexpr size_t kZeroBytes = 256 << 10;
alignas(4096) const char kZeros[kZeroBytes] = {};
// A spare's zeros go to the disk kSpareFlushBytes at a time, each written out before the next:
// an acknowledgement's fdatasync then never queues behind more of them. Handed over without
// waiting, tens of MiB at once, they took the p99 at peak ingest from 4 ms to 28-38 ms.
constexpr uint64_t kSpareFlushBytes = 256 << 10;
}  // namespace

SegmentWriter::~SegmentWriter() { ::close(fd_); }

Status SegmentWriter::PrepareSpare(const std::string& path, uint64_t size,
                                   const std::atomic<bool>* stop,
                                   const std::function<bool()>& direct_now) {
  size = (size + kPageBytes - 1) & ~(kPageBytes - 1);  // direct writes go in whole pages
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("create spare segment " + path, errno);
  SegmentWriter w(fd, path, 0);  // closes fd
  const int flags = ::fcntl(fd, F_GETFL);
  bool can_direct = flags >= 0, direct = false;
  Status st;
  uint64_t at = 0, flushed = 0;
  while (at < size && st.ok()) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      st = Status::Unavailable("log is shutting down");
      break;
    }
    const bool want_direct = can_direct && direct_now();
    if (want_direct != direct) {
      if (::fcntl(fd, F_SETFL, want_direct ? flags | O_DIRECT : flags) == 0) {
        direct = want_direct;
      } else {
        can_direct = false;  // a filesystem without O_DIRECT
      }
    }
    size_t written = 0;
    st = w.WriteAt(kZeros, static_cast<size_t>(std::min<uint64_t>(kZeroBytes, size - at)), at,
                   &written);
    if (!st.ok() && direct && written == 0 && can_direct) {
      // A filesystem that takes O_DIRECT but not these writes: this piece again, through the
      // page cache (a real error, a full disk, fails there too, and ends the spare).
      can_direct = false;
      st = Status::Ok();
      continue;
    }
    at += written;
    // Buffered pieces go to the disk a piece at a time (direct ones are there already).
    if (at - flushed >= kSpareFlushBytes || at == size) {
      (void)::sync_file_range(
          fd, static_cast<off_t>(flushed), static_cast<off_t>(at - flushed),
          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
      flushed = at;
    }
  }
  // Also after direct writes: the disk's write cache, the file's size and its new blocks.
  if (st.ok() && ::fdatasync(fd) != 0) st = Status::FromErrno("fdatasync spare " + path, errno);
  if (!st.ok()) ::unlink(path.c_str());
  return st;
}

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::CreateFromSpare(const std::string& spare_path,
                                                                      const std::string& path,
                                                                      const SegmentHeader& header) {
  int fd = ::open(spare_path.c_str(), O_WRONLY | O_CLOEXEC);
  struct stat st_buf;
  if (fd < 0 || ::fstat(fd, &st_buf) != 0) {
    Status st = Status::FromErrno("open spare segment " + spare_path, errno);
    if (fd >= 0) ::close(fd);
    ::unlink(spare_path.c_str());
    return st;
  }
  std::unique_ptr<SegmentWriter> w(new SegmentWriter(fd, spare_path, 0));
  w->file_size_ = static_cast<uint64_t>(st_buf.st_size);
  std::string head;
  EncodeSegmentHeader(header, &head);
  Status st = w->Write(head);
  if (st.ok()) st = w->Sync();
  // Never over an existing segment (Create's O_EXCL guards the same).
  if (st.ok() &&
      ::renameat2(AT_FDCWD, spare_path.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
    st = Status::FromErrno("rename " + spare_path + " to " + path, errno);
  }
  if (!st.ok()) {
    ::unlink(spare_path.c_str());
    return st;
  }
  w->path_ = path;
  st = SyncDir(path.substr(0, path.rfind('/')));
  if (!st.ok()) {
    w.reset();
    ::unlink(path.c_str());
    return st;
  }
  return w;
}

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::Create(const std::string& path,
                                                             const SegmentHeader& header) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("create segment " + path, errno);
  std::unique_ptr<SegmentWriter> w(new SegmentWriter(fd, path, 0));
  std::string head;
  EncodeSegmentHeader(header, &head);
  Status st = w->Write(head);
  if (st.ok()) st = w->Sync();
  if (st.ok()) st = SyncDir(path.substr(0, path.rfind('/')));
  if (!st.ok()) {
    w.reset();
    ::unlink(path.c_str());
    return st;
  }
  return w;
}

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::OpenForAppend(const std::string& path,
                                                                    uint64_t valid_size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open segment " + path, errno);
  off_t end = ::lseek(fd, 0, SEEK_END);
  if (end < 0 || static_cast<uint64_t>(end) != valid_size) {
    if (::ftruncate(fd, static_cast<off_t>(valid_size)) != 0 || ::fdatasync(fd) != 0) {
      int err = errno;
      ::close(fd);
      return Status::FromErrno("truncate segment " + path, err);
    }
  }
  if (::lseek(fd, static_cast<off_t>(valid_size), SEEK_SET) < 0) {
    int err = errno;
    ::close(fd);
    return Status::FromErrno("seek segment " + path, err);
  }
  return std::unique_ptr<SegmentWriter>(new SegmentWriter(fd, path, valid_size));
}

void SegmentWriter::RollBack(uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) == 0) file_size_ = size;
}

Status SegmentWriter::WriteAt(const char* data, size_t n, uint64_t at, size_t* written) {
  struct iovec iov = {const_cast<char*>(data), n};
  return WriteVecAt(&iov, 1, at, written);
}

Status SegmentWriter::WriteVecAt(struct iovec* iov, int count, uint64_t at, size_t* written) {
  *written = 0;
  for (;;) {
    while (count > 0 && iov->iov_len == 0) ++iov, --count;
    if (count == 0) return Status::Ok();
    ssize_t w = ::pwritev(fd_, iov, count, static_cast<off_t>(at + *written));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Status::FromErrno("write segment " + path_, w < 0 ? errno : EIO);
    *written += static_cast<size_t>(w);
    for (size_t left = static_cast<size_t>(w); left > 0;) {  // past what was written
      const size_t n = std::min(left, iov->iov_len);
      iov->iov_base = static_cast<char*>(iov->iov_base) + n;
      iov->iov_len -= n;
      left -= n;
      if (iov->iov_len == 0) ++iov, --count;
    }
  }
}

Status SegmentWriter::Prefill(uint64_t end) {
  const uint64_t chunk = prefill_ == 0 ? kMinPrefill : std::min(prefill_ * 2, kMaxPrefill);
  const uint64_t target = end + chunk;
  uint64_t at = file_size_;
  Status st;
  while (at < target && st.ok()) {
    size_t written = 0;
    st = WriteAt(kZeros, static_cast<size_t>(std::min<uint64_t>(kZeroBytes, target - at)), at,
                 &written);
    at += written;
  }
  if (at >= end) {
    // The round fits, even if a nearly full disk took less than a whole chunk of zeros: keep
    // them, and try the same chunk again next time.
    file_size_ = at;
    if (st.ok()) prefill_ = chunk;
    return Status::Ok();
  }
  RollBack(size_);
  return st;
}

Status SegmentWriter::Write(std::string_view bytes) {
  if (size_ + bytes.size() > file_size_) VIGIL_RETURN_IF_ERROR(Prefill(size_ + bytes.size()));
  // The new records, then zeros to the end of their last page (where the file has them): every
  // page this write starts is written whole, so the kernel never reads one from the disk to
  // merge, and the partial last page stays in the page cache for the next write to extend.
  const uint64_t end = size_ + bytes.size();
  const uint64_t to =
      std::max(end, std::min((end + kPageBytes - 1) & ~(kPageBytes - 1), file_size_));
  struct iovec iov[2] = {{const_cast<char*>(bytes.data()), bytes.size()},
                         {const_cast<char*>(kZeros), static_cast<size_t>(to - end)}};
  size_t written = 0;
  Status st = WriteVecAt(iov, 2, size_, &written);
  if (!st.ok()) {
    RollBack(size_);  // the file ends on a record boundary again
    return st;
  }
  size_ = end;
  return Status::Ok();
}

Status SegmentWriter::Sync() {
  if (::fdatasync(fd_) != 0) return Status::FromErrno("fdatasync segment " + path_, errno);
  return Status::Ok();
}

Status SegmentWriter::Seal() {
  if (file_size_ != size_) {
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      return Status::FromErrno("truncate segment " + path_, errno);
    }
    file_size_ = size_;
  }
  return Sync();  // every time: a Seal retried after a failed sync syncs again
}

}  // namespace vigil::log
