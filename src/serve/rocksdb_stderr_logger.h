// RocksDbStderrLogger: RocksDB's own messages, WARN and above, to vigil's stderr instead of a LOG
// file next to the database.
//
// Why: Debian's librocksdb 7.8 is built with assertions on, and its file logger asserts (aborting
// the whole server) when asked to write a line after one that failed to. On a full disk the first
// line fails, and the next one (a flush's, or the stats dump every 10 minutes) killed vigil:
// reproduced on a small loop-mounted filesystem, with this backtrace: EnvLogger::Logv →
// WritableFileWriter::Append → AssertFalseAndGetStatusForPrevError. With this logger RocksDB
// writes no LOG file at all. Lines go through a RateLimitedLog (a flush failing on a full disk
// repeats its error every few seconds); INFO, DEBUG and header lines are dropped.
//
// Thread-safety: RocksDB logs from any of its threads; Logv is synchronized.
#pragma once

#include <rocksdb/env.h>

#include <cstdarg>
#include <mutex>

#include "common/rate_limited_log.h"

namespace vigil::serve {

class RocksDbStderrLogger : public rocksdb::Logger {
 public:
  RocksDbStderrLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override;
  void LogHeader(const char* format, va_list ap) override;

 private:
  std::mutex mu_;
  RateLimitedLog log_;  // guarded by mu_
};

}  // namespace vigil::serve
