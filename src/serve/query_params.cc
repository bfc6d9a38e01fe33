// Shared query parsing of the read API (see query_params.h).
#include "serve/query_params.h"

#include <charconv>
#include <string>

#include "common/time_format.h"
#include "ingest/http_server.h"

namespace vigil::serve {

Status ParseRange(h2o_req_t* req, int64_t now, int64_t default_span, TimeRange* r) {
  std::string from = ingest::QueryParam(req, "from");
  std::string to = ingest::QueryParam(req, "to");
  r->to = now;
  if (!to.empty()) {
    Result<int64_t> t = ParseTime(to);
    if (!t.ok()) return Status::InvalidArgument("to: " + t.status().message());
    r->to = *t;
  }
  r->from = r->to - default_span;
  if (!from.empty()) {
    Result<int64_t> t = ParseTime(from);
    if (!t.ok()) return Status::InvalidArgument("from: " + t.status().message());
    r->from = *t;
  }
  if (r->from >= r->to) {
    return Status::InvalidArgument("from must be before to (from is inclusive, to exclusive)");
  }
  return Status::Ok();
}

Status ParseLimit(h2o_req_t* req, size_t max_limit, size_t* limit) {
  std::string l = ingest::QueryParam(req, "limit");
  if (l.empty()) return Status::Ok();
  size_t v = 0;
  auto [p, ec] = std::from_chars(l.data(), l.data() + l.size(), v);
  if (ec != std::errc() || p != l.data() + l.size() || v == 0 || v > max_limit) {
    return Status::InvalidArgument("limit must be a number from 1 to " + std::to_string(max_limit) +
                                   ", not " + l);
  }
  *limit = v;
  return Status::Ok();
}

}  // namespace vigil::serve
