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

std::string Host(std::string_view authority, std::string_view scheme) {
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string host(authority);
  for (char& c : host) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  auto ends_with = [&](std::string_view suffix) {
    return host.size() >= suffix.size() &&
           std::string_view(host).substr(host.size() - suffix.size()) == suffix;
  };
  if ((scheme == "http" && ends_with(":80")) || (scheme == "https" && ends_with(":443"))) {
    host.resize(host.rfind(':'));
  }
  if (host.size() > kMaxHostBytes) host = "{long-host}";
  return host;
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
  std::string_view rest = url;
  std::string host;
  size_t stop = rest.find_first_of("/?#");
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
    size_t authority_end = rest.find_first_of("/?#");
    std::string lower_scheme(scheme);
    for (char& c : lower_scheme) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    host = Host(rest.substr(0, authority_end), lower_scheme);
    rest =
        authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  }
  size_t path_end = rest.find_first_of("?#");
  std::string_view path = rest.substr(0, path_end);

  std::string out = host;
  size_t segments = 0;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view segment = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (segment.empty()) continue;
    std::string_view piece = IsIdentifierSegment(segment) ? std::string_view("{id}") : segment;
    if (out.size() + 1 + piece.size() > kMaxEndpointBytes - 4) {
      out += "/\u2026";
      return out;
    }
    out += '/';
    out += piece;
    ++segments;
  }
  if (segments == 0) out += '/';
  return out;
}

}  // namespace vigil::aggregate
