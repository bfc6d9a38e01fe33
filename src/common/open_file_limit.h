// RaiseOpenFileLimit: lifts the process's soft limit on open files to its hard limit.
//
// Why: every client connection is a descriptor, and so is each app's open segment in each log.
// The usual soft default, 1024, ran out at a few hundred connections; past it the server cannot
// accept (ingest/http_server.h pauses accepting). The hard limit is what the administrator
// allows (systemd's default is 524288); servers such as nginx and PostgreSQL take it likewise.
#pragma once

#include <cstdint>

namespace vigil {

struct OpenFileLimit {
  uint64_t soft = 0;  // after raising
  uint64_t hard = 0;
};

// Raises the soft limit to the hard one (best effort) and returns both.
OpenFileLimit RaiseOpenFileLimit();

// Below this many, vigil serve warns at start.
inline constexpr uint64_t kLowOpenFileLimit = 4096;

}  // namespace vigil
