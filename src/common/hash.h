// XXH3 compiled into the caller, for the per-row hashes of hot loops: Hash64, and the XXH3
// functions themselves (IdSet hashes ids with XXH3_128bits).
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

}  // namespace vigil
