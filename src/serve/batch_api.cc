// The batch run admin endpoint (see batch_api.h).
#include "serve/batch_api.h"

#include <simdjson.h>

#include "common/json_writer.h"
#include "common/thread_name.h"
#include "common/thread_priority.h"
#include "common/time_format.h"
#include "ingest/http_server.h"

namespace vigil::serve {

BatchApi::~BatchApi() { Stop(); }

void BatchApi::Stop() {
  std::vector<std::thread> runs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    runs.swap(runs_);
  }
  for (std::thread& t : runs) t.join();
}

void BatchApi::HandleRun(h2o_req_t* req) {
  auto error = [&](int status, std::string_view message) {
    metrics_->CountRequest(status);
    ingest::SendError(req, status, message);
  };
  if (ingest::RequestMethod(req) != "POST") {
    return error(405, "use POST /v1/admin/batch/run {\"app\"?, \"from\"?, \"to\"?}");
  }
  batch::BatchRunRequest run;
  run.to_ms = clock_->NowMs();
  run.from_ms = run.to_ms - 30 * kDayMs;
  std::string_view body(req->entity.base, req->entity.len);
  if (!body.empty()) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    simdjson::dom::object obj;
    if (parser.parse(body.data(), body.size()).get(root) || root.get_object().get(obj)) {
      return error(400, "body must be a JSON object {\"app\"?, \"from\"?, \"to\"?}");
    }
    for (auto field : obj) {
      std::string_view value;
      if (field.value.get_string().get(value)) {
        return error(400, std::string(field.key) + " must be a string");
      }
      if (field.key == "app") {
        run.app = value;
        if (apps_->FindById(run.app) == nullptr) {
          return error(404, "no app " + run.app + " (GET /v1/admin/apps lists them)");
        }
      } else if (field.key == "from" || field.key == "to") {
        Result<int64_t> t = ParseTime(value);
        if (!t.ok()) return error(400, std::string(field.key) + ": " + t.status().message());
        (field.key == "from" ? run.from_ms : run.to_ms) = *t;
      } else {
        return error(400, "unknown field " + std::string(field.key) + ": use app, from, to");
      }
    }
  }
  if (run.from_ms >= run.to_ms) return error(400, "from must be before to");
  ingest::DeferredReply* reply = ingest::DeferredReply::Defer(req);
  std::lock_guard<std::mutex> lock(mu_);
  runs_.emplace_back([this, run, reply] {
    SetThreadName("vigil-batch-run");
    ingest::UnpinFromLoop();  // started by a loop thread: its workers get every CPU
    EnterBackgroundPriority();
    Result<batch::BatchRunResult> r = batch_->Run(run);
    int status = r.ok() ? 200 : 500;
    metrics_->CountRequest(status);
    if (!r.ok()) {
      reply->Complete(status, ingest::ErrorJson(r.status().message()));
      return;
    }
    std::string out;
    JsonWriter(&out)
        .BeginObject()
        .Key("days")
        .Uint(r->days)
        .Key("events")
        .Uint(r->events)
        .Key("duplicates")
        .Uint(r->duplicates)
        .Key("unchanged_days")
        .Uint(r->unchanged_days)
        .Key("seconds")
        .Double(r->seconds)
        .EndObject();
    reply->Complete(status, std::move(out));
  });
}

}  // namespace vigil::serve
