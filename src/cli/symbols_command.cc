// `vigil symbols upload`: sends symbol files to a server's /v1/apps/{app}/symbols, with a progress
// bar for large files, and prints what the server stored (one JSON object per file). Files over
// one chunk go through /symbols/uploads, resuming after a dropped connection.
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "cli/api_client_util.h"
#include "cli/commands.h"
#include "common/file_util.h"
#include "common/flags.h"
#include "ingest/symbol_uploads.h"
#include "loadgen/http_client.h"

namespace vigil::cli {

namespace {

constexpr const char* kSymbolsUsage =
    "usage: vigil symbols upload --server URL --token T [--app ID] FILE...\n"
    "       vigil symbols convert [--out DIR] FILE\n"
    "\n"
    "  upload   send Breakpad .sym, ELF / Mach-O files with debug info, or ProGuard / R8\n"
    "           mapping.txt files to a Vigil server, which converts and stores them\n"
    "  convert  turn a .sym, ELF or Mach-O file into symcaches locally (what the server\n"
    "           does on upload), to check a file before sending it\n"
    "\n"
    "`vigil symbols upload --help` and `vigil symbols convert --help` list the flags.\n";

std::string Basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// "\r  name  [#########           ]  45%  12.3 of 27.1 MiB" on stderr.
void DrawProgress(const std::string& name, size_t sent, size_t total) {
  constexpr int kWidth = 30;
  const double frac = total == 0 ? 1.0 : static_cast<double>(sent) / static_cast<double>(total);
  const int filled = static_cast<int>(frac * kWidth);
  std::fprintf(stderr, "\r  %s  [%s%s]  %3d%%  %.1f of %.1f MiB", name.c_str(),
               std::string(filled, '#').c_str(), std::string(kWidth - filled, ' ').c_str(),
               static_cast<int>(frac * 100), sent / 1048576.0, total / 1048576.0);
}

// What the server said of a chunked upload: its id, bytes received and chunk size.
struct UploadState {
  std::string id;
  uint64_t received = 0;
  uint64_t chunk_bytes = 0;
};

Result<UploadState> ParseUploadState(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  UploadState state;
  std::string_view id;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS ||
      doc["upload_id"].get(id) != simdjson::SUCCESS ||
      doc["received"].get(state.received) != simdjson::SUCCESS ||
      doc["chunk_bytes"].get(state.chunk_bytes) != simdjson::SUCCESS || state.chunk_bytes == 0) {
    return Status::Corruption("unexpected answer about a symbol upload: " + body);
  }
  state.id = std::string(id);
  return state;
}

// Whether `r` stands for a server that is away rather than answering: no answer at all, or a
// gateway's in its place (a reverse proxy or load balancer during a deploy: 502, 504, or a 503
// without Retry-After, which vigil's own 503s always carry).
bool ServerAway(const Result<loadgen::HttpResponse>& r) {
  return !r.ok() || r->status == 502 || r->status == 504 ||
         (r->status == 503 && r->Header("retry-after").empty());
}

// The server's clock when it sent `r` (its Date header), in ms since the epoch; nullopt without
// a Date header it can read.
std::optional<int64_t> ServerDateMs(const loadgen::HttpResponse& r) {
  const std::string date(r.Header("date"));
  std::tm tm{};
  const char* end = ::strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(::timegm(&tm)) * 1000;
}

// The server's answer for a file of `size` bytes stored under `symbols_path` at or after
// `since_ms` (its clock), as its finish would have given it: the entry, or {"symbols": [...]}
// for the several of one universal Mach-O (stored together, at one time); nullopt if none is.
Result<std::optional<std::string>> FindStored(loadgen::HttpClient* client,
                                              const std::string& symbols_path,
                                              const loadgen::HttpHeaders& auth, uint64_t size,
                                              int64_t since_ms) {
  Result<loadgen::HttpResponse> listed = client->Request("GET", symbols_path, auth, {});
  if (!listed.ok()) return listed.status();
  if (listed->status != 200) {
    return Status::Unavailable("GET " + symbols_path + ": HTTP " + std::to_string(listed->status) +
                               " " + listed->body);
  }
  simdjson::dom::parser parser;
  simdjson::dom::array symbols;
  if (parser.parse(listed->body)["symbols"].get(symbols) != simdjson::SUCCESS) {
    return Status::Corruption("unexpected answer listing symbols: " + listed->body);
  }
  std::vector<simdjson::dom::element> found;
  int64_t newest = 0;
  for (simdjson::dom::element entry : symbols) {
    uint64_t bytes = 0;
    int64_t uploaded_ms = 0;
    if (entry["bytes"].get(bytes) != simdjson::SUCCESS ||
        entry["uploaded_ms"].get(uploaded_ms) != simdjson::SUCCESS || bytes != size ||
        uploaded_ms < since_ms || uploaded_ms < newest) {
      continue;
    }
    if (uploaded_ms > newest) found.clear();
    newest = uploaded_ms;
    found.push_back(entry);
  }
  if (found.empty()) return std::optional<std::string>();
  if (found.size() == 1) return std::optional<std::string>(simdjson::to_string(found[0]));
  std::string all = "{\"symbols\":[";
  for (size_t i = 0; i < found.size(); ++i) {
    if (i > 0) all += ",";
    all += simdjson::to_string(found[i]);
  }
  return std::optional<std::string>(all + "]}");
}

// What went wrong in a row during an upload, and whether to try again.
class UploadRetries {
 public:
  static constexpr int kMaxRefusals = 5;
  static constexpr std::chrono::seconds kReconnectFor{120};

  // The server answered: an outage, if there was one, is over.
  void Answered() {
    away_since_.reset();
    away_tries_ = 0;
  }
  // ... and took the request: the refusals in a row end too.
  void Took() {
    Answered();
    refusals_ = 0;
  }
  // A refusal to wait out (a 409, a 503 with Retry-After): whether to go on.
  bool Refused() {
    Answered();
    return ++refusals_ <= kMaxRefusals;
  }
  // The server is away: whether to try again, for kReconnectFor from the first such try in a
  // row (a deploy), after a pause that grows to 5 s.
  bool Away() {
    const auto now = std::chrono::steady_clock::now();
    if (!away_since_) away_since_ = now;
    if (now - *away_since_ > kReconnectFor) return false;
    ::sleep(static_cast<unsigned>(std::min(++away_tries_, 5)));
    return true;
  }

 private:
  int refusals_ = 0;
  int away_tries_ = 0;
  std::optional<std::chrono::steady_clock::time_point> away_since_;
};

// Sends `data` in chunks: creates an upload under `symbols_path` (/v1/apps/{app}/symbols), PUTs
// the chunks, then finishes it with `finish_query`. A 409 is answered by asking the server what
// it received and going on from there, a 503 by sending the chunk again after its Retry-After
// (at most 60 s), up to UploadRetries::kMaxRefusals of them in a row. A server away (ServerAway)
// is waited for, up to UploadRetries::kReconnectFor, then asked the same way: the upload
// outlives a restart of the server (a deploy in the middle of a CI job's upload). So does a
// finish whose answer was lost: while the upload is still there, it is finished again.
// Returns the finish's answer, or the first answer that refused the upload.
Result<loadgen::HttpResponse> UploadInChunks(loadgen::HttpClient* client,
                                             const std::string& symbols_path,
                                             const loadgen::HttpHeaders& auth,
                                             std::string_view data, const std::string& finish_query,
                                             const loadgen::HttpClient::Progress& progress) {
  Result<loadgen::HttpResponse> created = client->Request(
      "POST", symbols_path + "/uploads?size=" + std::to_string(data.size()), auth, {});
  if (!created.ok() || created->status != 201) return created;
  Result<UploadState> state = ParseUploadState(created->body);
  if (!state.ok()) return state.status();
  const std::string upload_path = symbols_path + "/uploads/" + state->id;
  // When the upload began by the server's clock (its Date header's second, less a second that
  // h2o's cached date may lag): a file stored since then, of this size, is this one.
  const std::optional<int64_t> began_ms = ServerDateMs(*created);
  // Refused: the server need not keep the bytes until the upload expires (best effort).
  auto abandon = [&](Result<loadgen::HttpResponse> answer) {
    client->Close();
    (void)client->Request("DELETE", upload_path, auth, {});
    return answer;
  };
  // Away for too long: no DELETE (nothing answers it); the server drops the upload in 24 h.
  auto gone = [&](const Result<loadgen::HttpResponse>& last) -> Result<loadgen::HttpResponse> {
    return Status::Unavailable(
        "the server did not answer for " + std::to_string(UploadRetries::kReconnectFor.count()) +
        " s (last: " +
        (last.ok() ? "HTTP " + std::to_string(last->status) : last.status().message()) +
        "); upload " + state->id + " stays on the server for 24 h, but only a new upload can " +
        "be sent from here: run the command again once the server is back");
  };
  UploadRetries retries;
  uint64_t offset = 0;
  // Asks the server what it holds of the upload, into `offset`, waiting while it is away.
  // Returns an answer to end with when that is not 200 (e.g. 404: expired or deleted).
  auto ask = [&]() -> std::optional<Result<loadgen::HttpResponse>> {
    for (;;) {
      client->Close();
      Result<loadgen::HttpResponse> asked = client->Request("GET", upload_path, auth, {});
      if (ServerAway(asked)) {
        if (!retries.Away()) return gone(asked);
        continue;
      }
      retries.Answered();
      if (asked->status != 200) return asked;
      Result<UploadState> now = ParseUploadState(asked->body);
      if (!now.ok()) return Result<loadgen::HttpResponse>(now.status());
      offset = now->received;
      return std::nullopt;
    }
  };
  while (offset < data.size()) {
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(state->chunk_bytes, data.size() - offset));
    loadgen::HttpClient::Progress chunk_progress;
    if (progress) {
      chunk_progress = [&](size_t sent, size_t) {
        progress(static_cast<size_t>(offset) + std::min(sent, n), data.size());
      };
    }
    Result<loadgen::HttpResponse> r =
        client->Request("PUT", upload_path + "?offset=" + std::to_string(offset), auth,
                        data.substr(offset, n), chunk_progress);
    if (ServerAway(r)) {
      if (!retries.Away()) return gone(r);
      if (std::optional<Result<loadgen::HttpResponse>> stop = ask()) return *stop;
      continue;
    }
    if (r->status == 200) {
      Result<UploadState> now = ParseUploadState(r->body);
      if (!now.ok()) return now.status();
      offset = now->received;
      retries.Took();
      continue;
    }
    if (r->status == 503) {  // disk or chunk queue full: the same chunk, later
      if (!retries.Refused()) return abandon(r);
      const std::string after(r->Header("retry-after"));
      ::sleep(static_cast<unsigned>(std::clamp(std::strtol(after.c_str(), nullptr, 10), 1L, 60L)));
      continue;
    }
    if (r->status != 409) return abandon(r);  // refused: the caller shows why
    // The server holds other bytes than we thought: ask it.
    if (!retries.Refused()) return abandon(r);
    if (std::optional<Result<loadgen::HttpResponse>> stop = ask()) return *stop;
  }
  // A converting server answers each request meanwhile; this bounds the waiting all the same.
  constexpr auto kFinishFor = std::chrono::minutes(10);
  const auto finish_deadline = std::chrono::steady_clock::now() + kFinishFor;
  // A finish whose answer was lost, and the upload gone. The server keeps a finished upload's
  // answer for a day, and answers a finish sent again with it; one that restarted meanwhile has
  // forgotten it (404), and then the stored symbols tell whether the file is among them.
  const std::string lost = "the answer to finishing upload " + state->id + " was lost";
  auto look_for_stored = [&]() -> Result<loadgen::HttpResponse> {
    Result<std::optional<std::string>> stored =
        began_ms ? FindStored(client, symbols_path, auth, data.size(), *began_ms - 1000)
                 : Status::Unavailable("the server sent no Date header to tell it by");
    if (!stored.ok()) {
      return Status::Unavailable(lost + " and the upload is gone: the file was stored, or its " +
                                 "conversion failed (" + stored.status().message() + "); GET " +
                                 symbols_path + " lists what is stored");
    }
    if (!*stored) {
      return Status::Unavailable(
          lost + " and the upload is gone, and no file of its size is listed as stored since " +
          "it began (by the server's Date header): its conversion probably failed; GET " +
          symbols_path + " lists what is stored, and uploading the file again says why");
    }
    std::fprintf(stderr,
                 "vigil symbols upload: %s and the server no longer knows the upload; a file of "
                 "its size (%zu bytes) is listed as stored since the upload began\n",
                 lost.c_str(), data.size());
    loadgen::HttpResponse found;
    found.status = 201;
    found.body = std::move(**stored);
    return found;
  };
  auto vanished = [&]() -> Result<loadgen::HttpResponse> {
    Result<loadgen::HttpResponse> again =
        client->Request("POST", upload_path + "/finish" + finish_query, auth, {});
    if (again.ok() && again->status != 404 && !ServerAway(again)) {
      std::fprintf(stderr, "vigil symbols upload: %s; the server answered it again\n",
                   lost.c_str());
      return again;
    }
    return look_for_stored();
  };
  // The finish goes on a new connection: on a kept-alive one, the HTTP client sends a request
  // whose answer never came once more at once, and a finish sent again while the first converts
  // is refused (409), or after it stored the file, unknown (404). Lost, its answer is handled
  // here instead.
  client->Close();
  bool sent_again = false;
  for (;;) {
    Result<loadgen::HttpResponse> r =
        client->Request("POST", upload_path + "/finish" + finish_query, auth, {});
    // Sent again, a 404 is the first finish done and its answer forgotten (the server
    // restarted), and a 409 the first finish still converting: waited out like a lost answer.
    if (sent_again && r.ok() && r->status == 404) return look_for_stored();
    const bool still_converting = sent_again && r.ok() && r->status == 409;
    if (!ServerAway(r) && !still_converting) return r;
    if (std::chrono::steady_clock::now() > finish_deadline) {
      return Status::Unavailable("gave up after " + std::to_string(kFinishFor.count()) +
                                 " minutes waiting for upload " + state->id +
                                 " to be finished; GET " + symbols_path + " lists what is stored");
    }
    if (still_converting) {
      retries.Answered();
      ::sleep(2);
    } else if (!retries.Away()) {
      return gone(r);
    }
    // Its answer was lost (a restart while it converted?): is the upload still there?
    if (std::optional<Result<loadgen::HttpResponse>> stop = ask()) {
      if (!stop->ok() || (*stop)->status != 404) return *stop;
      return vanished();
    }
    if (offset != data.size()) {
      return Status::Internal("upload " + state->id + " lost bytes it had acknowledged");
    }
    sent_again = true;
  }
}

int Upload(const std::vector<std::string>& args) {
  std::string server, token, app;
  int64_t timeout_s = 600;
  std::vector<std::string> files;
  FlagSet flags(
      "vigil symbols upload --server URL --token T [--app ID] [--version V] FILE...",
      "Uploads symbol files: Breakpad .sym, ELF or Mach-O files with DWARF (executables,\n"
      "shared objects, split .debug files, dSYM companions) and ProGuard / R8\n"
      "mapping.txt. The server detects the kind from the content, converts each file\n"
      "into a symcache and answers what it stored; that answer is printed, one JSON\n"
      "object per line. A progress bar shows on stderr while a file is sent.\n"
      "Files over 8 MiB go in 8 MiB chunks (the server's /symbols/uploads API); after a\n"
      "dropped connection (a restart of the server too) the upload goes on from the last\n"
      "chunk the server received.");
  flags.String("server", &server, "the Vigil server, e.g. http://127.0.0.1:8080");
  flags.String("token", &token, "the app's API token (or VIGIL_API_TOKEN)");
  flags.String("app", &app, "the app id (default: the app the token belongs to)");
  std::string version;
  flags.String("version", &version,
               "app version a ProGuard mapping belongs to (for crashes sending no mapping_id)");
  flags.Int("timeout", &timeout_s, "seconds to wait for each file's answer");
  flags.Positional(&files);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args, "vigil symbols upload")) {
    return *exit_code;
  }
  if (token.empty()) {
    if (const char* env = std::getenv("VIGIL_API_TOKEN")) token = env;
  }
  if (server.empty() || token.empty() || files.empty()) {
    std::fprintf(stderr,
                 "vigil symbols upload: --server, --token and at least one FILE are required "
                 "(see --help)\n");
    return 2;
  }
  Result<loadgen::HttpUrl> url = loadgen::ParseHttpUrl(server);
  if (!url.ok()) {
    std::fprintf(stderr, "vigil symbols upload: %s\n", url.status().message().c_str());
    return 2;
  }
  loadgen::HttpClient client(url->host, url->port, static_cast<int>(timeout_s * 1000));
  const loadgen::HttpHeaders auth = {{"Authorization", "Bearer " + token}};
  if (app.empty()) {
    Result<std::string> id = AppForToken(&client, url->path, token);
    if (!id.ok()) {
      std::fprintf(stderr, "vigil symbols upload: %s\n", id.status().message().c_str());
      return 1;
    }
    app = *id;
  }
  const bool tty = isatty(2);
  int failed = 0;
  for (const std::string& path : files) {
    Result<std::string> data = ReadFile(path);
    if (!data.ok()) {
      std::fprintf(stderr, "vigil symbols upload: %s\n", data.status().ToString().c_str());
      ++failed;
      continue;
    }
    const std::string name = Basename(path);
    loadgen::HttpClient::Progress progress;
    if (tty || data->size() >= (8 << 20)) {
      progress = [&name](size_t sent, size_t total) { DrawProgress(name, sent, total); };
    }
    const std::string symbols_path = url->path + "/v1/apps/" + app + "/symbols";
    const std::string query =
        "?name=" + UrlEncode(name) + (version.empty() ? "" : "&version=" + UrlEncode(version));
    // One request up to a chunk; larger files in chunks, which any listener takes.
    Result<loadgen::HttpResponse> r =
        data->size() <= ingest::SymbolUploads::kChunkBytes
            ? client.Request("POST", symbols_path + query, auth, *data, progress)
            : UploadInChunks(&client, symbols_path, auth, *data, query, progress);
    if (progress) std::fprintf(stderr, "\n");
    if (!r.ok()) {
      std::fprintf(stderr, "vigil symbols upload: %s: %s\n", path.c_str(),
                   r.status().message().c_str());
      ++failed;
      continue;
    }
    if (r->status != 201) {
      std::fprintf(stderr, "vigil symbols upload: %s: HTTP %d %s\n", path.c_str(), r->status,
                   r->body.c_str());
      ++failed;
      continue;
    }
    std::printf("%s\n", r->body.c_str());
    std::fflush(stdout);
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

int RunSymbolsCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kSymbolsUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "upload") return Upload(rest);
  if (args[0] == "convert") return RunSymbolsConvert(rest);
  std::fprintf(stderr, "vigil symbols: unknown subcommand '%s'\n\n%s", args[0].c_str(),
               kSymbolsUsage);
  return 2;
}

}  // namespace vigil::cli
