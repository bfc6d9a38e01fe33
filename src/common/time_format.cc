// UTC day and RFC 3339 formatting and parsing (see time_format.h).
#include "common/time_format.h"

#include <algorithm>
#include <cstdio>

namespace vigil {

namespace {

// Days since 1970-01-01 of a civil date (Hinnant, "chrono-compatible low-level date algorithms").
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b < 0) --q;
  return q;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

int64_t DayStartMs(int year, int month, int day) {
  return DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86'400'000;
}

std::string FormatDay(int64_t ms) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(FloorDiv(ms, 86'400'000), &y, &m, &d);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return buf;
}

std::string FormatRfc3339(int64_t ms) {
  int64_t days = FloorDiv(ms, 86'400'000);
  int64_t in_day = ms - days * 86'400'000;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[48];
  int64_t secs = in_day / 1000;
  int frac = static_cast<int>(in_day % 1000);
  int n = std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02d",
                        static_cast<long long>(y), m, d, static_cast<int>(secs / 3600),
                        static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
  if (frac != 0) n += std::snprintf(buf + n, sizeof(buf) - n, ".%03d", frac);
  std::snprintf(buf + n, sizeof(buf) - n, "Z");
  return buf;
}

Result<int64_t> ParseTime(std::string_view s) {
  auto bad = [&]() {
    return Status::InvalidArgument("time '" + std::string(s.substr(0, 64)) +
                                   "' is not a date (2026-11-22), an RFC 3339 time "
                                   "(2026-11-22T10:00:00Z) or epoch milliseconds");
  };
  if (s.empty() || s.size() > 40) return bad();
  if (s.size() != 10 || s[4] != '-') {
    // Epoch milliseconds?
    size_t i = s[0] == '-' ? 1 : 0;
    bool digits = i < s.size() && s.size() - i <= 16;
    for (size_t j = i; j < s.size() && digits; ++j) digits = s[j] >= '0' && s[j] <= '9';
    if (digits) {
      int64_t v = 0;
      for (size_t j = i; j < s.size(); ++j) v = v * 10 + (s[j] - '0');
      return i == 1 ? -v : v;
    }
  }
  int y, mo, d;
  if (!Digits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo)) {
    return bad();
  }
  int64_t ms = DayStartMs(y, mo, d);
  if (s.size() == 10) return ms;
  int h, mi, sec;
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !Digits(s, 11, 2, &h) ||
      s[13] != ':' || !Digits(s, 14, 2, &mi) || s[16] != ':' || !Digits(s, 17, 2, &sec) || h > 23 ||
      mi > 59 || sec > 60) {
    return bad();
  }
  ms += (h * 3600LL + mi * 60LL + std::min(sec, 59)) * 1000;
  size_t pos = 19;
  if (s[pos] == '.') {
    ++pos;
    int64_t frac = 0, scale = 1000;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (scale > 1) {
        scale /= 10;
        frac += (s[pos] - '0') * scale;
      }
      ++pos;
    }
    if (pos == start || pos - start > 9) return bad();
    ms += frac;
  }
  if (pos == s.size()) return bad();
  if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) return ms;
  int oh, om;
  if ((s[pos] != '+' && s[pos] != '-') || s.size() != pos + 6 || !Digits(s, pos + 1, 2, &oh) ||
      s[pos + 3] != ':' || !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
    return bad();
  }
  int64_t offset = (oh * 60LL + om) * 60'000;
  return s[pos] == '+' ? ms - offset : ms + offset;
}

}  // namespace vigil
