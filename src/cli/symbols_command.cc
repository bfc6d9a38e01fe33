// `vigil symbols upload`: sends symbol files to a server's /v1/apps/{app}/symbols, with a progress
// bar for large files, and prints what the server stored (one JSON object per file). Files over
// one chunk go through /symbols/uploads, resuming after a dropped connection.
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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

// Sends `data` in chunks: creates an upload under `symbols_path` (/v1/apps/{app}/symbols), PUTs
// the chunks, then finishes it with `finish_query`. A 409 is answered by asking the server what
// it received and going on from there, a 503 by sending the chunk again after its Retry-After
// (at most 60 s), up to kMaxRefusals of them in a row. A lost connection is answered the same
// way as a 409, for as long as kReconnectFor since the server last answered: the upload outlives
// a restart of the server (a deploy in the middle of a CI job's upload). So does a finish whose
// answer was lost: while the upload is still there, it is finished again.
// Returns the finish's answer, or the first answer that refused the upload.
Result<loadgen::HttpResponse> UploadInChunks(loadgen::HttpClient* client,
                                             const std::string& symbols_path,
                                             const loadgen::HttpHeaders& auth,
                                             std::string_view data, const std::string& finish_query,
                                             const loadgen::HttpClient::Progress& progress) {
  using Clock = std::chrono::steady_clock;
  constexpr int kMaxRefusals = 5;
  constexpr auto kReconnectFor = std::chrono::seconds(120);
  Result<loadgen::HttpResponse> created = client->Request(
      "POST", symbols_path + "/uploads?size=" + std::to_string(data.size()), auth, {});
  if (!created.ok() || created->status != 201) return created;
  Result<UploadState> state = ParseUploadState(created->body);
  if (!state.ok()) return state.status();
  const std::string upload_path = symbols_path + "/uploads/" + state->id;
  // Given up on: the server need not keep the bytes until the upload expires (best effort).
  auto abandon = [&](Result<loadgen::HttpResponse> answer) {
    client->Close();
    (void)client->Request("DELETE", upload_path, auth, {});
    return answer;
  };
  int failures = 0;  // in a row
  Clock::time_point answered = Clock::now();
  // After `r`, a refusal to wait out or a lost connection: whether to try again (after a pause
  // that grows with the failures in a row, at most 5 s).
  auto again = [&](const Result<loadgen::HttpResponse>& r) {
    ++failures;
    if (r.ok()) answered = Clock::now();
    if (r.ok() ? failures > kMaxRefusals : Clock::now() - answered > kReconnectFor) return false;
    ::sleep(static_cast<unsigned>(std::min(failures, 5)));
    client->Close();
    return true;
  };
  // What the server holds of the upload, into `offset`; an answer to return when it is not 200.
  uint64_t offset = 0;
  auto ask = [&]() -> std::optional<Result<loadgen::HttpResponse>> {
    Result<loadgen::HttpResponse> asked = client->Request("GET", upload_path, auth, {});
    if (!asked.ok()) return std::nullopt;  // the next try tells
    answered = Clock::now();
    if (asked->status != 200) return asked;  // e.g. 404: expired or deleted
    Result<UploadState> now = ParseUploadState(asked->body);
    if (!now.ok()) return Result<loadgen::HttpResponse>(now.status());
    offset = now->received;
    return std::nullopt;
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
    if (r.ok() && r->status == 200) {
      Result<UploadState> now = ParseUploadState(r->body);
      if (!now.ok()) return now.status();
      offset = now->received;
      failures = 0;
      answered = Clock::now();
      continue;
    }
    if (r.ok() && r->status == 503) {  // disk or chunk queue full: the same chunk, later
      answered = Clock::now();
      if (++failures > kMaxRefusals) return abandon(r);
      const std::string after(r->Header("retry-after"));
      const long wait_s = after.empty() ? 5 : std::strtol(after.c_str(), nullptr, 10);
      ::sleep(static_cast<unsigned>(std::clamp(wait_s, 1L, 60L)));
      continue;
    }
    if (r.ok() && r->status != 409) return abandon(r);  // refused: the caller shows why
    // The connection dropped, or the server holds other bytes than we thought: ask it.
    if (!again(r)) return abandon(r);
    if (std::optional<Result<loadgen::HttpResponse>> stop = ask()) return *stop;
  }
  failures = 0;
  bool sent_again = false;
  // A converting server answers each request meanwhile; this bounds the waiting all the same.
  const Clock::time_point finish_deadline = Clock::now() + std::chrono::minutes(10);
  for (;;) {
    Result<loadgen::HttpResponse> r =
        client->Request("POST", upload_path + "/finish" + finish_query, auth, {});
    // Sent again, a 409 is the first finish still converting: waited out like a lost answer.
    if (r.ok() && !(sent_again && r->status == 409)) return r;
    if (r.ok()) answered = Clock::now();
    // Its answer was lost (a restart while it converted?): is the upload still there?
    for (;;) {
      if (Clock::now() > finish_deadline ||
          !again(Result<loadgen::HttpResponse>(Status::Unavailable("finish")))) {
        return r;
      }
      Result<loadgen::HttpResponse> asked = client->Request("GET", upload_path, auth, {});
      if (!asked.ok()) continue;
      answered = Clock::now();
      if (asked->status == 404) {
        return Status::Unavailable(
            "the answer to finishing upload " + state->id +
            " was lost and the upload is gone: the file was most likely stored (GET " +
            symbols_path + " lists what is)");
      }
      if (asked->status != 200) return asked;
      Result<UploadState> now = ParseUploadState(asked->body);
      if (!now.ok()) return now.status();
      if (now->received != data.size()) {
        return Status::Internal("upload " + state->id + " lost bytes it had acknowledged");
      }
      break;
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
