// FlagSet: the command-line flags of one `vigil` command, with its --help text.
//
// Accepts `--name value`, `--name=value` and, for booleans, a bare `--name`. An unknown flag or a
// malformed value is an InvalidArgument naming the flag and what it expects.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vigil {

class FlagSet {
 public:
  // `usage` is the synopsis line; `description` a paragraph shown under it by --help.
  FlagSet(std::string usage, std::string description);

  // Registers a flag; `target` must outlive the FlagSet and holds the default until parsed.
  void String(std::string name, std::string* target, std::string help);
  void Int(std::string name, int64_t* target, std::string help);
  void Double(std::string name, double* target, std::string help);
  void Bool(std::string name, bool* target, std::string help);
  // Collects arguments that are not flags into `target` (otherwise they are an error).
  void Positional(std::vector<std::string>* target) { positional_ = target; }

  Status Parse(const std::vector<std::string>& args);
  // Parse for a command's main: prints the usage on --help (exit code 0) or the error prefixed
  // by `command` on stderr (exit code 2) and returns that code; nullopt means carry on.
  std::optional<int> ParseCommandLine(const std::vector<std::string>& args,
                                      std::string_view command);
  bool help_requested() const { return help_requested_; }
  bool WasSet(std::string_view name) const { return set_.count(std::string(name)) > 0; }
  std::string Usage() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string default_text;
    bool is_bool;
    std::function<bool(std::string_view)> set;
  };
  const Flag* Find(std::string_view name) const;

  std::string usage_;
  std::string description_;
  std::vector<Flag> flags_;
  std::set<std::string> set_;
  bool help_requested_ = false;
  std::vector<std::string>* positional_ = nullptr;
};

}  // namespace vigil
