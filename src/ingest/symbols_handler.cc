// Symbol upload, listing and deletion over HTTP; conversions on one worker thread.
#include "ingest/symbols_handler.h"

#include "common/file_util.h"
#include "common/json_writer.h"
#include "common/thread_name.h"
#include "ingest/http_server.h"

namespace vigil::ingest {

namespace {

int StatusFor(const Status& st) {
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnsupported:
      return 400;
    case StatusCode::kTooLarge:
      return 413;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kUnavailable:  // the disk is full: worth retrying later
      return 503;
    default:
      return 500;
  }
}

// With a 503, how long the client should wait before it retries.
constexpr int kRetryAfterS = 30;
int RetryAfterFor(int status) { return status == 503 ? kRetryAfterS : 0; }

}  // namespace

SymbolsHandler::SymbolsHandler(AppRegistry* apps, symbols::SymbolStore* store, Metrics* metrics,
                               Clock* clock, uint64_t min_free_bytes)
    : apps_(apps),
      store_(store),
      metrics_(metrics),
      clock_(clock),
      min_free_bytes_(min_free_bytes) {
  worker_ = std::thread([this] { RunWorker(); });
}

SymbolsHandler::~SymbolsHandler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void SymbolsHandler::RunWorker() {
  SetThreadName("vigil-symbols");
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

Status SymbolsHandler::CheckReserve(uint64_t bytes) const {
  if (min_free_bytes_ == 0) return Status::Ok();
  Result<uint64_t> free_bytes = FreeDiskBytes(store_->dir());
  if (!free_bytes.ok()) return Status::Ok();  // unknown: the write itself reports a full disk
  const uint64_t needed = 2 * bytes;
  if (*free_bytes >= needed && *free_bytes - needed >= min_free_bytes_) return Status::Ok();
  return Status::Unavailable(
      "the disk holding the data directory has " + std::to_string(*free_bytes >> 20) +
      " MiB free; storing this symbol file (kept as sent and converted, about " +
      std::to_string((needed + (1 << 20) - 1) >> 20) + " MiB) would leave less than the " +
      std::to_string(min_free_bytes_ >> 20) +
      " MiB kept for the stages behind ingest (min_free_disk_mb); free space on it, delete "
      "symbol files no longer needed, or lower min_free_disk_mb");
}

void SymbolsHandler::Reply(h2o_req_t* req, int status, std::string_view json) {
  metrics_->CountRequest(status);
  SendJson(req, status, json);
}

void SymbolsHandler::Error(h2o_req_t* req, int status, std::string_view message) {
  metrics_->CountRequest(status);
  SendError(req, status, message, RetryAfterFor(status));
}

void SymbolsHandler::Handle(h2o_req_t* req, const App& app, std::string_view rest) {
  if (rest.empty() || rest == "/") {
    if (RequestMethod(req) == "POST") return Upload(req, app);
    if (RequestMethod(req) == "GET") {
      std::string out;
      JsonWriter w(&out);
      w.BeginObject().Key("symbols").BeginArray();
      for (const symbols::StoredSymbolFile& f : store_->List(app.id)) w.Raw(f.ToJson());
      w.EndArray().EndObject();
      return Reply(req, 200, out);
    }
    return Error(req, 405, "use POST to upload a symbol file or GET to list them");
  }
  std::string_view id = rest.substr(1);
  if (RequestMethod(req) != "DELETE") {
    return Error(req, 405, "use DELETE on /v1/apps/{app}/symbols/{id}");
  }
  Status st = store_->Remove(app.id, id);
  if (!st.ok()) return Error(req, StatusFor(st), st.message());
  std::string out;
  JsonWriter(&out).BeginObject().Key("deleted").String(id).EndObject();
  Reply(req, 200, out);
}

void SymbolsHandler::Upload(h2o_req_t* req, const App& app) {
  if (req->entity.base == nullptr || req->entity.len == 0) {
    return Error(req, 400,
                 "empty body: send the symbol file itself (.sym, ELF, Mach-O or mapping.txt) as "
                 "the request body");
  }
  if (req->entity.len > symbols::kMaxSymbolFileBytes) {
    return Error(
        req, 413,
        "symbol file is over " + std::to_string(symbols::kMaxSymbolFileBytes >> 20) + " MiB");
  }
  // The body belongs to the request's pool, which dies with the connection: copy it for the
  // worker.
  auto data = std::make_shared<std::string>(req->entity.base, req->entity.len);
  std::string name = QueryParam(req, "name");
  std::string version = QueryParam(req, "version");
  DeferredReply* reply = DeferredReply::Defer(req);
  std::string app_id = app.id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back([this, reply, data, name, version, app_id] {
      Status reserve = CheckReserve(data->size());
      Result<std::vector<symbols::StoredSymbolFile>> stored =
          reserve.ok() ? store_->Add(app_id, *data, name, clock_->NowMs(), version)
                       : Result<std::vector<symbols::StoredSymbolFile>>(reserve);
      if (!stored.ok()) {
        int status = StatusFor(stored.status());
        metrics_->CountRequest(status);
        reply->Complete(status, ErrorJson(stored.status().message()), RetryAfterFor(status));
        return;
      }
      std::string out;
      if (stored->size() == 1) {
        out = stored->front().ToJson();
      } else {
        JsonWriter w(&out);
        w.BeginObject().Key("symbols").BeginArray();
        for (const symbols::StoredSymbolFile& f : *stored) w.Raw(f.ToJson());
        w.EndArray().EndObject();
      }
      metrics_->CountRequest(201);
      reply->Complete(201, std::move(out));
    });
  }
  cv_.notify_one();
}

}  // namespace vigil::ingest
