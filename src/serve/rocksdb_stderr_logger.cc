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
  std::string text = std::string("vigil: aggregates: rocksdb: ") + line;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  std::lock_guard<std::mutex> lock(mu_);
  log_.Print(text);
}

void RocksDbStderrLogger::LogHeader(const char*, va_list) {}  // the options dump at open

}  // namespace vigil::serve
