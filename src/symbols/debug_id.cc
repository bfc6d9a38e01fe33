// Debug id parsing and formatting; the ELF build-id rule is docs/symbols.md §"Debug ids".
#include "symbols/debug_id.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace vigil::symbols {

namespace {
int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status BadId(std::string_view text) {
  std::string shown(text.substr(0, 80));
  return Status::InvalidArgument("'" + shown +
                                 "' is not a debug id: expected 32 hex digits plus an optional age "
                                 "(Breakpad form) or a UUID like 33221100-5544-7766-8899-"
                                 "aabbccddeeff[-age]");
}
}  // namespace

Result<DebugId> DebugId::Parse(std::string_view text) {
  std::string digits;
  digits.reserve(40);
  int dashes = 0;
  for (char c : text) {
    if (c == '-') {
      ++dashes;
      continue;
    }
    if (HexDigit(c) < 0) return BadId(text);
    digits.push_back(c);
  }
  if (digits.size() < 32 || digits.size() > 40) return BadId(text);
  if (dashes != 0 && dashes != 4 && dashes != 5) return BadId(text);
  if (dashes == 4 && digits.size() != 32) return BadId(text);
  DebugId id;
  for (int i = 0; i < 16; ++i) {
    id.guid[i] = static_cast<uint8_t>(HexDigit(digits[2 * i]) * 16 + HexDigit(digits[2 * i + 1]));
  }
  for (size_t i = 32; i < digits.size(); ++i) id.age = id.age * 16 + HexDigit(digits[i]);
  return id;
}

DebugId DebugId::FromElfBuildId(std::span<const uint8_t> build_id) {
  DebugId id;
  std::copy_n(build_id.begin(), std::min<size_t>(16, build_id.size()), id.guid.begin());
  std::reverse(id.guid.begin(), id.guid.begin() + 4);
  std::reverse(id.guid.begin() + 4, id.guid.begin() + 6);
  std::reverse(id.guid.begin() + 6, id.guid.begin() + 8);
  return id;
}

DebugId DebugId::FromUuid(std::span<const uint8_t, 16> uuid) {
  DebugId id;
  std::copy(uuid.begin(), uuid.end(), id.guid.begin());
  return id;
}

bool DebugId::IsZero() const {
  return age == 0 && std::all_of(guid.begin(), guid.end(), [](uint8_t b) { return b == 0; });
}

std::string DebugId::ToString() const {
  std::string hex = HexEncode(guid);
  std::string out = hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
                    hex.substr(16, 4) + "-" + hex.substr(20);
  if (age != 0) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "-%x", age);
    out += buf;
  }
  return out;
}

std::string DebugId::ToBreakpad() const {
  std::string out = HexEncode(guid);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%X", age);
  return out + buf;
}

std::string HexEncode(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

Result<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return Status::InvalidArgument("hex string has an odd number of digits");
  }
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexDigit(hex[2 * i]), lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return Status::InvalidArgument("'" + std::string(hex.substr(0, 80)) +
                                     "' is not a hex string");
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace vigil::symbols
