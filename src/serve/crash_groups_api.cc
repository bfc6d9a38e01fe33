// Crash groups over HTTP.
#include "serve/crash_groups_api.h"

#include <charconv>

#include "common/json_writer.h"
#include "ingest/http_server.h"

namespace vigil::serve {

namespace {

constexpr size_t kDefaultLimit = 100;
constexpr size_t kMaxLimit = 10000;

}  // namespace

void CrashGroupsApi::Reply(h2o_req_t* req, int status, std::string_view json) {
  metrics_->CountRequest(status);
  ingest::SendJson(req, status, json);
}

void CrashGroupsApi::Error(h2o_req_t* req, int status, std::string_view message) {
  metrics_->CountRequest(status);
  ingest::SendError(req, status, message);
}

void CrashGroupsApi::HandleGroups(h2o_req_t* req, const ingest::App& app, std::string_view rest) {
  if (ingest::RequestMethod(req) != "GET") return Error(req, 405, "use GET on crash groups");
  if (rest.size() > 1) {
    std::string id(rest.substr(1));
    std::optional<CrashGroup> g = index_->Get(app.id, id);
    if (!g) {
      return Error(req, 404,
                   "no crash group " + id + " in app " + app.id + " (list them with GET /v1/apps/" +
                       app.id + "/crash-groups)");
    }
    return Reply(req, 200, g->ToJson(true));
  }
  std::string version = ingest::QueryParam(req, "version");
  size_t limit = kDefaultLimit;
  if (std::string l = ingest::QueryParam(req, "limit"); !l.empty()) {
    auto [p, ec] = std::from_chars(l.data(), l.data() + l.size(), limit);
    if (ec != std::errc() || p != l.data() + l.size() || limit == 0 || limit > kMaxLimit) {
      return Error(req, 400,
                   "limit must be a number from 1 to " + std::to_string(kMaxLimit) + ", not " + l);
    }
  }
  std::vector<CrashGroup> groups = index_->List(app.id, version);
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("total").Uint(groups.size()).Key("groups").BeginArray();
  for (size_t i = 0; i < groups.size() && i < limit; ++i) w.Raw(groups[i].ToJson(false));
  w.EndArray().EndObject();
  Reply(req, 200, out);
}

void CrashGroupsApi::HandleReprocess(h2o_req_t* req, const ingest::App& app,
                                     std::string_view rest) {
  if (!rest.empty() && rest != "/") return Error(req, 404, "use POST /v1/apps/{app}/reprocess");
  if (ingest::RequestMethod(req) != "POST")
    return Error(req, 405, "use POST on /v1/apps/{app}/reprocess");
  std::string version = ingest::QueryParam(req, "version");
  size_t queued = index_->ReprocessSentinel(app.id, version);
  std::string out;
  JsonWriter(&out).BeginObject().Key("queued").Uint(queued).EndObject();
  Reply(req, 202, out);
}

}  // namespace vigil::serve
