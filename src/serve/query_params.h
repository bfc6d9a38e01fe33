// Query parameters every read endpoint shares: the time range and the result limit, parsed with
// errors that say what to send instead.
#pragma once

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <cstddef>
#include <cstdint>

#include "common/status.h"

namespace vigil::serve {

struct TimeRange {
  int64_t from = 0;  // inclusive, epoch ms
  int64_t to = 0;    // exclusive
};

// `from` and `to` (RFC 3339, date or epoch ms), with defaults: to = now, from = to −
// default_span. InvalidArgument (a message for the client) when either does not parse or
// from ≥ to.
Status ParseRange(h2o_req_t* req, int64_t now, int64_t default_span, TimeRange* r);

// `limit` (1 to max_limit); *limit is left alone when absent. InvalidArgument otherwise.
Status ParseLimit(h2o_req_t* req, size_t max_limit, size_t* limit);

}  // namespace vigil::serve
