// Endpoint templates: URLs that differ only in identifiers fold into one endpoint; names stay.
#include "aggregate/endpoint.h"

#include <gtest/gtest.h>

namespace vigil::aggregate {
namespace {

TEST(EndpointTest, IdentifiersBecomePlaceholders) {
  const std::pair<const char*, const char*> cases[] = {
      {"https://api.example.com/v1/users/123/feed", "api.example.com/v1/users/{id}/feed"},
      {"https://api.example.com/v1/users/456/feed?page=2#top",
       "api.example.com/v1/users/{id}/feed"},
      {"https://API.Example.com:443/v1/orders/550e8400-e29b-41d4-a716-446655440000",
       "api.example.com/v1/orders/{id}"},
      {"http://cdn.example.com:80/img/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b.png",
       "cdn.example.com/img/{id}"},  // content-addressed file names are ids too
      {"http://cdn.example.com/img/9f86d081884c7d659a2feaa0c55ad015/large",
       "cdn.example.com/img/{id}/large"},
      {"https://api.example.com/v2/objects/5f2b6c1e9d3a4b7c8e1f2a3b",
       "api.example.com/v2/objects/{id}"},
      {"https://api.example.com/reports/2024-05-01/daily", "api.example.com/reports/{id}/daily"},
      {"https://api.example.com/share/aZ9kQ2mX7pL4vR8tY1wE", "api.example.com/share/{id}"},
      {"https://api.example.com/users/jane@example.com", "api.example.com/users/{id}"},
      {"https://user:secret@api.example.com:8443/v1/login", "api.example.com:8443/v1/login"},
      {"https://api.example.com", "api.example.com/"},
      {"https://api.example.com/", "api.example.com/"},
      {"https://api.example.com//v1///search/", "api.example.com/v1/search"},
      {"/v1/users/42", "/v1/users/{id}"},
      {"v1/users/42?x=1", "/v1/users/{id}"},
      {"//static.example.com/app.js", "static.example.com/app.js"},
      {"", "/"},
  };
  for (const auto& [url, want] : cases) EXPECT_EQ(EndpointTemplate(url), want) << url;
}

TEST(EndpointTest, NamesAndVersionsStay) {
  for (const char* s :
       {"v1", "v2beta", "users", "feed", "profile_image", "api", "oauth2", "en-US"}) {
    EXPECT_FALSE(IsIdentifierSegment(s)) << s;
  }
  for (const char* s : {"0", "123456", "1.2.3", "deadbeefdeadbeef", "user@example.com"}) {
    EXPECT_TRUE(IsIdentifierSegment(s)) << s;
  }
}

TEST(EndpointTest, SameEndpointForEveryId) {
  std::string first = EndpointTemplate("https://x.io/a/1/b/2");
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(
        EndpointTemplate("https://x.io/a/" + std::to_string(i * 7919) + "/b/" + std::to_string(i)),
        first);
  }
}

TEST(EndpointTest, LongPathsAreCutAtASegment) {
  std::string url = "https://api.example.com";
  for (int i = 0; i < 100; ++i) url += "/segment" + std::string(1, static_cast<char>('a' + i % 26));
  std::string t = EndpointTemplate(url);
  EXPECT_LE(t.size(), kMaxEndpointBytes);
  EXPECT_TRUE(t.ends_with("/\u2026")) << t;
  EXPECT_EQ(EndpointTemplate("https://" + std::string(300, 'h') + ".com/x"), "{long-host}/x");
}

// The rules of endpoint.h, written out plainly, one rule at a time: the reference the one-pass
// classifier is checked against.
bool ReferenceIsIdentifier(std::string_view s) {
  if (s.empty()) return false;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  auto hex = [&](char c) { return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); };
  if (s.find('@') != std::string_view::npos) return true;
  bool digits = false, letters = false, all_hex = true;
  for (char c : s) {
    digits = digits || digit(c);
    letters = letters || letter(c);
    all_hex = all_hex && hex(c);
  }
  if (digits && !letters) return true;
  if (s.size() == 36) {
    bool uuid = true;
    for (size_t i = 0; i < 36; ++i) {
      const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      uuid = uuid && (dash ? s[i] == '-' : hex(s[i]));
    }
    if (uuid) return true;
  }
  if (all_hex && s.size() >= 16) return true;
  return s.size() >= 20 && letters && digits;
}

TEST(EndpointTest, RandomSegmentsAndPathsFollowTheRules) {
  const std::string alphabet = "0123456789abcdefABCDEFxyzXYZ-._~@%+\xc3\xa9";
  uint64_t x = 88172645463325252ull;  // xorshift64: the same cases every run
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  auto segment = [&] {
    std::string s;
    const size_t n = 1 + next() % 40;
    if (next() % 8 == 0) {  // UUID-shaped, now and then with a non-hex character
      s = "550e8400-e29b-41d4-a716-446655440000";
      if (next() % 2) s[next() % 36] = "gZ-0"[next() % 4];
      return s;
    }
    if (next() % 4 == 0) {  // hex only, around the 16-character bound
      for (size_t i = 0; i < 12 + next() % 8; ++i) s += "0123456789abcdefABCDEF"[next() % 22];
      return s;
    }
    for (size_t i = 0; i < n; ++i) s += alphabet[next() % alphabet.size()];
    return s;
  };
  for (int i = 0; i < 20000; ++i) {
    const std::string s = segment();
    ASSERT_EQ(IsIdentifierSegment(s), ReferenceIsIdentifier(s)) << s;
  }
  for (int i = 0; i < 5000; ++i) {
    std::string path, want = "h.io";
    const size_t n = next() % 12;  // up to ~480 bytes: past kMaxEndpointBytes now and then
    bool cut = false;
    for (size_t k = 0; k < n; ++k) {
      if (next() % 6 == 0) path += "/";  // an empty segment: dropped
      const std::string s = segment();
      path += "/" + s;
      const std::string piece = ReferenceIsIdentifier(s) ? "{id}" : s;
      if (cut) continue;
      if (want.size() + 1 + piece.size() > kMaxEndpointBytes - 4) {  // cut at a segment, "/…"
        want += "/\u2026";
        cut = true;
        continue;
      }
      want += "/" + piece;
    }
    if (n == 0) want += "/";
    if (next() % 3 == 0) path += "/";  // a trailing slash: dropped
    if (next() % 3 == 0) path += std::string(next() % 2 ? "?" : "#") + "q=1/2/3&id=42";
    ASSERT_EQ(EndpointTemplate("https://h.io" + path), want) << path;
  }
}

}  // namespace
}  // namespace vigil::aggregate
