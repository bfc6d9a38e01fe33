// `vigil symbols upload`: sends symbol files to a server's /v1/apps/{app}/symbols, with a progress
// bar for large files, and prints what the server stored (one JSON object per file).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/api_client_util.h"
#include "cli/commands.h"
#include "common/file_util.h"
#include "common/flags.h"
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
      "object per line. A progress bar shows on stderr while a file is sent.");
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
    Result<loadgen::HttpResponse> r =
        client.Request("POST",
                       url->path + "/v1/apps/" + app + "/symbols?name=" + UrlEncode(name) +
                           (version.empty() ? "" : "&version=" + UrlEncode(version)),
                       auth, *data, progress);
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
