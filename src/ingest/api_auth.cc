// Bearer API tokens, looked up by digest in the app registry.
#include "ingest/api_auth.h"

#include "ingest/http_server.h"

namespace vigil::ingest {

std::shared_ptr<const App> AuthenticateApiToken(h2o_req_t* req, AppRegistry* apps,
                                                Metrics* metrics) {
  std::string_view auth = RequestHeader(req, H2O_TOKEN_AUTHORIZATION);
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.substr(0, kBearer.size()) != kBearer) {
    metrics->CountRequest(401);
    SendError(req, 401, "missing API token: send Authorization: Bearer <the app's API token>");
    return nullptr;
  }
  std::shared_ptr<const App> app = apps->FindByApiToken(auth.substr(kBearer.size()));
  if (app == nullptr) {
    metrics->CountRequest(401);
    SendError(req, 401, "unknown API token: use the api_token returned when the app was created");
  }
  return app;
}

}  // namespace vigil::ingest
