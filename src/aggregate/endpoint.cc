// URL → endpoint template. See endpoint.h for the rules.
#include "aggregate/endpoint.h"

#include <array>
#include <cstdint>

namespace vigil::aggregate {

namespace {

constexpr size_t kMaxHostBytes = 100;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

// The first of '/', '?', '#' in `s`, or npos. One pass: std::string_view::find_first_of calls
// memchr once per character.
size_t FindDelimiter(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '/' || c == '?' || c == '#') return i;
  }
  return std::string_view::npos;
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsLower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (Lower(s[i]) != lower[i]) return false;
  }
  return true;
}

// The host of `authority` (user info dropped, lower-cased, the scheme's default port dropped),
// appended to `out`.
void AppendHost(std::string_view authority, std::string_view scheme, std::string* out) {
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  if ((EqualsLower(scheme, "http") && authority.ends_with(":80")) ||
      (EqualsLower(scheme, "https") && authority.ends_with(":443"))) {
    authority.remove_suffix(authority.size() - authority.rfind(':'));
  }
  if (authority.size() > kMaxHostBytes) {
    out->append("{long-host}");
    return;
  }
  for (char c : authority) out->push_back(Lower(c));
}

// Character classes for one pass over a path: what IsIdentifierSegment asks of each character,
// and where a segment (kSlash) or the path (kEnd: '?', '#') ends. A table lookup, an OR and an AND
// per character, where comparing each character with the ranges took a branch apiece (the speed
// layer spent a sixth of its time on endpoint templates).
enum : uint8_t { kDigit = 1, kLetter = 2, kHex = 4, kAt = 8, kSlash = 16, kEnd = 32 };
constexpr std::array<uint8_t, 256> kClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = kDigit | kHex;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = kLetter | (c <= 'f' ? kHex : 0);
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = kLetter | (c <= 'F' ? kHex : 0);
  t['@'] = kAt;
  t['/'] = kSlash;
  t['?'] = kEnd;
  t['#'] = kEnd;
  return t;
}();

// The rules of endpoint.h, given the OR (`any`) and AND (`all`) of a non-empty segment's classes.
bool IsIdentifier(std::string_view s, uint8_t any, uint8_t all) {
  if (any & kAt) return true;
  const bool digits = any & kDigit, letters = any & kLetter;
  if (digits && !letters) return true;  // 123, 2024-05-01, 1.2.3
  if (s.size() == 36 && IsUuid(s)) return true;
  if ((all & kHex) && s.size() >= 16) return true;
  return s.size() >= 20 && letters && digits;
}

}  // namespace

bool IsIdentifierSegment(std::string_view s) {
  if (s.empty()) return false;
  uint8_t any = 0, all = 0xff;
  for (char c : s) {
    const uint8_t k = kClass[static_cast<unsigned char>(c)];
    any |= k;
    all &= k;
  }
  return IsIdentifier(s, any, all);
}

std::string EndpointTemplate(std::string_view url) {
  std::string out;
  AppendEndpointTemplate(url, &out);
  return out;
}

void AppendEndpointTemplate(std::string_view url, std::string* out) {
  const size_t start = out->size();
  std::string_view rest = url;
  size_t stop = FindDelimiter(rest);
  size_t scheme_end = rest.find("://");
  std::string_view scheme;
  bool has_authority = false;
  if (scheme_end != std::string_view::npos &&
      (stop == std::string_view::npos || scheme_end < stop)) {
    scheme = rest.substr(0, scheme_end);
    rest.remove_prefix(scheme_end + 3);
    has_authority = true;
  } else if (rest.starts_with("//")) {
    rest.remove_prefix(2);
    has_authority = true;
  }
  if (has_authority) {
    size_t authority_end = FindDelimiter(rest);
    AppendHost(rest.substr(0, authority_end), scheme, out);
    rest =
        authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  }
  // The path runs to '?' or '#'; each segment is classified as it is scanned for its end.
  const char* p = rest.data();
  const char* const end = p + rest.size();
  size_t segments = 0;
  while (p < end) {
    const char* const first = p;
    uint8_t any = 0, all = 0xff, k = 0;
    for (; p < end; ++p) {
      k = kClass[static_cast<unsigned char>(*p)];
      if (k & (kSlash | kEnd)) break;
      any |= k;
      all &= k;
    }
    const std::string_view segment(first, static_cast<size_t>(p - first));
    if (!segment.empty()) {
      std::string_view piece = IsIdentifier(segment, any, all) ? std::string_view("{id}") : segment;
      if (out->size() - start + 1 + piece.size() > kMaxEndpointBytes - 4) {
        out->append("/\u2026");
        return;
      }
      out->push_back('/');
      out->append(piece);
      ++segments;
    }
    if (p == end || (k & kEnd)) break;
    ++p;  // past the '/'
  }
  if (segments == 0) out->push_back('/');
}

}  // namespace vigil::aggregate
