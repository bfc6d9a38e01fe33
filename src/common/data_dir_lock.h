// DataDirLock: one vigil serve per data directory, enforced with an exclusive flock on
// <data>/vigil.lock, held for the life of the process.
//
// Why: a second server on the same directory got as far as recovering the logs before anything
// stopped it (RocksDB's own lock, later): recovery truncates the last segment at its first
// incomplete record, and the first server's records written meanwhile would be cut, acknowledged
// ones included. The lock is taken before anything in the directory is opened. flock is released
// by the kernel when the process ends, however it ends, so kill -9 leaves no stale lock. The file
// holds the holder's pid, for the error message. Read-only tools (vigil log, vigil archive stats)
// take no lock: they must work while the server runs.
#pragma once

#include <string>

#include "common/status.h"

namespace vigil {

class DataDirLock {
 public:
  // Takes the lock on `dir` (which must exist), or fails with Unavailable naming the pid that
  // holds it and what to do.
  static Result<DataDirLock> Acquire(const std::string& dir);

  DataDirLock(DataDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DataDirLock& operator=(DataDirLock&&) = delete;
  DataDirLock(const DataDirLock&) = delete;
  ~DataDirLock();  // releases it

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace vigil
