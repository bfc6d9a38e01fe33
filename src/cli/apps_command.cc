// `vigil apps`: the admin API for apps (/v1/admin/apps, docs/protocol.md) from the command line,
// so that creating an app, setting its quota or rules and rotating its keys need no curl. Each
// subcommand is one request; its JSON answer is printed, except `list`, a table for people
// (--json for scripts).
#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/api_client_util.h"
#include "cli/commands.h"
#include "common/file_util.h"
#include "common/flags.h"
#include "common/json_writer.h"
#include "loadgen/http_client.h"

namespace vigil::cli {

namespace {

constexpr const char* kSynopsis = "vigil apps SUBCOMMAND [ARGS] --server URL --admin-token T";

constexpr const char* kDescription =
    "Manages the apps of a running server through its admin API. Subcommands:\n"
    "\n"
    "  list                       the apps, one line each (--json: the server's answer)\n"
    "  create NAME                a new app; prints its API token, shown only this once\n"
    "  show ID                    one app, as JSON\n"
    "  disable ID, enable ID      refuse (403) or accept the app's batches again\n"
    "  quota ID N [BURST]         at most N events per second, bursts of BURST (default\n"
    "                             10 s of N); N = 0 removes the quota\n"
    "  rules ID FILE              drop rules from a JSON file {\"drop\": [...]} (- for\n"
    "                             stdin); {\"drop\": []} removes them\n"
    "  api-token ID               a new API token, printed once; the old one stops working\n"
    "  ingest-key ID              a new ingest key for the app versions to come; the\n"
    "                             previous keys keep working until revoked\n"
    "  revoke-ingest-key ID KEY   stop accepting a previous ingest key\n"
    "\n"
    "The admin token comes from --admin-token, VIGIL_ADMIN_TOKEN, or <--data>/admin-token.";

struct Subcommand {
  const char* name;
  size_t min_args, max_args;  // after the subcommand's name
};
constexpr Subcommand kSubcommands[] = {
    {"list", 0, 0},       {"create", 1, 1},
    {"show", 1, 1},       {"disable", 1, 1},
    {"enable", 1, 1},     {"quota", 2, 3},
    {"rules", 2, 2},      {"api-token", 1, 1},
    {"ingest-key", 1, 1}, {"revoke-ingest-key", 2, 2},
};

// A request to make: method, path under the server's URL, body.
struct Call {
  std::string method, path, body;
  int expect = 200;
};

Result<Call> CallFor(const std::string& sub, const std::vector<std::string>& a) {
  const std::string apps = "/v1/admin/apps";
  const std::string app = a.empty() ? "" : apps + "/" + UrlEncode(a[0]);
  if (sub == "list") return Call{"GET", apps, ""};
  if (sub == "create") {
    std::string body;
    JsonWriter(&body).BeginObject().Key("name").String(a[0]).EndObject();
    return Call{"POST", apps, body, 201};
  }
  if (sub == "show") return Call{"GET", app, ""};
  if (sub == "disable" || sub == "enable") return Call{"POST", app + "/" + sub, ""};
  if (sub == "quota") {
    // Checked here only as numbers; the server says what it accepts.
    for (size_t i = 1; i < a.size(); ++i) {
      if (a[i].empty() || a[i].find_first_not_of("0123456789") != std::string::npos) {
        return Status::InvalidArgument("quota: N and BURST are whole numbers, got '" + a[i] + "'");
      }
    }
    std::string body = "{\"events_per_second\":" + a[1];
    if (a.size() == 3) body += ",\"burst_events\":" + a[2];
    return Call{"POST", app + "/quota", body + "}"};
  }
  if (sub == "rules") {
    Result<std::string> rules = a[1] == "-" ? ReadFile("/dev/stdin") : ReadFile(a[1]);
    if (!rules.ok()) return rules.status();
    return Call{"POST", app + "/rules", *rules};
  }
  if (sub == "api-token" || sub == "ingest-key") return Call{"POST", app + "/" + sub, ""};
  return Call{"DELETE", app + "/previous-ingest-keys/" + UrlEncode(a[1]), ""};
}

std::string QuotaText(simdjson::dom::element app) {
  uint64_t rate = 0, burst = 0;
  if (app["quota"]["events_per_second"].get(rate) != simdjson::SUCCESS ||
      app["quota"]["burst_events"].get(burst) != simdjson::SUCCESS) {
    return "-";  // no quota: events_per_second is null
  }
  return std::to_string(rate) + "/s, burst " + std::to_string(burst);
}

// The listing as a table: id, name, state, ingest key, quota, rules, previous keys.
Status PrintTable(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::array apps;
  if (parser.parse(body).get(root) || root["apps"].get(apps)) {
    return Status::Corruption("unexpected answer from the server: " + body);
  }
  std::printf("%-16s %-24s %-9s %-36s %-24s %5s %9s\n", "ID", "NAME", "STATE", "INGEST KEY",
              "QUOTA", "RULES", "PREV KEYS");
  for (simdjson::dom::element app : apps) {
    std::string_view id, name, key;
    bool disabled = false;
    simdjson::dom::array rules, previous;
    if (app["id"].get(id) || app["name"].get(name) || app["ingest_key"].get(key) ||
        app["disabled"].get(disabled) || app["drop_rules"]["drop"].get(rules) ||
        app["previous_ingest_keys"].get(previous)) {
      return Status::Corruption("unexpected app in the server's answer: " + body);
    }
    std::printf("%-16.*s %-24.*s %-9s %-36.*s %-24s %5zu %9zu\n", static_cast<int>(id.size()),
                id.data(), static_cast<int>(name.size()), name.data(),
                disabled ? "disabled" : "enabled", static_cast<int>(key.size()), key.data(),
                QuotaText(app).c_str(), rules.size(), previous.size());
  }
  return Status::Ok();
}

}  // namespace

int RunAppsCommand(const std::vector<std::string>& args) {
  std::string server, token, data;
  bool json = false;
  std::vector<std::string> positional;
  FlagSet flags(kSynopsis, kDescription);
  flags.String("server", &server, "the Vigil server, e.g. http://127.0.0.1:8080");
  flags.String("admin-token", &token, "the admin token (or VIGIL_ADMIN_TOKEN)");
  flags.String("data", &data, "read the admin token from DIR/admin-token (a local server)");
  flags.Bool("json", &json, "list: print the server's JSON instead of a table");
  flags.Positional(&positional);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args, "vigil apps")) {
    return *exit_code;
  }
  if (positional.empty()) {
    std::fprintf(stderr, "usage: %s\n\n%s\n", kSynopsis, kDescription);
    return 2;
  }
  const std::string sub = positional[0];
  const std::vector<std::string> sub_args(positional.begin() + 1, positional.end());
  const Subcommand* known = nullptr;
  for (const Subcommand& s : kSubcommands) {
    if (sub == s.name) known = &s;
  }
  if (known == nullptr) {
    std::fprintf(stderr, "vigil apps: unknown subcommand '%s' (see --help)\n", sub.c_str());
    return 2;
  }
  if (sub_args.size() < known->min_args || sub_args.size() > known->max_args) {
    std::fprintf(stderr, "vigil apps %s: wrong number of arguments (see --help)\n", sub.c_str());
    return 2;
  }
  if (token.empty()) {
    if (const char* env = std::getenv("VIGIL_ADMIN_TOKEN")) token = env;
  }
  if (token.empty() && !data.empty()) {
    Result<std::string> file = ReadFile(data + "/admin-token");
    if (!file.ok()) {
      std::fprintf(stderr, "vigil apps: %s\n", file.status().ToString().c_str());
      return 2;
    }
    token = *file;
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  }
  if (server.empty() || token.empty()) {
    std::fprintf(stderr,
                 "vigil apps: --server and the admin token (--admin-token, VIGIL_ADMIN_TOKEN or "
                 "--data) are required (see --help)\n");
    return 2;
  }
  Result<loadgen::HttpUrl> url = loadgen::ParseHttpUrl(server);
  if (!url.ok()) {
    std::fprintf(stderr, "vigil apps: %s\n", url.status().message().c_str());
    return 2;
  }
  Result<Call> call = CallFor(sub, sub_args);
  if (!call.ok()) {
    std::fprintf(stderr, "vigil apps %s: %s\n", sub.c_str(), call.status().message().c_str());
    return 2;
  }
  loadgen::HttpClient client(url->host, url->port, 30000);
  loadgen::HttpHeaders headers = {{"Authorization", "Bearer " + token}};
  if (!call->body.empty()) headers.push_back({"Content-Type", "application/json"});
  Result<loadgen::HttpResponse> r =
      client.Request(call->method, url->path + call->path, headers, call->body);
  if (!r.ok()) {
    std::fprintf(stderr, "vigil apps %s: cannot reach %s: %s\n", sub.c_str(), server.c_str(),
                 r.status().message().c_str());
    return 1;
  }
  if (r->status != call->expect) {
    std::fprintf(stderr, "vigil apps %s: HTTP %d %s\n", sub.c_str(), r->status, r->body.c_str());
    return 1;
  }
  if (sub == "list" && !json) {
    if (Status st = PrintTable(r->body); !st.ok()) {
      std::fprintf(stderr, "vigil apps list: %s\n", st.message().c_str());
      return 1;
    }
    return 0;
  }
  std::printf("%s\n", r->body.c_str());
  return 0;
}

}  // namespace vigil::cli
