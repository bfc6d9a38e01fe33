// The subcommands of the `vigil` binary. Each takes the arguments after its name and returns
// the process exit code (0 success, 1 failure, 2 usage error).
#pragma once

#include <string>
#include <vector>

namespace vigil::cli {

int RunServeCommand(const std::vector<std::string>& args);
int RunAppsCommand(const std::vector<std::string>& args);
int RunLogCommand(const std::vector<std::string>& args);
int RunLoadgenCommand(const std::vector<std::string>& args);
int RunSymbolicateCommand(const std::vector<std::string>& args);
int RunSymbolsCommand(const std::vector<std::string>& args);
// `vigil symbols convert`, also what the server runs as its symbol converter child.
int RunSymbolsConvert(const std::vector<std::string>& args);
int RunReprocessCommand(const std::vector<std::string>& args);
int RunArchiveCommand(const std::vector<std::string>& args);
int RunBatchCommand(const std::vector<std::string>& args);

}  // namespace vigil::cli
