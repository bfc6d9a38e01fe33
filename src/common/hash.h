// XXH3 compiled into the caller, for the per-row hashes of hot loops: Hash64, and the XXH3
// functions themselves (the archive hashes ids with XXH3_128bits as it reads them).
//
// The batch layer hashes every event id (128 bits, for dedup) and every user (64 bits, for the
// HyperLogLog sketches): two hashes of ~10–40 bytes per row, 100M rows per 30-day run. Through
// libxxhash's exported functions each is a call via the PLT and a length dispatch; compiled
// inline (xxhash.h's XXH_INLINE_ALL, from the same Debian package) the short-input paths fold
// into the loop. The values are XXH3's, seed 0: identical to XXH3_64bits / XXH3_128bits, so
// sketches and digests stored by either agree.
//
// Including this header maps the XXH3 names of the rest of the translation unit to the inline
// copies (xxhash.h's own design for mixing the two); that changes no value.
#pragma once

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include <cstdint>
#include <string_view>

namespace vigil {

inline uint64_t Hash64(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }

// XXH3_128bits as two words: what the archive reads an id column as and the batch layer's
// IdSet keeps. Headers use it rather than XXH128_hash_t, whose name this header remaps.
struct Hash128 {
  uint64_t low = 0, high = 0;
  bool operator==(const Hash128&) const = default;
};

// *out = XXH3_128bits(s). The hash comes back in two registers; copied as one 16-byte value it
// went through the stack into a 16-byte load of two 8-byte stores, a store-forwarding stall per
// call (a fifth of the batch layer's day loop). Opaque to the vectorizer, the halves are stored
// straight from their registers.
inline void StoreHash128(std::string_view s, Hash128* out) {
  const XXH128_hash_t h = XXH3_128bits(s.data(), s.size());
  uint64_t low = h.low64, high = h.high64;
  asm("" : "+r"(low), "+r"(high));
  out->low = low;
  out->high = high;
}

}  // namespace vigil
