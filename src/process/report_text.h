// Text scanning shared by the crash-report parsers (Apple .crash and .ips, Android tombstones).
//
// Crash reports are line-oriented text typed by humans and machines alike: fields separated by a
// mix of tabs and spaces, CRLF line ends, hex with and without "0x". These helpers do the small,
// careful parts once: they never read past the view they are given, never allocate except where
// they return a std::string, and run in time linear in their input, so a parser built from them
// cannot be made slow or unsafe by a hostile report.
//
// Internal to src/process: not an API for other stages. All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/line_reader.h"
#include "common/status.h"

namespace vigil::process::text {

using ::vigil::LineReader;  // common/line_reader.h

inline bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f'; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsHexDigit(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string_view TrimLeft(std::string_view s);
std::string_view TrimRight(std::string_view s);
std::string_view Trim(std::string_view s);

// If `*s` starts with `prefix`, removes it and returns true.
bool ConsumePrefix(std::string_view* s, std::string_view prefix);
// Removes leading spaces/tabs; returns how many were removed.
size_t SkipSpaces(std::string_view* s);
// Removes and returns the leading run of characters for which `pred` holds.
template <typename Pred>
std::string_view ConsumeWhile(std::string_view* s, Pred pred) {
  size_t n = 0;
  while (n < s->size() && pred((*s)[n])) ++n;
  std::string_view head = s->substr(0, n);
  s->remove_prefix(n);
  return head;
}

// The whole of `s` as an unsigned integer. False if empty, any non-digit, or over 2^64 - 1.
bool ParseDecimal(std::string_view s, uint64_t* out);
// The whole of `s` as hex, with an optional "0x"/"0X" prefix. False if there are no digits, any
// non-hex character, or more than 64 significant bits (leading zeros are fine).
bool ParseHex(std::string_view s, uint64_t* out);
// Consumes a leading "0x" + hex digits from `*s` (at least one digit, at most 64 significant
// bits). On failure `*s` is unchanged.
bool ConsumeHex0x(std::string_view* s, uint64_t* out);

// `s` with ASCII letters lower-cased.
std::string AsciiLower(std::string_view s);
// "0x" + lower-case hex without leading zeros ("0x0" for zero).
std::string Hex0x(uint64_t v);

// A Mach-O style UUID, 32 hex digits with or without the 8-4-4-4-12 dashes, as lower-case
// dashed text. nullopt if `s` is anything else.
std::optional<std::string> NormalizeUuid(std::string_view s);

// "YYYY-MM-DD HH:MM:SS[.fraction][ ]±HHMM" (also "T" between date and time, ±HH:MM, or "Z") as
// RFC 3339 in UTC: "YYYY-MM-DDTHH:MM:SS[.fraction]Z". The fraction keeps the digits as printed
// (any count from 1 to 9); only the zone is converted. nullopt when `s` has another shape, an
// impossible date, or no zone (a local time cannot be placed in UTC).
std::optional<std::string> NormalizeTimestamp(std::string_view s);

// At most `max_chars` of `line` for an error message, with control bytes shown as '?'.
std::string Excerpt(std::string_view line, size_t max_chars = 80);

// Shared input checks: TooLarge when `text` exceeds `max_bytes`, InvalidArgument naming the line
// when it holds a NUL byte (binary data, not a text report). `what` names the format in
// messages ("apple crash report").
[[nodiscard]] Status CheckTextInput(std::string_view what, std::string_view text, size_t max_bytes);

// InvalidArgument("<what>: line <n>: <problem>: '<excerpt of line>'").
Status LineError(std::string_view what, size_t line_number, std::string_view problem,
                 std::string_view line);

}  // namespace vigil::process::text
