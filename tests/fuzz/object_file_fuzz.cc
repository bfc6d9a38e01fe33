// Fuzz target: arbitrary bytes given as an uploaded object file (ELF / Mach-O with DWARF, read
// through LLVM) must build valid symcaches or fail cleanly — never crash the server.
#include <cstdint>
#include <string_view>
#include <vector>

#include "symbols/symbol_file.h"
#include "symbols/symcache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  vigil::Result<std::vector<vigil::symbols::BuiltSymCache>> built =
      vigil::symbols::BuildSymCaches(bytes, "fuzz");
  if (!built.ok()) return 0;
  for (vigil::symbols::BuiltSymCache& b : *built) {
    vigil::Result<vigil::symbols::SymCache> cache =
        vigil::symbols::SymCache::FromBytes(std::move(b.bytes));
    if (!cache.ok()) __builtin_trap();  // what the builder writes must validate
    std::vector<vigil::symbols::SymbolFrame> frames;
    for (uint64_t a = 0; a < 0x4000; a += 0x41) cache->Lookup(a, &frames);
  }
  return 0;
}
