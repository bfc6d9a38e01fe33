// Symbol uploads (whole or in chunks), listing and deletion over HTTP; work on two worker threads.
#include "ingest/symbols_handler.h"

#include <sys/mman.h>

#include <charconv>
#include <optional>

#include "common/file_util.h"
#include "common/json_writer.h"
#include "ingest/http_server.h"

namespace vigil::ingest {

namespace {

int StatusFor(const Status& st) {
  switch (st.code()) {
    case StatusCode::kAlreadyExists:  // a chunk or finish that conflicts with the upload's state
      return 409;
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

// The query parameter `key` as a decimal count of bytes.
std::optional<uint64_t> BytesParam(h2o_req_t* req, std::string_view key) {
  const std::string v = QueryParam(req, key);
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
  return n;
}

}  // namespace

SymbolsHandler::SymbolsHandler(AppRegistry* apps, symbols::SymbolStore* store,
                               SymbolUploads* uploads, Metrics* metrics, Clock* clock,
                               uint64_t min_free_bytes)
    : apps_(apps),
      store_(store),
      uploads_(uploads),
      metrics_(metrics),
      clock_(clock),
      min_free_bytes_(min_free_bytes) {}

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
  if (rest == "/uploads" || rest.starts_with("/uploads/")) {
    return HandleChunked(req, app, rest.substr(8));
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
  converter_.Post([this, reply, data, name, version, app_id = app.id] {
    Complete(reply, Store(app_id, *data, name, version));
  });
}

SymbolsHandler::Answer SymbolsHandler::Store(const std::string& app, std::string_view data,
                                             const std::string& name, const std::string& version) {
  Status reserve = CheckReserve(data.size());
  Result<std::vector<symbols::StoredSymbolFile>> stored =
      reserve.ok() ? store_->Add(app, data, name, clock_->NowMs(), version)
                   : Result<std::vector<symbols::StoredSymbolFile>>(reserve);
  if (!stored.ok()) {
    return {StatusFor(stored.status()), ErrorJson(stored.status().message()),
            stored.status().code()};
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
  return {201, std::move(out), StatusCode::kOk};
}

void SymbolsHandler::Complete(DeferredReply* reply, Answer answer) {
  metrics_->CountRequest(answer.status);
  reply->Complete(answer.status, std::move(answer.body), RetryAfterFor(answer.status));
}

void SymbolsHandler::HandleChunked(h2o_req_t* req, const App& app, std::string_view rest) {
  const std::string_view method = RequestMethod(req);
  if (rest.empty() || rest == "/") {
    if (method == "POST") return CreateUpload(req, app);
    return Error(req, 405, "use POST /v1/apps/{app}/symbols/uploads?size=N to start an upload");
  }
  std::string_view id = rest.substr(1);
  const size_t slash = id.find('/');
  if (slash != std::string_view::npos) {
    if (id.substr(slash) != "/finish") {
      return Error(req, 404,
                   "unknown path: /v1/apps/{app}/symbols/uploads/{upload_id}/finish "
                   "finishes an upload");
    }
    if (method != "POST") return Error(req, 405, "use POST to finish an upload");
    return FinishUpload(req, app, id.substr(0, slash));
  }
  if (method == "PUT") return WriteChunk(req, app, id);
  if (method == "GET" || method == "DELETE") {
    if (method == "DELETE") {
      if (Status st = uploads_->Remove(app.id, id); !st.ok()) {
        return Error(req, StatusFor(st), st.message());
      }
      std::string out;
      JsonWriter(&out).BeginObject().Key("deleted").String(id).EndObject();
      return Reply(req, 200, out);
    }
    Result<SymbolUploadState> state = uploads_->Get(app.id, id);
    if (!state.ok()) return Error(req, StatusFor(state.status()), state.status().message());
    return Reply(req, 200, state->ToJson());
  }
  return Error(req, 405,
               "use PUT to send a chunk, GET to see what arrived, DELETE to drop the upload");
}

void SymbolsHandler::CreateUpload(h2o_req_t* req, const App& app) {
  std::optional<uint64_t> size = BytesParam(req, "size");
  if (!size) {
    return Error(req, 400, "?size= must be the symbol file's size in bytes, e.g. ?size=73400320");
  }
  if (Status st = SymbolUploads::CheckSize(*size); !st.ok()) {
    return Error(req, StatusFor(st), st.message());
  }
  // Checked now, so that a client learns before sending anything that the disk cannot take it
  // (the bytes the other open uploads still need count too).
  if (Status reserve = CheckReserve(*size + uploads_->PendingBytes()); !reserve.ok()) {
    return Error(req, 503, reserve.message());
  }
  Result<SymbolUploadState> state = uploads_->Create(app.id, *size);
  if (!state.ok()) return Error(req, StatusFor(state.status()), state.status().message());
  Reply(req, 201, state->ToJson());
}

void SymbolsHandler::WriteChunk(h2o_req_t* req, const App& app, std::string_view id) {
  std::optional<uint64_t> offset = BytesParam(req, "offset");
  if (!offset) {
    return Error(req, 400,
                 "?offset= must be where the chunk starts in the file, in bytes: the "
                 "upload's \"received\"");
  }
  // What can be refused now is, before the chunk is copied and queued (Write checks again).
  const size_t len = req->entity.base == nullptr ? 0 : req->entity.len;
  if (Status st = uploads_->CheckChunk(app.id, id, *offset, len); !st.ok()) {
    return Error(req, StatusFor(st), st.message());
  }
  // Chunks wait for one writer thread: the bytes waiting are bounded, as the log bounds its
  // backlog.
  if (queued_chunk_bytes_.fetch_add(len) + len > kMaxQueuedChunkBytes) {
    queued_chunk_bytes_.fetch_sub(len);
    return Error(req, 503, "symbol chunks are waiting for the disk; send this one again later");
  }
  auto data = std::make_shared<std::string>(req->entity.base, len);
  DeferredReply* reply = DeferredReply::Defer(req);
  chunk_writer_.Post([this, reply, data, app_id = app.id, id = std::string(id), at = *offset] {
    Status reserve = CheckReserve(data->size());
    Result<SymbolUploadState> state =
        reserve.ok() ? uploads_->Write(app_id, id, at, *data) : Result<SymbolUploadState>(reserve);
    queued_chunk_bytes_.fetch_sub(data->size());
    Complete(reply, state.ok()
                        ? Answer{200, state->ToJson(), StatusCode::kOk}
                        : Answer{StatusFor(state.status()), ErrorJson(state.status().message()),
                                 state.status().code()});
  });
}

void SymbolsHandler::FinishUpload(h2o_req_t* req, const App& app, std::string_view id) {
  Result<std::string> path = uploads_->BeginFinish(app.id, id);
  if (!path.ok() && path.status().code() == StatusCode::kNotFound) {
    // Finished already, its answer lost on the way (SymbolUploads, "Finished uploads").
    if (std::optional<SymbolUploads::Answer> done = uploads_->FinishedAnswer(app.id, id)) {
      return Reply(req, done->status, done->body);
    }
  }
  if (!path.ok()) return Error(req, StatusFor(path.status()), path.status().message());
  std::string name = QueryParam(req, "name");
  std::string version = QueryParam(req, "version");
  DeferredReply* reply = DeferredReply::Defer(req);
  converter_.Post([this, reply, path = *path, name, version, app_id = app.id,
                   id = std::string(id)] {
    Result<MappedFile> file = MapFileReadOnly(path, 1, "a symbol file");
    if (!file.ok()) {
      Answer failed{500, ErrorJson(file.status().message()), file.status().code()};
      uploads_->EndFinish(app_id, id, /*keep=*/false, {failed.status, failed.body});
      Complete(reply, std::move(failed));
      return;
    }
    Answer answer = Store(
        app_id, std::string_view(static_cast<const char*>(file->data), file->size), name, version);
    ::munmap(file->data, file->size);
    // A full disk leaves the upload whole, so that the finish can be sent again later. Either
    // way the upload is in its new state before the client hears the answer.
    uploads_->EndFinish(app_id, id, /*keep=*/answer.code == StatusCode::kUnavailable,
                        {answer.status, answer.body});
    Complete(reply, std::move(answer));
  });
}

}  // namespace vigil::ingest
