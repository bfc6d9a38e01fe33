// Segment file creation, appends with rollback, and fdatasync.
#include "log/segment_writer.h"

#include <fcntl.h>
#include <unistd.h>

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

Status SegmentWriter::Write(std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      // Roll back the partial write so the file ends on a record boundary.
      if (::ftruncate(fd_, static_cast<off_t>(size_)) == 0) {
        (void)::lseek(fd_, static_cast<off_t>(size_), SEEK_SET);
      }
      return Status::FromErrno("write segment " + path_, err);
    }
    done += n;
  }
  size_ += bytes.size();
  return Status::Ok();
}

Status SegmentWriter::Sync() {
  if (::fdatasync(fd_) != 0) return Status::FromErrno("fdatasync segment " + path_, errno);
  return Status::Ok();
}

}  // namespace vigil::log
