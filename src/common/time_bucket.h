// Time buckets of occurred time, in UTC: minute (speed only), hour and day.
#pragma once

#include <cstdint>
#include <string_view>

namespace vigil {

enum class Granularity : uint8_t { kMinute = 'm', kHour = 'h', kDay = 'd' };

inline constexpr int64_t kMinuteMs = 60'000;
inline constexpr int64_t kHourMs = 3'600'000;
inline constexpr int64_t kDayMs = 86'400'000;

inline int64_t BucketWidthMs(Granularity g) {
  switch (g) {
    case Granularity::kMinute:
      return kMinuteMs;
    case Granularity::kHour:
      return kHourMs;
    case Granularity::kDay:
      return kDayMs;
  }
  return kDayMs;
}

// The start of the bucket holding `ts_ms` (floor, also for times before 1970).
inline int64_t BucketStart(int64_t ts_ms, Granularity g) {
  int64_t w = BucketWidthMs(g);
  int64_t q = ts_ms / w;
  if (ts_ms % w < 0) --q;
  return q * w;
}

inline std::string_view GranularityName(Granularity g) {
  switch (g) {
    case Granularity::kMinute:
      return "minute";
    case Granularity::kHour:
      return "hour";
    case Granularity::kDay:
      return "day";
  }
  return "day";
}

// False if `name` is not minute, hour or day.
inline bool ParseGranularity(std::string_view name, Granularity* g) {
  for (Granularity c : {Granularity::kMinute, Granularity::kHour, Granularity::kDay}) {
    if (GranularityName(c) == name) {
      *g = c;
      return true;
    }
  }
  return false;
}

}  // namespace vigil
