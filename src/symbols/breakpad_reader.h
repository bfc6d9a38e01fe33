// Reads a Breakpad .sym text file (MODULE, INFO CODE_ID, FILE, INLINE_ORIGIN, FUNC, line records,
// INLINE, PUBLIC; STACK records are skipped) into a symcache. Both the current and the legacy
// INLINE / INLINE_ORIGIN syntax, LF and CRLF. Lookups then follow Breakpad's rules
// (docs/symbols.md): FUNC ranges first, a PUBLIC only above the nearest FUNC start below it.
//
// Errors: InvalidArgument naming the line and what is wrong; the input is never trusted.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "symbols/debug_id.h"

namespace vigil::symbols {

// What the MODULE and INFO lines say.
struct BreakpadModule {
  std::string os, arch, name;
  DebugId debug_id;
  std::string code_id;  // lower-case hex, or empty
};

// True when `data` starts like a Breakpad symbol file ("MODULE ").
bool LooksLikeBreakpad(std::string_view data);

// Parses only the MODULE / INFO header.
Result<BreakpadModule> ReadBreakpadModule(std::string_view data);

// Parses the whole file and returns the symcache bytes.
Result<std::string> BuildSymCacheFromBreakpad(std::string_view data, BreakpadModule* module);

}  // namespace vigil::symbols
