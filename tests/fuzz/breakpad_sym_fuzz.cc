// Fuzz target: a Breakpad .sym of arbitrary bytes must build a valid symcache or fail cleanly.
#include <cstdint>
#include <string_view>
#include <vector>

#include "symbols/breakpad_reader.h"
#include "symbols/symcache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  vigil::Result<std::string> bytes = vigil::symbols::BuildSymCacheFromBreakpad(text, nullptr);
  if (!bytes.ok()) return 0;
  vigil::Result<vigil::symbols::SymCache> cache =
      vigil::symbols::SymCache::FromBytes(std::move(*bytes));
  if (!cache.ok()) __builtin_trap();  // what the builder writes must validate
  std::vector<vigil::symbols::SymbolFrame> frames;
  for (uint64_t a = 0; a < 0x10000; a += 0x101) cache->Lookup(a, &frames);
  return 0;
}
