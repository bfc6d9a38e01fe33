// Text scanning shared by the crash-report parsers. See report_text.h.
#include "process/report_text.h"

#include <chrono>
#include <cstring>

namespace vigil::process::text {

std::string_view TrimLeft(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && IsSpace(s[i])) ++i;
  return s.substr(i);
}

std::string_view TrimRight(std::string_view s) {
  size_t n = s.size();
  while (n > 0 && IsSpace(s[n - 1])) --n;
  return s.substr(0, n);
}

std::string_view Trim(std::string_view s) { return TrimRight(TrimLeft(s)); }

bool ConsumePrefix(std::string_view* s, std::string_view prefix) {
  if (s->substr(0, prefix.size()) != prefix) return false;
  s->remove_prefix(prefix.size());
  return true;
}

size_t SkipSpaces(std::string_view* s) {
  size_t n = 0;
  while (n < s->size() && ((*s)[n] == ' ' || (*s)[n] == '\t')) ++n;
  s->remove_prefix(n);
  return n;
}

bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hex digits only (no prefix), at most 64 significant bits.
bool ParseHexDigits(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d = HexValue(c);
    if (d < 0) return false;
    if (v >> 60) return false;  // another digit would overflow
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

}  // namespace

bool ParseHex(std::string_view s, uint64_t* out) {
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  return ParseHexDigits(s, out);
}

bool ConsumeHex0x(std::string_view* s, uint64_t* out) {
  if (s->size() < 3 || (*s)[0] != '0' || ((*s)[1] != 'x' && (*s)[1] != 'X')) return false;
  size_t n = 2;
  while (n < s->size() && IsHexDigit((*s)[n])) ++n;
  if (!ParseHexDigits(s->substr(2, n - 2), out)) return false;
  s->remove_prefix(n);
  return true;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Hex0x(uint64_t v) {
  static const char kDigits[] = "0123456789abcdef";
  char buf[18];
  size_t n = sizeof(buf);
  do {
    buf[--n] = kDigits[v & 0xf];
    v >>= 4;
  } while (v != 0);
  buf[--n] = 'x';
  buf[--n] = '0';
  return std::string(buf + n, sizeof(buf) - n);
}

std::optional<std::string> NormalizeUuid(std::string_view s) {
  std::string hex;
  hex.reserve(32);
  if (s.size() == 36) {
    for (size_t i = 0; i < s.size(); ++i) {
      bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash_pos != (s[i] == '-')) return std::nullopt;
      if (!dash_pos) hex.push_back(s[i]);
    }
  } else if (s.size() == 32) {
    hex.assign(s);
  } else {
    return std::nullopt;
  }
  for (char c : hex) {
    if (!IsHexDigit(c)) return std::nullopt;
  }
  std::string lower = AsciiLower(hex);
  std::string out;
  out.reserve(36);
  out.append(lower, 0, 8).push_back('-');
  out.append(lower, 8, 4).push_back('-');
  out.append(lower, 12, 4).push_back('-');
  out.append(lower, 16, 4).push_back('-');
  out.append(lower, 20, 12);
  return out;
}

namespace {

// Consumes exactly `digits` decimal digits.
bool ConsumeFixed(std::string_view* s, size_t digits, int* out) {
  if (s->size() < digits) return false;
  int v = 0;
  for (size_t i = 0; i < digits; ++i) {
    char c = (*s)[i];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  s->remove_prefix(digits);
  *out = v;
  return true;
}

bool ConsumeChar(std::string_view* s, char c) {
  if (s->empty() || (*s)[0] != c) return false;
  s->remove_prefix(1);
  return true;
}

void AppendPadded(std::string* out, long v, int width) {
  char buf[24];
  int n = 0;
  unsigned long u = static_cast<unsigned long>(v < 0 ? -v : v);
  do {
    buf[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  while (n < width) buf[n++] = '0';
  if (v < 0) out->push_back('-');
  while (n > 0) out->push_back(buf[--n]);
}

}  // namespace

std::optional<std::string> NormalizeTimestamp(std::string_view s) {
  s = Trim(s);
  int year, month, day, hour, minute, second;
  if (!ConsumeFixed(&s, 4, &year) || !ConsumeChar(&s, '-') || !ConsumeFixed(&s, 2, &month) ||
      !ConsumeChar(&s, '-') || !ConsumeFixed(&s, 2, &day)) {
    return std::nullopt;
  }
  if (!ConsumeChar(&s, 'T') && SkipSpaces(&s) == 0) return std::nullopt;
  if (!ConsumeFixed(&s, 2, &hour) || !ConsumeChar(&s, ':') || !ConsumeFixed(&s, 2, &minute) ||
      !ConsumeChar(&s, ':') || !ConsumeFixed(&s, 2, &second)) {
    return std::nullopt;
  }
  std::string_view fraction;
  if (ConsumeChar(&s, '.')) {
    fraction = ConsumeWhile(&s, IsDigit);
    if (fraction.empty() || fraction.size() > 9) return std::nullopt;
  }
  SkipSpaces(&s);
  int offset_minutes = 0;
  if (ConsumeChar(&s, 'Z')) {
  } else if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    int sign = s[0] == '-' ? -1 : 1;
    s.remove_prefix(1);
    int oh, om;
    if (!ConsumeFixed(&s, 2, &oh)) return std::nullopt;
    ConsumeChar(&s, ':');
    if (!ConsumeFixed(&s, 2, &om)) return std::nullopt;
    if (oh > 23 || om > 59) return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (!s.empty()) return std::nullopt;
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;

  namespace chr = std::chrono;
  chr::year_month_day ymd{chr::year{year}, chr::month{static_cast<unsigned>(month)},
                          chr::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  chr::sys_seconds t = chr::sys_days{ymd} + chr::hours{hour} + chr::minutes{minute} +
                       chr::seconds{second} - chr::minutes{offset_minutes};
  chr::sys_days utc_day = chr::floor<chr::days>(t);
  chr::year_month_day u{utc_day};
  long secs_of_day = static_cast<long>((t - utc_day).count());

  std::string out;
  out.reserve(32);
  AppendPadded(&out, static_cast<int>(u.year()), 4);
  out.push_back('-');
  AppendPadded(&out, static_cast<unsigned>(u.month()), 2);
  out.push_back('-');
  AppendPadded(&out, static_cast<unsigned>(u.day()), 2);
  out.push_back('T');
  AppendPadded(&out, secs_of_day / 3600, 2);
  out.push_back(':');
  AppendPadded(&out, secs_of_day / 60 % 60, 2);
  out.push_back(':');
  AppendPadded(&out, secs_of_day % 60, 2);
  if (!fraction.empty()) {
    out.push_back('.');
    out.append(fraction);
  }
  out.push_back('Z');
  return out;
}

std::string Excerpt(std::string_view line, size_t max_chars) {
  std::string out;
  size_t n = line.size() < max_chars ? line.size() : max_chars;
  out.reserve(n + 3);
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    out.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
  }
  if (n < line.size()) out.append("...");
  return out;
}

Status CheckTextInput(std::string_view what, std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) {
    return Status::TooLarge(std::string(what) + ": " + std::to_string(text.size()) +
                            " bytes is over the " + std::to_string(max_bytes) + "-byte cap");
  }
  // memchr must not see a null pointer, which an empty view may carry.
  const void* nul = text.empty() ? nullptr : std::memchr(text.data(), '\0', text.size());
  if (nul != nullptr) {
    size_t offset = static_cast<size_t>(static_cast<const char*>(nul) - text.data());
    size_t line = 1;
    for (size_t i = 0; i < offset; ++i) line += text[i] == '\n';
    return Status::InvalidArgument(std::string(what) + ": line " + std::to_string(line) +
                                   ": NUL byte at offset " + std::to_string(offset) +
                                   " (binary data, not a text report)");
  }
  return Status::Ok();
}

Status LineError(std::string_view what, size_t line_number, std::string_view problem,
                 std::string_view line) {
  return Status::InvalidArgument(std::string(what) + ": line " + std::to_string(line_number) +
                                 ": " + std::string(problem) + ": '" + Excerpt(line) + "'");
}

}  // namespace vigil::process::text
