// Fingerprints and group ids for crashes; the rules are in grouping.h.
#include "process/grouping.h"

#include <xxhash.h>

#include <cstdio>

namespace vigil::process {

namespace {

std::string HashHex(std::string_view s) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(s.data(), s.size())));
  return buf;
}

bool IsDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::string NormalizeFunctionName(std::string_view name) {
  std::string out(name);
  // " [clone .isra.0]" (demangled) — possibly several.
  for (size_t at; (at = out.find(" [clone ")) != std::string::npos;) {
    size_t end = out.find(']', at);
    out.erase(at, end == std::string::npos ? std::string::npos : end - at + 1);
  }
  // Mangled-style suffixes on plain names: "foo.cold", "foo.part.1", "foo.isra.0",
  // "foo.constprop.2".
  for (std::string_view suffix : {".cold", ".part.", ".isra.", ".constprop.", ".lto_priv."}) {
    size_t at = out.find(suffix);
    if (at != std::string::npos && at > 0 && out.find('(') == std::string::npos) out.erase(at);
  }
  // Java / Kotlin: "lambda$onClick$0" -> "lambda$onClick$", "access$000" -> "access$".
  size_t dollar = out.rfind('$');
  if (dollar != std::string::npos && IsDigits(std::string_view(out).substr(dollar + 1))) {
    out.erase(dollar + 1);
  }
  return out;
}

Grouping GroupCrash(const GroupingInput& input) {
  Grouping g;
  const std::string type = input.exception_type.empty() ? "<unknown>" : input.exception_type;

  bool any_in_app = false;
  for (const GroupingFrame& f : input.frames) {
    any_in_app |= f.in_app;
    g.sentinel |= f.in_app && f.symbols_missing;
  }
  if (g.sentinel) {
    g.fingerprint = "sentinel|" + input.app_version + "|" + type;
    g.title = type + " (unsymbolicated, " +
              (input.app_version.empty() ? std::string("unknown version") : input.app_version) +
              ")";
    g.group_id = HashHex(g.fingerprint);
    return g;
  }
  // The frames that decide: in-app ones when there are any, else the top of the stack.
  std::vector<const GroupingFrame*> pick;
  for (const GroupingFrame& f : input.frames) {
    if ((any_in_app && !f.in_app) || f.function.empty()) continue;
    if (pick.size() == kFingerprintFrames) break;
    pick.push_back(&f);
  }
  g.fingerprint = type;
  for (const GroupingFrame* f : pick) g.fingerprint += "|" + NormalizeFunctionName(f->function);
  g.title = pick.empty() ? type : type + ": " + NormalizeFunctionName(pick.front()->function);
  if (!pick.empty()) {
    g.culprit = NormalizeFunctionName(pick.front()->function);
    if (!pick.front()->file.empty()) g.culprit += " (" + pick.front()->file + ")";
  }
  g.group_id = HashHex(g.fingerprint);
  return g;
}

}  // namespace vigil::process
