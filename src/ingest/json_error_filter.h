// JsonErrorFilter: the answers h2o gives by itself, in Vigil's error form.
//
// h2o refuses some requests before any handler runs: 413 for a body over the listener's cap
// (from the Content-Length alone, or while a chunked body arrives), 400 for a broken
// Content-Length or chunked encoding, 417 for an Expect it does not know. Those answers are
// text/plain; every Vigil answer is JSON, `{"error": "<what is wrong and how to fix it>"}`. They
// all go through the host's fallback path (the request was not routed yet), where this filter
// rewrites them; routed requests never meet it.
#pragma once

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <functional>
#include <string>
#include <string_view>

namespace vigil::ingest {

// The error message for a request h2o refused itself with `status`: `path` is the request's
// path as sent, `text` h2o's own words (e.g. "request entity is too large"). Loop threads.
using EarlyErrorMessage =
    std::function<std::string(std::string_view path, int status, std::string_view text)>;

// Registers the filter on `fallback` (a host's fallback_path, before the context is created).
// `message` must outlive the h2o configuration.
void InstallJsonErrorFilter(h2o_pathconf_t* fallback, const EarlyErrorMessage* message);

}  // namespace vigil::ingest
