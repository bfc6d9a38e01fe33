// Crash grouping: which crash group a processed crash belongs to.
//
// The fingerprint is the exception type plus the function names of the top in-app frames after
// symbolication or retrace (never addresses, line numbers or the message), so the same bug in
// two builds or at two lines groups together and two different bugs do not. A crash whose in-app
// frames could not be symbolicated (a debug id or mapping was missing) goes to the *sentinel*
// group of (app version, exception type) instead, so it still counts, and moves to its real
// group when it is reprocessed with the symbols. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vigil::process {

// How many in-app frames the fingerprint uses.
inline constexpr size_t kFingerprintFrames = 3;

struct GroupingFrame {
  std::string function;          // symbolicated / retraced name; empty when unknown
  std::string file;              // for the culprit; may be empty
  bool in_app = false;           // in one of the app's own images / classes
  bool symbols_missing = false;  // its image's symbol file (or the mapping) is not uploaded
};

struct GroupingInput {
  std::string exception_type;  // "SIGSEGV", "java.lang.NullPointerException", ...
  std::string app_version;
  std::vector<GroupingFrame> frames;  // crashing thread, innermost first, inline frames expanded
};

struct Grouping {
  std::string group_id;     // 16 lower-case hex digits
  std::string fingerprint;  // what was hashed, readable: "SIGSEGV|Process(int)|main"
  std::string title;        // "SIGSEGV: Process(int)", or the type alone
  std::string culprit;      // the top in-app frame ("Process(int) (app.cc)"), or ""
  bool sentinel = false;
};

// Sentinel when an in-app frame's symbols are missing. Otherwise the fingerprint is the type and
// the first kFingerprintFrames named in-app frames (all frames when none is in-app; the type alone
// when no frame has a name).
//
// Function names as the fingerprint sees them: compiler clone suffixes (" [clone .isra.0]",
// ".cold", ".part.1") and Java/Kotlin synthetic lambda counters ("lambda$onClick$0") removed.
std::string NormalizeFunctionName(std::string_view name);

Grouping GroupCrash(const GroupingInput& input);

}  // namespace vigil::process
