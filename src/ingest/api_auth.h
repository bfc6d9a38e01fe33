// API-token authentication for the read and symbol APIs under /v1/apps/{app}/ and /v1/app.
#pragma once

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <memory>
#include <string_view>

#include "ingest/app_registry.h"
#include "ingest/metrics.h"

namespace vigil::ingest {

// The app whose API token the request carries (Authorization: Bearer <token>), or null after
// answering 401 with what to send. Loop thread.
std::shared_ptr<const App> AuthenticateApiToken(h2o_req_t* req, AppRegistry* apps,
                                                Metrics* metrics);

}  // namespace vigil::ingest
