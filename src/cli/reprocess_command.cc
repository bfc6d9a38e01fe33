// `vigil reprocess`: asks a server to process an app's sentinel crashes again — the ones that
// waited for symbol files — after symbols were uploaded some other way, or to retry by hand.
// The server does it in the background; the command prints how many crashes were queued.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/api_client_util.h"
#include "cli/commands.h"
#include "common/flags.h"
#include "loadgen/http_client.h"

namespace vigil::cli {

int RunReprocessCommand(const std::vector<std::string>& args) {
  std::string server, token, app, version;
  FlagSet flags(
      "vigil reprocess --server URL --token T [--app ID] [--version V]",
      "Reprocesses the crashes of an app that sit in sentinel groups (they could not be\n"
      "symbolicated because a symbol file was missing) from the raw log: those whose\n"
      "symbols are now stored move to their real crash groups. Uploading a symbol file\n"
      "does this automatically; this command does it by hand, for one app version\n"
      "(--version) or all of them. Prints {\"queued\": N}: the crashes sent to processing.");
  flags.String("server", &server, "the Vigil server, e.g. http://127.0.0.1:8080");
  flags.String("token", &token, "the app's API token (or VIGIL_API_TOKEN)");
  flags.String("app", &app, "the app id (default: the app the token belongs to)");
  flags.String("version", &version, "only crashes of this app version (default: every version)");
  if (std::optional<int> exit_code = flags.ParseCommandLine(args, "vigil reprocess")) {
    return *exit_code;
  }
  if (token.empty()) {
    if (const char* env = std::getenv("VIGIL_API_TOKEN")) token = env;
  }
  if (server.empty() || token.empty()) {
    std::fprintf(stderr, "vigil reprocess: --server and --token are required (see --help)\n");
    return 2;
  }
  Result<loadgen::HttpUrl> url = loadgen::ParseHttpUrl(server);
  if (!url.ok()) {
    std::fprintf(stderr, "vigil reprocess: %s\n", url.status().message().c_str());
    return 2;
  }
  loadgen::HttpClient client(url->host, url->port, 30000);
  if (app.empty()) {
    Result<std::string> id = AppForToken(&client, url->path, token);
    if (!id.ok()) {
      std::fprintf(stderr, "vigil reprocess: %s\n", id.status().message().c_str());
      return 1;
    }
    app = *id;
  }
  std::string path = url->path + "/v1/apps/" + UrlEncode(app) + "/reprocess";
  if (!version.empty()) path += "?version=" + UrlEncode(version);
  Result<loadgen::HttpResponse> r =
      client.Request("POST", path, {{"Authorization", "Bearer " + token}}, {});
  if (!r.ok()) {
    std::fprintf(stderr, "vigil reprocess: %s\n", r.status().message().c_str());
    return 1;
  }
  if (r->status != 202) {
    std::fprintf(stderr, "vigil reprocess: HTTP %d %s\n", r->status, r->body.c_str());
    return 1;
  }
  std::printf("%s\n", r->body.c_str());
  return 0;
}

}  // namespace vigil::cli
