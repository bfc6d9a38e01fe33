// Little-endian fixed-width and varint encodings used by every Vigil byte format.
//
// Decoders take a cursor (`const char*& p`) and an end pointer and return false, without reading
// past `end`, when the input is too short or malformed: they are safe on untrusted bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace vigil {

inline void PutFixed32(std::string* dst, uint32_t v) {
  char buf[4];
  std::memcpy(buf, &v, 4);  // x86-64 and aarch64 Linux are little-endian; formats are LE.
  dst->append(buf, 4);
}

inline void PutFixed64(std::string* dst, uint64_t v) {
  char buf[8];
  std::memcpy(buf, &v, 8);
  dst->append(buf, 8);
}

inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// The most bytes a varint of 64 bits takes.
constexpr size_t kMaxVarint64Bytes = 10;

inline void PutVarint64(std::string* dst, uint64_t v) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  dst->append(buf, n);
}

// Bytes PutVarint64 appends for `v`.
inline size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline uint64_t ZigZagEncode(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t ZigZagDecode(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

inline void PutVarsint64(std::string* dst, int64_t v) { PutVarint64(dst, ZigZagEncode(v)); }

inline void PutLengthPrefixed(std::string* dst, std::string_view s) {
  PutVarint64(dst, s.size());
  dst->append(s);
}

inline bool GetVarint64(const char*& p, const char* end, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && p < end; shift += 7) {
    uint64_t byte = static_cast<unsigned char>(*p++);
    result |= (byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *v = result;
      return true;
    }
  }
  return false;
}

inline bool GetVarsint64(const char*& p, const char* end, int64_t* v) {
  uint64_t u;
  if (!GetVarint64(p, end, &u)) return false;
  *v = ZigZagDecode(u);
  return true;
}

inline bool GetLengthPrefixed(const char*& p, const char* end, std::string_view* s) {
  uint64_t len;
  if (!GetVarint64(p, end, &len)) return false;
  if (len > static_cast<uint64_t>(end - p)) return false;
  *s = std::string_view(p, len);
  p += len;
  return true;
}

inline bool GetFixed32(const char*& p, const char* end, uint32_t* v) {
  if (end - p < 4) return false;
  *v = DecodeFixed32(p);
  p += 4;
  return true;
}

inline bool GetFixed64(const char*& p, const char* end, uint64_t* v) {
  if (end - p < 8) return false;
  *v = DecodeFixed64(p);
  p += 8;
  return true;
}

}  // namespace vigil
