// Reads ELF and Mach-O object files (executables, shared objects, split debug files, dSYM
// companions, universal binaries; compressed debug sections included) and builds a symcache from
// their DWARF, with the symbol table filling what DWARF does not cover.
//
// LLVM 14's Object and DebugInfo libraries do the reading; this header exposes none of it, so
// only object_reader.cc pays their compile time. DWARF is walked once per file: every subprogram
// and inlined call with its ranges, every line-table row — never per address.
//
// Errors: InvalidArgument saying what is wrong with the file. Not hardened against every
// malicious DWARF: callers that take files from outside should build in a child process.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "symbols/symcache_builder.h"

namespace vigil::symbols {

// True when `data` starts with an ELF, Mach-O or Mach-O universal magic.
bool LooksLikeObjectFile(std::string_view data);

// One symcache per architecture slice (one for ELF and thin Mach-O). `name` becomes the module
// name. InvalidArgument when the file cannot be read or has neither debug info nor symbols.
Result<std::vector<BuiltSymCache>> BuildSymCachesFromObject(std::string_view data,
                                                            std::string_view name);

}  // namespace vigil::symbols
