// `vigil archive stats`: what the archive holds, per app — read from part footers only, so it
// is cheap and safe while a server writes (a part is visible only once renamed into place).
#include <cstdio>

#include "archive/archive_layout.h"
#include "archive/part_file.h"
#include "cli/commands.h"
#include "common/flags.h"
#include "common/json_writer.h"
#include "common/time_format.h"

namespace vigil::cli {

namespace {

constexpr const char* kArchiveUsage =
    "usage: vigil archive stats --data DIR [--json]\n"
    "\n"
    "  stats   per app: days, parts, rows (events), bytes, first and last day\n"
    "\n"
    "`vigil archive stats --help` lists the flags.\n";

int Stats(const std::vector<std::string>& args) {
  std::string data = "./data";
  bool json = false;
  FlagSet flags("vigil archive stats --data DIR [--json]",
                "Prints, for each app in the archive (<data>/archive), its days, part files,\n"
                "rows (archived events) and bytes, from the parts' footers. Damaged parts are\n"
                "counted and named. Safe while serving.");
  flags.String("data", &data, "data directory");
  flags.Bool("json", &json, "print JSON instead of a table");
  if (std::optional<int> exit_code = flags.ParseCommandLine(args, "vigil archive stats")) {
    return *exit_code;
  }
  const std::string root = data + "/archive";
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("apps").BeginArray();
  if (!json) {
    std::printf("%-24s %6s %8s %14s %14s  %-10s  %-10s\n", "app", "days", "parts", "rows", "bytes",
                "first day", "last day");
  }
  uint64_t total_parts = 0, total_rows = 0, total_bytes = 0, damaged = 0;
  for (const std::string& app : archive::ListArchivedApps(root)) {
    std::vector<int64_t> days = archive::ListArchivedDays(root, app);
    uint64_t parts = 0, rows = 0, bytes = 0;
    for (const archive::PartEntry& p :
         archive::ListParts(root, app, INT64_MIN / 2, INT64_MAX / 2)) {
      Result<archive::PartReader> r = archive::PartReader::Open(p.path);
      if (!r.ok()) {
        ++damaged;
        std::fprintf(stderr, "vigil archive stats: %s\n", r.status().ToString().c_str());
        continue;
      }
      ++parts;
      rows += r->info().rows;
      bytes += r->info().file_bytes;
    }
    total_parts += parts;
    total_rows += rows;
    total_bytes += bytes;
    std::string first = days.empty() ? "-" : FormatDay(days.front());
    std::string last = days.empty() ? "-" : FormatDay(days.back());
    w.BeginObject()
        .Key("app")
        .String(app)
        .Key("days")
        .Uint(days.size())
        .Key("parts")
        .Uint(parts)
        .Key("rows")
        .Uint(rows)
        .Key("bytes")
        .Uint(bytes)
        .Key("first_day")
        .String(first)
        .Key("last_day")
        .String(last)
        .EndObject();
    if (!json) {
      std::printf("%-24s %6zu %8llu %14llu %14llu  %-10s  %-10s\n", app.c_str(), days.size(),
                  static_cast<unsigned long long>(parts), static_cast<unsigned long long>(rows),
                  static_cast<unsigned long long>(bytes), first.c_str(), last.c_str());
    }
  }
  w.EndArray()
      .Key("parts")
      .Uint(total_parts)
      .Key("rows")
      .Uint(total_rows)
      .Key("bytes")
      .Uint(total_bytes)
      .Key("damaged_parts")
      .Uint(damaged)
      .EndObject();
  if (json) {
    std::printf("%s\n", out.c_str());
  } else {
    std::printf("%-24s %6s %8llu %14llu %14llu\n", "total", "",
                static_cast<unsigned long long>(total_parts),
                static_cast<unsigned long long>(total_rows),
                static_cast<unsigned long long>(total_bytes));
    if (damaged > 0)
      std::printf("damaged parts: %llu (named above)\n", static_cast<unsigned long long>(damaged));
  }
  return damaged > 0 ? 1 : 0;
}

}  // namespace

int RunArchiveCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kArchiveUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "stats") return Stats(rest);
  std::fprintf(stderr, "vigil archive: unknown subcommand '%s'\n\n%s", args[0].c_str(),
               kArchiveUsage);
  return 2;
}

}  // namespace vigil::cli
