// AdminHandler: /v1/admin/apps — create, list, disable and enable apps, give them a new API
// token, and set their quotas and drop rules, with the admin token.
#pragma once

#include <functional>
#include <map>
#include <string>

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "ingest/app_registry.h"
#include "ingest/metrics.h"

namespace vigil::ingest {

class AdminHandler {
 public:
  // Only the SHA-256 of the admin token is kept. Pointers must outlive the handler.
  AdminHandler(AppRegistry* apps, Metrics* metrics, std::string admin_token_sha256)
      : apps_(apps), metrics_(metrics), admin_token_sha256_(std::move(admin_token_sha256)) {}

  // `path` is the normalized path, starting with /v1/admin/.
  void Handle(h2o_req_t* req, std::string_view path);

  // Serves `path` (e.g. "/v1/admin/batch/run") with `handler` once the admin token is checked.
  // Register before the server starts.
  using Route = std::function<void(h2o_req_t* req)>;
  void AddRoute(std::string path, Route handler) { routes_[std::move(path)] = std::move(handler); }

 private:
  void Reply(h2o_req_t* req, int status, std::string_view json);
  void Error(h2o_req_t* req, int status, std::string_view message);
  // After a change to app `id` with outcome `st`: 200 with the app, or the error (404 unknown
  // id, 400 a bad value, 500 not saved).
  void ReplyApp(h2o_req_t* req, std::string_view id, const Status& st);

  AppRegistry* const apps_;
  Metrics* const metrics_;
  const std::string admin_token_sha256_;
  std::map<std::string, Route, std::less<>> routes_;
};

// {"id","name","ingest_key","previous_ingest_keys","disabled","created_ms","quota","drop_rules"}
// (+ "api_token" after "ingest_key" when given).
std::string AppJson(const App& app, std::string_view api_token = {});

}  // namespace vigil::ingest
