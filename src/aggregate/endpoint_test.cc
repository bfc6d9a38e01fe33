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

}  // namespace
}  // namespace vigil::aggregate
