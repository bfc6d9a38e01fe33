// Helpers shared by the commands that call a Vigil server's API with an app's API token
// (`vigil symbols upload`, `vigil reprocess`).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "loadgen/http_client.h"

namespace vigil::cli {

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string UrlEncode(std::string_view s);

// The id of the app `token` belongs to (GET /v1/app). `base_path` is the server URL's path.
Result<std::string> AppForToken(loadgen::HttpClient* client, const std::string& base_path,
                                const std::string& token);

}  // namespace vigil::cli
