// Segment file creation, appends with rollback, and fdatasync.
#include "log/segment_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/file_util.h"

namespace vigil::log {

SegmentWriter::~SegmentWriter() { ::close(fd_); }

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

namespace {
// Zeros for the tail, written a piece at a time.
constexpr size_t kZeroBytes = 64 << 10;
const char kZeros[kZeroBytes] = {};
}  // namespace

void SegmentWriter::RollBack(uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) == 0) file_size_ = size;
}

Status SegmentWriter::WriteAt(const char* data, size_t n, uint64_t at) {
  for (size_t done = 0; done < n;) {
    ssize_t w = ::pwrite(fd_, data + done, n - done, static_cast<off_t>(at + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      // Roll back the partial write so the file ends on a record boundary.
      RollBack(size_);
      return Status::FromErrno("write segment " + path_, err);
    }
    done += static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status SegmentWriter::Prefill(uint64_t end) {
  prefill_ = prefill_ == 0 ? kMinPrefill : std::min(prefill_ * 2, kMaxPrefill);
  const uint64_t target = end + prefill_;
  for (uint64_t at = file_size_; at < target; at += kZeroBytes) {
    VIGIL_RETURN_IF_ERROR(
        WriteAt(kZeros, static_cast<size_t>(std::min<uint64_t>(kZeroBytes, target - at)), at));
  }
  file_size_ = target;
  return Status::Ok();
}

Status SegmentWriter::Write(std::string_view bytes) {
  if (size_ + bytes.size() > file_size_) VIGIL_RETURN_IF_ERROR(Prefill(size_ + bytes.size()));
  VIGIL_RETURN_IF_ERROR(WriteAt(bytes.data(), bytes.size(), size_));
  size_ += bytes.size();
  return Status::Ok();
}

Status SegmentWriter::Sync() {
  if (::fdatasync(fd_) != 0) return Status::FromErrno("fdatasync segment " + path_, errno);
  return Status::Ok();
}

Status SegmentWriter::Seal() {
  if (file_size_ == size_) return Status::Ok();
  if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
    return Status::FromErrno("truncate segment " + path_, errno);
  }
  file_size_ = size_;
  return Sync();
}

}  // namespace vigil::log
