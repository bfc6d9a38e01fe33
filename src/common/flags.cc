// FlagSet parsing and help text.
#include "common/flags.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace vigil {

FlagSet::FlagSet(std::string usage, std::string description)
    : usage_(std::move(usage)), description_(std::move(description)) {}

void FlagSet::String(std::string name, std::string* target, std::string help) {
  flags_.push_back({std::move(name), std::move(help), *target, false, [target](std::string_view v) {
                      *target = std::string(v);
                      return true;
                    }});
}

void FlagSet::Int(std::string name, int64_t* target, std::string help) {
  flags_.push_back({std::move(name), std::move(help), std::to_string(*target), false,
                    [target](std::string_view v) {
                      int64_t parsed;
                      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
                      if (ec != std::errc() || ptr != v.data() + v.size()) return false;
                      *target = parsed;
                      return true;
                    }});
}

void FlagSet::Double(std::string name, double* target, std::string help) {
  std::string def = std::to_string(*target);
  flags_.push_back({std::move(name), std::move(help), def, false, [target](std::string_view v) {
                      std::string s(v);
                      char* end = nullptr;
                      double parsed = std::strtod(s.c_str(), &end);
                      if (s.empty() || end != s.c_str() + s.size()) return false;
                      *target = parsed;
                      return true;
                    }});
}

void FlagSet::Bool(std::string name, bool* target, std::string help) {
  flags_.push_back({std::move(name), std::move(help), *target ? "true" : "false", true,
                    [target](std::string_view v) {
                      if (v == "true" || v == "1" || v.empty()) {
                        *target = true;
                      } else if (v == "false" || v == "0") {
                        *target = false;
                      } else {
                        return false;
                      }
                      return true;
                    }});
}

const FlagSet::Flag* FlagSet::Find(std::string_view name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Status FlagSet::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    if (arg.substr(0, 2) != "--" && positional_ != nullptr) {
      positional_->emplace_back(arg);
      continue;
    }
    if (arg.substr(0, 2) != "--") {
      return Status::InvalidArgument("unexpected argument '" + std::string(arg) +
                                     "'; flags look like --name value (see --help)");
    }
    arg.remove_prefix(2);
    std::string_view name = arg;
    std::string_view value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    const Flag* flag = Find(name);
    if (flag == nullptr) {
      return Status::InvalidArgument("unknown flag --" + std::string(name) +
                                     " (see --help for the flags this command takes)");
    }
    if (!has_value && !flag->is_bool) {
      if (i + 1 >= args.size()) {
        return Status::InvalidArgument("flag --" + std::string(name) + " needs a value");
      }
      value = args[++i];
    }
    if (!flag->set(value)) {
      return Status::InvalidArgument("flag --" + std::string(name) + ": bad value '" +
                                     std::string(value) + "'");
    }
    set_.insert(std::string(name));
  }
  return Status::Ok();
}

std::optional<int> FlagSet::ParseCommandLine(const std::vector<std::string>& args,
                                             std::string_view command) {
  Status st = Parse(args);
  if (!st.ok()) {
    std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(command.size()), command.data(),
                 st.message().c_str());
    return 2;
  }
  if (help_requested_) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  return std::nullopt;
}

std::string FlagSet::Usage() const {
  std::string out = "usage: " + usage_ + "\n\n" + description_ + "\n\nflags:\n";
  for (const Flag& f : flags_) {
    std::string line = "  --" + f.name;
    if (!f.is_bool) line += " VALUE";
    if (line.size() < 28)
      line.append(28 - line.size(), ' ');
    else
      line += "\n" + std::string(28, ' ');
    line += f.help;
    if (!f.default_text.empty() && f.default_text != "false") {
      line += " (default: " + f.default_text + ")";
    }
    out += line + "\n";
  }
  out += "  --help                    show this help\n";
  return out;
}

}  // namespace vigil
