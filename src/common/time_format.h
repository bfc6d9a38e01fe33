// UTC calendar times as the archive's directories and the API's answers spell them.
//
// Days are civil days of the proleptic Gregorian calendar (Howard Hinnant's days-from-civil
// algorithm), so no call depends on the process's time zone or on gmtime's static buffer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace vigil {

// "2026-11-22" for the UTC day holding `ms`.
std::string FormatDay(int64_t ms);
// "2026-11-22T10:04:05Z", or with milliseconds ("…05.123Z") when they are not zero.
std::string FormatRfc3339(int64_t ms);
// Milliseconds since the epoch of 00:00 UTC on the given civil day.
int64_t DayStartMs(int year, int month, int day);

// Parses "YYYY-MM-DD" (midnight UTC), RFC 3339 ("YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)") or epoch
// milliseconds (digits, optionally negative). InvalidArgument naming the accepted forms.
Result<int64_t> ParseTime(std::string_view text);

}  // namespace vigil
