// `vigil batch run`: recomputes (app, day) rollups from the archive on a running server — the
// scheduled batch pass on demand, and the backfill of days batch missed. It asks the server one
// day at a time (POST /v1/admin/batch/run) so it can show progress on a long range.
#include <simdjson.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/flags.h"
#include "common/json_writer.h"
#include "common/time_bucket.h"
#include "common/time_format.h"
#include "loadgen/http_client.h"

namespace vigil::cli {

namespace {

constexpr const char* kBatchUsage =
    "usage: vigil batch run --server URL --admin-token T [--app ID] [--from T] [--to T]\n"
    "\n"
    "  run   recompute days from the archive (exact, deduplicated counts) and seal them\n"
    "\n"
    "`vigil batch run --help` lists the flags.\n";

constexpr int kBarWidth = 30;

struct Totals {
  uint64_t days = 0, events = 0, duplicates = 0, unchanged_days = 0;
};

// One day's answer: {"days","events","duplicates","unchanged_days","seconds"}; a server before
// unchanged_days counts none.
Status AddAnswer(const std::string& body, Totals* totals) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  uint64_t days = 0, events = 0, duplicates = 0;
  if (parser.parse(body).get(root) || root["days"].get(days) || root["events"].get(events) ||
      root["duplicates"].get(duplicates)) {
    return Status::Corruption("the server's answer is not a batch run result: " + body);
  }
  totals->days += days;
  totals->events += events;
  totals->duplicates += duplicates;
  uint64_t unchanged_days = 0;
  if (root["unchanged_days"].get(unchanged_days) != simdjson::SUCCESS) unchanged_days = 0;
  totals->unchanged_days += unchanged_days;
  return Status::Ok();
}

void DrawProgress(bool tty, size_t done, size_t total, int64_t day, const Totals& t,
                  double seconds) {
  if (!tty) {
    std::fprintf(stderr, "vigil batch run: %s done (%zu/%zu), %llu events\n",
                 FormatDay(day).c_str(), done, total, static_cast<unsigned long long>(t.events));
    return;
  }
  const int filled = static_cast<int>(kBarWidth * done / (total == 0 ? 1 : total));
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kBarWidth - filled), '.');
  std::fprintf(stderr, "\r[%s] %zu/%zu days  %s  %llu events  %.1f s ", bar.c_str(), done, total,
               FormatDay(day).c_str(), static_cast<unsigned long long>(t.events), seconds);
  if (done == total) std::fputc('\n', stderr);
}

int Run(const std::vector<std::string>& args) {
  std::string server, token, app, from_text, to_text;
  FlagSet flags(
      "vigil batch run --server URL --admin-token T [--app ID] [--from T] [--to T]",
      "Recomputes, from the archive, every (app, day) in [from, to) on a running server with\n"
      "the same aggregation code as the speed layer, dropping repeated event ids, and seals\n"
      "the days that are over: the dashboard then answers them from batch, exactly. Days are\n"
      "done one at a time, oldest first, with a progress bar; a rerun of a day whose cells come\n"
      "out the same rewrites nothing (counted in unchanged_days), so it is also how missed days\n"
      "are backfilled. Times: a date (2026-11-01), RFC 3339 or epoch ms. Prints {\"days\",\n"
      "\"events\", \"duplicates\", \"unchanged_days\", \"seconds\"} when done.");
  flags.String("server", &server, "the Vigil server, e.g. http://127.0.0.1:8080");
  flags.String("admin-token", &token, "the admin token (or VIGIL_ADMIN_TOKEN)");
  flags.String("app", &app, "only this app id (default: every app in the archive)");
  flags.String("from", &from_text, "first day (default: 30 days before --to)");
  flags.String("to", &to_text, "end, exclusive (default: now)");
  if (std::optional<int> exit_code = flags.ParseCommandLine(args, "vigil batch run")) {
    return *exit_code;
  }
  if (token.empty()) {
    if (const char* env = std::getenv("VIGIL_ADMIN_TOKEN")) token = env;
  }
  if (server.empty() || token.empty()) {
    std::fprintf(stderr, "vigil batch run: --server and --admin-token are required (see --help)\n");
    return 2;
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  int64_t to = now;
  if (!to_text.empty()) {
    Result<int64_t> t = ParseTime(to_text);
    if (!t.ok()) {
      std::fprintf(stderr, "vigil batch run: --to: %s\n", t.status().message().c_str());
      return 2;
    }
    to = *t;
  }
  int64_t from = to - 30 * kDayMs;
  if (!from_text.empty()) {
    Result<int64_t> t = ParseTime(from_text);
    if (!t.ok()) {
      std::fprintf(stderr, "vigil batch run: --from: %s\n", t.status().message().c_str());
      return 2;
    }
    from = *t;
  }
  if (from >= to) {
    std::fprintf(stderr, "vigil batch run: --from must be before --to\n");
    return 2;
  }
  Result<loadgen::HttpUrl> url = loadgen::ParseHttpUrl(server);
  if (!url.ok()) {
    std::fprintf(stderr, "vigil batch run: %s\n", url.status().message().c_str());
    return 2;
  }
  // A day of a large app can take a while: wait up to an hour for each.
  loadgen::HttpClient client(url->host, url->port, 3600 * 1000);
  std::vector<int64_t> days;
  for (int64_t d = BucketStart(from, Granularity::kDay); d < to; d += kDayMs) days.push_back(d);
  const bool tty = isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  Totals totals;
  for (size_t i = 0; i < days.size(); ++i) {
    std::string body;
    JsonWriter w(&body);
    w.BeginObject();
    if (!app.empty()) w.Key("app").String(app);
    w.Key("from").String(FormatRfc3339(std::max(days[i], from)));
    w.Key("to").String(FormatRfc3339(std::min(days[i] + kDayMs, to)));
    w.EndObject();
    Result<loadgen::HttpResponse> r = client.Request(
        "POST", url->path + "/v1/admin/batch/run",
        {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}}, body);
    if (tty && i > 0 && (!r.ok() || r->status != 200)) std::fputc('\n', stderr);  // end the bar
    if (!r.ok()) {
      std::fprintf(stderr, "vigil batch run: %s: %s\n", FormatDay(days[i]).c_str(),
                   r.status().message().c_str());
      return 1;
    }
    if (r->status != 200) {
      std::fprintf(stderr, "vigil batch run: %s: HTTP %d %s\n", FormatDay(days[i]).c_str(),
                   r->status, r->body.c_str());
      return 1;
    }
    if (Status st = AddAnswer(r->body, &totals); !st.ok()) {
      std::fprintf(stderr, "vigil batch run: %s\n", st.message().c_str());
      return 1;
    }
    DrawProgress(tty, i + 1, days.size(), days[i], totals, elapsed());
  }
  std::string out;
  JsonWriter(&out)
      .BeginObject()
      .Key("days")
      .Uint(totals.days)
      .Key("events")
      .Uint(totals.events)
      .Key("duplicates")
      .Uint(totals.duplicates)
      .Key("unchanged_days")
      .Uint(totals.unchanged_days)
      .Key("seconds")
      .Double(elapsed())
      .EndObject();
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace

int RunBatchCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kBatchUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "run") return Run(std::vector<std::string>(args.begin() + 1, args.end()));
  std::fprintf(stderr, "vigil batch: unknown subcommand %s\n\n%s", args[0].c_str(), kBatchUsage);
  return 2;
}

}  // namespace vigil::cli
