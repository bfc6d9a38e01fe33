// vigil: one binary for every stage. Dispatches to the subcommand named by the first argument.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {
constexpr const char* kUsage =
    "usage: vigil <command> [flags]\n"
    "\n"
    "Vigil: self-hosted crash reporting and mobile-app analytics.\n"
    "\n"
    "commands:\n"
    "  serve      run the server: ingest, log and every other stage, embedded\n"
    "  apps       manage a server's apps: create, quotas, rules, keys (`vigil apps list`)\n"
    "  log        inspect the durable log: `vigil log stats`, `vigil log dump`\n"
    "  archive    inspect the event archive: `vigil archive stats`\n"
    "  batch      recompute days from the archive on a server: `vigil batch run`\n"
    "  loadgen    send synthetic device traffic to a server\n"
    "  symbols    upload symbol files to a server: `vigil symbols upload`\n"
    "  reprocess  re-run an app's crashes that waited for symbols\n"
    "  symbolicate  look up addresses in a symbol file, like addr2line\n"
    "  version    print the version\n"
    "\n"
    "`vigil <command> --help` describes each command and its flags.\n";
}

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "serve") return vigil::cli::RunServeCommand(rest);
  if (command == "apps") return vigil::cli::RunAppsCommand(rest);
  if (command == "log") return vigil::cli::RunLogCommand(rest);
  if (command == "archive") return vigil::cli::RunArchiveCommand(rest);
  if (command == "batch") return vigil::cli::RunBatchCommand(rest);
  if (command == "loadgen") return vigil::cli::RunLoadgenCommand(rest);
  if (command == "symbolicate") return vigil::cli::RunSymbolicateCommand(rest);
  if (command == "symbols") return vigil::cli::RunSymbolsCommand(rest);
  if (command == "reprocess") return vigil::cli::RunReprocessCommand(rest);
  if (command == "version" || command == "--version") {
    std::puts("vigil 0.1.0");
    return 0;
  }
  std::fprintf(stderr, "vigil: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 2;
}
