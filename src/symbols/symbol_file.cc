// Symbol file kind detection and dispatch to the Breakpad and object-file readers.
#include "symbols/symbol_file.h"

#include <cstring>

#include "symbols/breakpad_reader.h"
#include "symbols/object_reader.h"

namespace vigil::symbols {

SymbolFileKind DetectSymbolFileKind(std::string_view data) {
  if (data.size() >= 8 && std::memcmp(data.data(), symcache::kMagic, 8) == 0) {
    return SymbolFileKind::kSymCache;
  }
  if (LooksLikeBreakpad(data)) return SymbolFileKind::kBreakpad;
  if (LooksLikeObjectFile(data)) return SymbolFileKind::kObject;
  return SymbolFileKind::kUnknown;
}

const char* SymbolFileKindName(SymbolFileKind kind) {
  switch (kind) {
    case SymbolFileKind::kSymCache:
      return "symcache";
    case SymbolFileKind::kBreakpad:
      return "breakpad";
    case SymbolFileKind::kObject:
      return "object";
    case SymbolFileKind::kUnknown:
      break;
  }
  return "unknown";
}

Result<std::vector<BuiltSymCache>> BuildSymCaches(std::string_view data, std::string_view name) {
  std::vector<BuiltSymCache> out;
  switch (DetectSymbolFileKind(data)) {
    case SymbolFileKind::kBreakpad: {
      BreakpadModule module;
      Result<std::string> bytes = BuildSymCacheFromBreakpad(data, &module);
      if (!bytes.ok()) return bytes.status();
      BuiltSymCache c;
      c.bytes = std::move(*bytes);
      c.source = symcache::SourceKind::kBreakpad;
      c.debug_id = module.debug_id;
      c.code_id = module.code_id;
      c.arch = module.arch;
      out.push_back(std::move(c));
      return out;
    }
    case SymbolFileKind::kObject:
      return BuildSymCachesFromObject(data, name);
    case SymbolFileKind::kSymCache:
      return Status::InvalidArgument(
          "this is already a symcache; upload the original symbol file instead");
    case SymbolFileKind::kUnknown:
      break;
  }
  return Status::InvalidArgument(
      "unknown symbol file format: expected a Breakpad .sym (starting with 'MODULE '), an ELF or "
      "Mach-O file with debug info, or a ProGuard/R8 mapping.txt");
}

}  // namespace vigil::symbols
