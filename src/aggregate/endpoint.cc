// URL → endpoint template. See endpoint.h for the rules.
#include "aggregate/endpoint.h"

namespace vigil::aggregate {

namespace {

constexpr size_t kMaxHostBytes = 100;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

// The first of '/', '?', '#' (only '?', '#' with `query_only`) in `s` from `from`, or npos. One
// pass: std::string_view::find_first_of calls memchr once per character.
size_t FindDelimiter(std::string_view s, size_t from = 0, bool query_only = false) {
  for (size_t i = from; i < s.size(); ++i) {
    char c = s[i];
    if ((c == '/' && !query_only) || c == '?' || c == '#') return i;
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

}  // namespace

bool IsIdentifierSegment(std::string_view s) {
  if (s.empty()) return false;
  bool letters = false, digits = false, only_hex = true;
  for (char c : s) {
    if (c == '@') return true;
    if (IsDigit(c)) {
      digits = true;
    } else if (IsLetter(c)) {
      letters = true;
    }
    if (!IsHex(c)) only_hex = false;
  }
  if (digits && !letters) return true;  // 123, 2024-05-01, 1.2.3
  if (IsUuid(s)) return true;
  if (only_hex && s.size() >= 16) return true;
  if (s.size() >= 20 && letters && digits) return true;
  return false;
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
  std::string_view path = rest.substr(0, FindDelimiter(rest, 0, /*query_only=*/true));

  size_t segments = 0;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view segment = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (segment.empty()) continue;
    std::string_view piece = IsIdentifierSegment(segment) ? std::string_view("{id}") : segment;
    if (out->size() - start + 1 + piece.size() > kMaxEndpointBytes - 4) {
      out->append("/\u2026");
      return;
    }
    out->push_back('/');
    out->append(piece);
    ++segments;
  }
  if (segments == 0) out->push_back('/');
}

}  // namespace vigil::aggregate
