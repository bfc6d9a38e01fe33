// DebugId: the identity of a symbol file, how a crash's image finds its symbols.
//
// A debug id is a 16-byte GUID plus an age (docs/symbols.md). Breakpad writes it as 32 upper-case
// hex digits followed by the age in hex; Sentry-style tools as a dashed lower-case UUID with an
// optional "-age". Both forms parse; ToString() gives the dashed form Vigil uses in its API.
// ELF files derive theirs from the GNU build-id (byte-swapped as a little-endian GUID), Mach-O
// files take LC_UUID as is. Plain value type; thread-compatible.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace vigil::symbols {

struct DebugId {
  std::array<uint8_t, 16> guid{};
  uint32_t age = 0;

  // Accepts "33221100554477668899AABBCCDDEEFF0" (Breakpad, age in hex after 32 digits),
  // "33221100-5544-7766-8899-aabbccddeeff[-age]" and bare 32 hex digits; case-insensitive.
  static Result<DebugId> Parse(std::string_view text);
  // From an ELF NT_GNU_BUILD_ID: first 16 bytes (zero-padded), bytes 0-3, 4-5 and 6-7 reversed.
  static DebugId FromElfBuildId(std::span<const uint8_t> build_id);
  // From a Mach-O LC_UUID: the bytes as they are, age 0.
  static DebugId FromUuid(std::span<const uint8_t, 16> uuid);

  bool IsZero() const;
  // "33221100-5544-7766-8899-aabbccddeeff", with "-<age hex>" appended when age != 0.
  std::string ToString() const;
  // "33221100554477668899AABBCCDDEEFF0": upper-case, age in hex.
  std::string ToBreakpad() const;

  friend bool operator==(const DebugId&, const DebugId&) = default;
};

// Lower-case hex of `bytes`.
std::string HexEncode(std::span<const uint8_t> bytes);
// Decodes an even-length hex string (either case); InvalidArgument otherwise.
Result<std::string> HexDecode(std::string_view hex);

}  // namespace vigil::symbols
