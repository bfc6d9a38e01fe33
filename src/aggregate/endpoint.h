// Endpoint templates: the network URLs an app calls, folded so that per-endpoint metrics group
// `/v1/users/123/feed` and `/v1/users/456/feed` as one endpoint, `host/v1/users/{id}/feed`.
//
// Rules (docs/aggregation.md, "Endpoints"):
//   - the scheme, user info, query string and fragment are dropped; the host is lower-cased and
//     a default port (:80, :443) dropped; a URL without a host keeps its path only;
//   - each path segment that looks like an identifier becomes `{id}`: all digits; a UUID; 16 or
//     more hex digits (hashes, object ids); digits and punctuation only (dates, versions
//     `2024-05-01`); 20 or more characters mixing letters and digits (tokens); anything with `@`;
//   - empty segments (`//`) and a trailing slash are dropped; no path is `/`;
//   - the result is at most kMaxEndpointBytes: longer paths are cut at a segment boundary and end
//     in `/…`, so a client that puts unbounded data in paths cannot grow it without bound.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vigil::aggregate {

inline constexpr size_t kMaxEndpointBytes = 200;

// `url` as the SDK sent it (any bytes); the template is valid UTF-8 if `url` is.
std::string EndpointTemplate(std::string_view url);
// The same template appended to `out` (no allocation when `out` has room): the aggregator's
// per-event path.
void AppendEndpointTemplate(std::string_view url, std::string* out);

// True if a path segment is an identifier that EndpointTemplate replaces with `{id}`.
bool IsIdentifierSegment(std::string_view segment);

}  // namespace vigil::aggregate
