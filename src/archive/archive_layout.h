// ArchiveLayout: where the archive keeps its part files, and how to list them without opening
// them.
//
//   <root>/<app>/<YYYY-MM-DD>/<HH>/<source_first>-<source_end>.vpart
//
// One directory per app, UTC day and hour of occurred time, so retention deletes whole day
// directories and a batch job over a day lists 24 small directories. The file name carries the
// part's range of processed-log offsets (16 hex digits each), so the archiver's recovery and the
// batch layer's "later part wins" order need no footer read. Temporary files of an atomic write
// end in ".tmp" and are never listed.
//
// Functions are stateless and safe from any thread; listings are snapshots.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace vigil::archive {

inline constexpr const char* kPartSuffix = ".vpart";

struct PartEntry {
  std::string path;
  std::string app;
  int64_t hour_ms = 0;
  uint64_t source_first = 0;
  uint64_t source_end = 0;
};

std::string AppDir(const std::string& root, const std::string& app);
std::string DayDir(const std::string& root, const std::string& app, int64_t day_ms);
std::string HourDir(const std::string& root, const std::string& app, int64_t hour_ms);
std::string PartPath(const std::string& root, const std::string& app, int64_t hour_ms,
                     uint64_t source_first, uint64_t source_end);

// Apps with an archive directory, sorted.
std::vector<std::string> ListArchivedApps(const std::string& root);
// Start (ms) of each day directory of `app`, ascending. Names that are not dates are ignored.
std::vector<int64_t> ListArchivedDays(const std::string& root, const std::string& app);
// Parts of `app` whose hour lies in [from_ms, to_ms), ordered by hour, then source_end.
std::vector<PartEntry> ListParts(const std::string& root, const std::string& app, int64_t from_ms,
                                 int64_t to_ms);

}  // namespace vigil::archive
