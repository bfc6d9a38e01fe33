// Fuzz target: arbitrary bytes as a symcache file must be rejected or answer lookups safely.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "symbols/symcache.h"
#include "symbols/symcache_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  // Give most inputs a valid magic and version so the fuzzer explores past the header check.
  if (bytes.size() >= 12 && (data[0] & 1)) {
    std::memcpy(bytes.data(), vigil::symbols::symcache::kMagic, 8);
    uint32_t v = vigil::symbols::symcache::kVersion;
    std::memcpy(bytes.data() + 8, &v, 4);
  }
  vigil::Result<vigil::symbols::SymCache> cache =
      vigil::symbols::SymCache::FromBytes(std::move(bytes));
  if (!cache.ok()) return 0;
  std::vector<vigil::symbols::SymbolFrame> frames;
  for (uint64_t a = 0; a < 0x1000; a += 0x11) cache->Lookup(a, &frames);
  cache->Lookup(UINT64_MAX, &frames);
  return 0;
}
