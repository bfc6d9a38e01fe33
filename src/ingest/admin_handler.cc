// Admin API for apps.
#include "ingest/admin_handler.h"

#include <simdjson.h>

#include "common/json_writer.h"
#include "common/secret.h"
#include "ingest/http_server.h"

namespace vigil::ingest {

std::string AppJson(const App& app, std::string_view api_token) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("id")
      .String(app.id)
      .Key("name")
      .String(app.name)
      .Key("ingest_key")
      .String(app.ingest_key);
  if (!api_token.empty()) w.Key("api_token").String(api_token);
  w.Key("previous_ingest_keys").BeginArray();
  for (const PreviousIngestKey& p : app.previous_ingest_keys) {
    w.BeginObject().Key("key").String(p.key).Key("retired_ms").Int(p.retired_ms);
    const int64_t used = p.use->last_ms.load(std::memory_order_relaxed);
    w.Key("last_used_ms");
    if (used > 0) {
      w.Int(used);
    } else {
      w.Null();
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("disabled").Bool(app.disabled).Key("created_ms").Int(app.created_ms);
  w.Key("quota").BeginObject();
  if (app.quota.limited()) {
    w.Key("events_per_second").Uint(app.quota.events_per_second);
    w.Key("burst_events").Uint(app.quota.burst());
  } else {
    w.Key("events_per_second").Null();
  }
  w.EndObject();
  w.Key("drop_rules").Raw(app.drop_rules != nullptr ? app.drop_rules->ToJson() : "{\"drop\":[]}");
  w.EndObject();
  return out;
}

namespace {
// The quota in a body {"events_per_second": N, "burst_events": M} (burst_events optional; N 0
// or null: no quota), or InvalidArgument saying what is wrong.
Result<AppQuota> ParseQuota(std::string_view body) {
  const Status bad = Status::InvalidArgument(
      "body must be a JSON object {\"events_per_second\": N, \"burst_events\": M}: N a "
      "whole number of events per second (0 or null: no quota), M optional (default " +
      std::to_string(AppQuota::kDefaultBurstSeconds) + " seconds' worth)");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  // (An empty body may come as a null pointer, which simdjson must not be given.)
  if (body.empty() || parser.parse(body.data(), body.size()).get(root) || !root.is_object()) {
    return bad;
  }
  AppQuota q;
  simdjson::dom::element rate;
  if (root["events_per_second"].get(rate)) return bad;
  if (!rate.is_null() && rate.get_uint64().get(q.events_per_second)) return bad;
  if (simdjson::dom::element burst; !root["burst_events"].get(burst) && !burst.is_null()) {
    if (burst.get_uint64().get(q.burst_events)) return bad;
  }
  for (auto field : root.get_object()) {
    if (field.key != "events_per_second" && field.key != "burst_events") {
      return Status::InvalidArgument("unknown field '" + std::string(field.key) +
                                     "': a quota has events_per_second and burst_events");
    }
  }
  return q;
}
}  // namespace

void AdminHandler::Reply(h2o_req_t* req, int status, std::string_view json) {
  metrics_->CountRequest(status);
  SendJson(req, status, json);
}

void AdminHandler::Error(h2o_req_t* req, int status, std::string_view message) {
  metrics_->CountRequest(status);
  SendError(req, status, message);
}

void AdminHandler::ReplyApp(h2o_req_t* req, std::string_view id, const Status& st) {
  if (!st.ok()) {
    Error(req,
          st.code() == StatusCode::kNotFound          ? 404
          : st.code() == StatusCode::kInvalidArgument ? 400
          : st.code() == StatusCode::kAlreadyExists   ? 409
                                                      : 500,
          st.message());
    return;
  }
  Reply(req, 200, AppJson(*apps_->FindById(id)));
}

void AdminHandler::Handle(h2o_req_t* req, std::string_view path) {
  std::string_view auth = RequestHeader(req, H2O_TOKEN_AUTHORIZATION);
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.substr(0, kBearer.size()) != kBearer) {
    Error(req, 401, "missing admin token: send Authorization: Bearer <admin token>");
    return;
  }
  if (!ConstantTimeEquals(Sha256Hex(auth.substr(kBearer.size())), admin_token_sha256_)) {
    Error(req, 401, "wrong admin token (it is in <data>/admin-token unless set by flag or env)");
    return;
  }
  std::string_view method(req->method.base, req->method.len);
  if (auto route = routes_.find(path); route != routes_.end()) {
    route->second(req);
    return;
  }
  if (path == "/v1/admin/apps") {
    if (method == "GET") {
      std::string out;
      JsonWriter w(&out);
      w.BeginObject().Key("apps").BeginArray();
      for (const App& a : apps_->List()) w.Raw(AppJson(a));
      w.EndArray().EndObject();
      Reply(req, 200, out);
      return;
    }
    if (method != "POST") {
      Error(req, 405, "use GET to list apps or POST {\"name\"} to create one");
      return;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::string_view name;
    if (req->entity.len == 0 || parser.parse(req->entity.base, req->entity.len).get(root) ||
        root["name"].get_string().get(name)) {
      Error(req, 400, "body must be a JSON object {\"name\": \"<app name>\"}");
      return;
    }
    Result<CreatedApp> created = apps_->Create(name);
    if (!created.ok()) {
      Error(req, created.status().code() == StatusCode::kInvalidArgument ? 400 : 500,
            created.status().message());
      return;
    }
    Reply(req, 201, AppJson(created->app, created->api_token));
    return;
  }
  constexpr std::string_view kPrefix = "/v1/admin/apps/";
  if (path.substr(0, kPrefix.size()) == kPrefix) {
    std::string_view rest = path.substr(kPrefix.size());
    size_t slash = rest.find('/');
    std::string_view id = rest.substr(0, slash);
    std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    if (action == "disable" || action == "enable") {
      if (method != "POST") {
        Error(req, 405, "use POST to " + std::string(action) + " an app");
        return;
      }
      ReplyApp(req, id, apps_->SetDisabled(id, action == "disable"));
      return;
    }
    if (action == "quota") {
      if (method != "POST") {
        Error(req, 405, "use POST {\"events_per_second\": N} to set an app's quota");
        return;
      }
      Result<AppQuota> quota = ParseQuota(std::string_view(req->entity.base, req->entity.len));
      Status st = quota.ok() ? apps_->SetQuota(id, *quota) : quota.status();
      ReplyApp(req, id, st);
      return;
    }
    if (action == "api-token") {
      if (method != "POST") {
        Error(req, 405, "use POST to give an app a new API token");
        return;
      }
      Result<std::string> token = apps_->RotateApiToken(id);
      if (!token.ok()) {
        ReplyApp(req, id, token.status());
        return;
      }
      Reply(req, 200, AppJson(*apps_->FindById(id), *token));
      return;
    }
    if (action == "ingest-key") {
      if (method != "POST") {
        Error(req, 405, "use POST to give an app a new ingest key");
        return;
      }
      ReplyApp(req, id, apps_->RotateIngestKey(id).status());
      return;
    }
    constexpr std::string_view kPrevious = "previous-ingest-keys/";
    if (action.substr(0, kPrevious.size()) == kPrevious) {
      if (method != "DELETE") {
        Error(req, 405, "use DELETE to stop accepting a previous ingest key");
        return;
      }
      ReplyApp(req, id, apps_->RevokeIngestKey(id, action.substr(kPrevious.size())));
      return;
    }
    if (action == "rules") {
      if (method != "POST") {
        Error(req, 405, "use POST {\"drop\": [rule, ...]} to set an app's drop rules");
        return;
      }
      Result<std::shared_ptr<const DropRules>> rules =
          DropRules::Parse(std::string_view(req->entity.base, req->entity.len));
      Status st = rules.ok() ? apps_->SetDropRules(id, *rules) : rules.status();
      ReplyApp(req, id, st);
      return;
    }
    if (action.empty() && method == "GET") {
      std::shared_ptr<const App> app = apps_->FindById(id);
      if (app == nullptr) {
        Error(req, 404, "no app with id '" + std::string(id) + "'");
        return;
      }
      Reply(req, 200, AppJson(*app));
      return;
    }
  }
  Error(req, 404, "no such admin endpoint; see docs/protocol.md");
}

}  // namespace vigil::ingest
