// Archive directory layout and listing (see archive_layout.h).
#include "archive/archive_layout.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "common/file_util.h"
#include "common/time_bucket.h"
#include "common/time_format.h"

namespace vigil::archive {

namespace {

bool ParseHex16(std::string_view s, uint64_t* out) {
  if (s.size() != 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

// "YYYY-MM-DD" → day start, or false.
bool ParseDayName(const std::string& name, int64_t* day_ms) {
  if (name.size() != 10) return false;
  Result<int64_t> t = ParseTime(name);
  if (!t.ok()) return false;
  *day_ms = *t;
  return true;
}

}  // namespace

std::string AppDir(const std::string& root, const std::string& app) { return root + "/" + app; }

std::string DayDir(const std::string& root, const std::string& app, int64_t day_ms) {
  return AppDir(root, app) + "/" + FormatDay(day_ms);
}

std::string HourDir(const std::string& root, const std::string& app, int64_t hour_ms) {
  int64_t day = BucketStart(hour_ms, Granularity::kDay);
  char hh[8];
  std::snprintf(hh, sizeof(hh), "%02d", static_cast<int>((hour_ms - day) / kHourMs));
  return DayDir(root, app, day) + "/" + hh;
}

std::string PartPath(const std::string& root, const std::string& app, int64_t hour_ms,
                     uint64_t source_first, uint64_t source_end) {
  char name[64];
  std::snprintf(name, sizeof(name), "/%016" PRIx64 "-%016" PRIx64 "%s", source_first, source_end,
                kPartSuffix);
  return HourDir(root, app, hour_ms) + name;
}

std::vector<std::string> ListArchivedApps(const std::string& root) {
  Result<std::vector<std::string>> names = ListDir(root);
  std::vector<std::string> apps;
  if (!names.ok()) return apps;
  for (std::string& n : *names) {
    if (!n.empty() && n[0] != '.') apps.push_back(std::move(n));
  }
  std::sort(apps.begin(), apps.end());
  return apps;
}

std::vector<int64_t> ListArchivedDays(const std::string& root, const std::string& app) {
  std::vector<int64_t> days;
  Result<std::vector<std::string>> names = ListDir(AppDir(root, app));
  if (!names.ok()) return days;
  for (const std::string& n : *names) {
    int64_t day;
    if (ParseDayName(n, &day)) days.push_back(day);
  }
  std::sort(days.begin(), days.end());
  return days;
}

std::vector<PartEntry> ListParts(const std::string& root, const std::string& app, int64_t from_ms,
                                 int64_t to_ms) {
  std::vector<PartEntry> parts;
  for (int64_t day : ListArchivedDays(root, app)) {
    if (day + kDayMs <= from_ms || day >= to_ms) continue;
    for (int h = 0; h < 24; ++h) {
      int64_t hour = day + h * kHourMs;
      if (hour < from_ms || hour >= to_ms) continue;
      std::string dir = HourDir(root, app, hour);
      Result<std::vector<std::string>> names = ListDir(dir);
      if (!names.ok()) continue;
      for (const std::string& n : *names) {
        size_t suffix = std::string_view(kPartSuffix).size();
        if (n.size() != 33 + suffix || n.compare(33, suffix, kPartSuffix) != 0 || n[16] != '-') {
          continue;
        }
        PartEntry e;
        if (!ParseHex16(std::string_view(n).substr(0, 16), &e.source_first) ||
            !ParseHex16(std::string_view(n).substr(17, 16), &e.source_end)) {
          continue;
        }
        e.path = dir + "/" + n;
        e.app = app;
        e.hour_ms = hour;
        parts.push_back(std::move(e));
      }
    }
  }
  std::sort(parts.begin(), parts.end(), [](const PartEntry& a, const PartEntry& b) {
    if (a.hour_ms != b.hour_ms) return a.hour_ms < b.hour_ms;
    if (a.source_end != b.source_end) return a.source_end < b.source_end;
    return a.source_first < b.source_first;
  });
  return parts;
}

}  // namespace vigil::archive
