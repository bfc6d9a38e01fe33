// Request routing and the operational endpoints.
#include "ingest/api_router.h"

#include "ingest/api_auth.h"
#include "ingest/http_server.h"

namespace vigil::ingest {

bool ApiRouter::IsSymbolUpload(h2o_req_t* req) {
  std::string_view path(req->path_normalized.base, req->path_normalized.len);
  const std::string_view method = RequestMethod(req);
  if ((method != "POST" && method != "PUT") || path.substr(0, 9) != "/v1/apps/") return false;
  std::string_view rest = path.substr(9);
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return false;
  rest = rest.substr(slash + 1);
  if (rest == "symbols/uploads" || rest.starts_with("symbols/uploads/")) return true;
  return method == "POST" && (rest == "symbols" || rest == "symbols/");
}

void ApiRouter::Handle(h2o_req_t* req) {
  std::string_view path(req->path_normalized.base, req->path_normalized.len);
  if (path == "/v1/events") {
    events_->Handle(req);
    return;
  }
  if (path.substr(0, 10) == "/v1/admin/") {
    admin_->Handle(req, path);
    return;
  }
  if (path == "/v1/app") {  // which app the API token belongs to
    std::shared_ptr<const App> app = AuthenticateApiToken(req, apps_, metrics_);
    if (app == nullptr) return;
    if (RequestMethod(req) != "GET") {
      metrics_->CountRequest(405);
      SendError(req, 405, "use GET on /v1/app");
      return;
    }
    metrics_->CountRequest(200);
    SendJson(req, 200, AppJson(*app));
    return;
  }
  if (path.substr(0, 9) == "/v1/apps/") {
    // /v1/apps/{app}/{resource}[/...], with the API token of {app}.
    std::shared_ptr<const App> app = AuthenticateApiToken(req, apps_, metrics_);
    if (app == nullptr) return;
    std::string_view rest = path.substr(9);
    size_t slash = rest.find('/');
    std::string_view app_id = rest.substr(0, slash);
    if (app_id != app->id) {
      metrics_->CountRequest(403);
      SendError(req, 403,
                "this API token belongs to app " + app->id + ", not " + std::string(app_id));
      return;
    }
    std::string_view resource =
        slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    size_t end = resource.find('/');
    std::string_view tail =
        end == std::string_view::npos ? std::string_view() : resource.substr(end);
    resource = resource.substr(0, end);
    auto handler = app_resources_.find(resource);
    if (handler != app_resources_.end()) {
      handler->second(req, *app, tail);
      return;
    }
    if (resource == "symbols") {
      symbols_->Handle(req, *app, tail);
      return;
    }
  }
  if (path == "/healthz") {
    metrics_->CountRequest(200);
    SendJson(req, 200, "{\"status\":\"up\"}");
    return;
  }
  if (path == "/readyz") {
    Status st = log_->Writable();
    if (st.ok()) {
      metrics_->CountRequest(200);
      SendJson(req, 200, "{\"status\":\"ready\"}");
    } else {
      metrics_->CountRequest(503);
      SendError(req, 503, "the log is not writable: " + st.message(), 5);
    }
    return;
  }
  if (path == "/metrics") {
    std::string text = metrics_->Render();
    metrics_->CountRequest(200);
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, nullptr,
                   H2O_STRLIT("text/plain; version=0.0.4"));
    h2o_iovec_t body = h2o_strdup(&req->pool, text.data(), text.size());
    req->res.content_length = body.len;
    h2o_send_inline(req, body.base, body.len);
    return;
  }
  metrics_->CountRequest(404);
  SendError(req, 404, "no such endpoint: " + std::string(path) + " (see docs/protocol.md)");
}

}  // namespace vigil::ingest
