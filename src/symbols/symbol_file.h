// One entry point for "here is a symbol file, make symcaches of it": detects the kind from the
// content (never from the file name) and runs the matching reader.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "symbols/debug_id.h"
#include "symbols/symcache_builder.h"

namespace vigil::symbols {

enum class SymbolFileKind { kUnknown, kSymCache, kBreakpad, kObject };

// Detected from the first bytes.
SymbolFileKind DetectSymbolFileKind(std::string_view data);
const char* SymbolFileKindName(SymbolFileKind kind);

// Builds the symcaches of a Breakpad .sym or an ELF / Mach-O file (one per architecture).
// `name` is the module name to record (a Breakpad file's MODULE name takes precedence).
// InvalidArgument for a file of no known kind or a broken one, naming what is wrong.
Result<std::vector<BuiltSymCache>> BuildSymCaches(std::string_view data, std::string_view name);

}  // namespace vigil::symbols
