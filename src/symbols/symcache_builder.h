// SymCacheBuilder: turns what a symbol reader found (functions, line rows, inline calls) into the
// flat, sorted symcache file of symcache_format.h.
//
// Readers (Breakpad, DWARF) describe each function once: its address ranges, its line rows and its
// inlined calls with their depth and call site. The builder cuts every function into elementary
// address intervals, resolves each to its chain of frames (innermost inlinee at the line row's
// file:line, each caller at the call site one level deeper), deduplicates those chains, and lays
// the result out for binary search. Where functions overlap (identical-code folding), the first
// added wins; symbols without line info (Breakpad PUBLIC, ELF symtab) only fill gaps.
//
// Not thread-safe; one builder per file. Addresses are link-time addresses; the builder stores
// them relative to Info::image_base and fails if they span 4 GiB or more.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "common/string_hash.h"
#include "symbols/debug_id.h"
#include "symbols/symcache_format.h"

namespace vigil::symbols {

// A finished symcache and what it was built from, as the readers return it.
struct BuiltSymCache {
  std::string bytes;  // the symcache file
  symcache::SourceKind source = symcache::SourceKind::kBreakpad;
  DebugId debug_id;
  std::string code_id;  // lower- or upper-case hex as the source gives it; may be empty
  std::string arch;
  bool has_debug_info = true;  // false: symbol table only (no file:line)
};

class SymCacheBuilder {
 public:
  struct Info {
    symcache::SourceKind kind = symcache::SourceKind::kBreakpad;
    DebugId debug_id;
    std::string code_id;  // lower-case hex, may be empty
    std::string name;     // module name
    std::string arch;
    uint32_t address_bits = 64;
    uint64_t image_base = 0;
  };
  struct AddrRange {
    uint64_t begin, end;  // [begin, end)
  };
  struct LineRow {
    uint64_t begin, end;
    uint32_t file;  // from AddFile, or symcache::kNone
    uint32_t line;
    uint32_t discriminator = 0;
  };
  // One address range of one inlined call. depth 1 is inlined directly into the function.
  struct Inlinee {
    uint32_t depth;
    uint64_t begin, end;
    uint32_t function;   // the inlined function, from AddFunction
    uint32_t call_file;  // where its caller calls it; kNone = the line row's file (legacy Breakpad)
    uint32_t call_line;
    uint32_t call_discriminator = 0;
  };

  explicit SymCacheBuilder(Info info);

  // Interned: the same path gives the same index.
  uint32_t AddFile(std::string_view path);
  // Interned on (name, entry_addr).
  uint32_t AddFunction(std::string_view name, uint64_t entry_addr);
  // A function with line info. `rows` and `inlinees` may come in any order; parts outside
  // `ranges` are ignored. Where no row gives the outermost frame a file, `fallback_file` does.
  void AddFunctionBody(uint32_t function, std::span<const AddrRange> ranges,
                       std::span<const LineRow> rows, std::span<const Inlinee> inlinees,
                       uint32_t fallback_file = symcache::kNone);
  // A symbol without line info covering [begin, end), used only where no function body is;
  // `file` (or kNone) is its frame's file where no line row covers it.
  void AddSymbol(uint32_t function, uint64_t begin, uint64_t end, uint32_t file = symcache::kNone);
  // Line rows that give symbols (AddSymbol) their file:line where no function body covers them:
  // code the line table knows but no DWARF subprogram describes.
  void AddLineRows(std::span<const LineRow> rows);

  // The finished file. InvalidArgument if the addresses cannot be stored.
  Result<std::string> Finish();

 private:
  struct Range {
    uint64_t begin, end;
    uint32_t loc;
    uint32_t seq;
  };
  struct LocKey {
    uint32_t file, line, function, inlined_into, discriminator;
    bool operator==(const LocKey&) const = default;
  };
  struct LocKeyHash {
    size_t operator()(const LocKey& k) const;
  };

  uint32_t Intern(std::string_view s);
  uint32_t AddLocation(const LocKey& key);

  Info info_;
  std::string strings_;
  // -> offset in strings_; looked up by string_view without a copy.
  StringMap<uint32_t> string_index_;
  std::vector<symcache::File> files_;
  std::unordered_map<uint32_t, uint32_t> file_index_;  // string offset -> file index
  std::vector<symcache::Function> functions_;
  struct FnKey {
    uint32_t name;
    uint64_t entry;
    bool operator==(const FnKey&) const = default;
  };
  struct FnKeyHash {
    size_t operator()(const FnKey& k) const;
  };
  std::unordered_map<FnKey, uint32_t, FnKeyHash> function_index_;
  std::vector<uint64_t> function_entry_;  // absolute entry per function
  std::vector<symcache::Location> locations_;
  // Open addressing: slot holds location index + 1 (0 = empty); power-of-two size.
  std::vector<uint32_t> location_slots_;
  std::vector<Range> bodies_;       // from AddFunctionBody
  std::vector<Range> symbols_;      // from AddSymbol
  std::vector<LineRow> line_rows_;  // from AddLineRows
  uint32_t num_source_functions_ = 0;
  bool address_error_ = false;
};

}  // namespace vigil::symbols
