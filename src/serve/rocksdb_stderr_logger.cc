// RocksDbStderrLogger: see rocksdb_stderr_logger.h.
#include "serve/rocksdb_stderr_logger.h"

#include <cstdio>
#include <string>

namespace vigil::serve {

void RocksDbStderrLogger::Logv(const char* format, va_list ap) {
  // Only lines at WARN and above get here (rocksdb::Logger's level filter); they come with their
  // level, e.g. "[WARN] ...".
  char line[1024];
  std::vsnprintf(line, sizeof(line), format, ap);
  // One line each: some messages (a failed MANIFEST commit) span many.
  std::string text = "vigil: aggregates: rocksdb:";
  bool space = true;
  for (const char* p = line; *p != '\0'; ++p) {
    const bool blank = *p == '\n' || *p == ' ' || *p == '\t';
    if (!blank) {
      if (space) text += ' ';
      text += *p;
    }
    space = blank;
  }
  std::lock_guard<std::mutex> lock(mu_);
  log_.Print(text);
}

void RocksDbStderrLogger::LogHeader(const char*, va_list) {}  // the options dump at open

}  // namespace vigil::serve
