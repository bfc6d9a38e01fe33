// The symcache file format, version 1: what a symbol file becomes at upload, and what every
// lookup reads. One flat little-endian file, mmapped and binary-searched; never a DWARF walk per
// address. Byte layout in docs/symbols.md; the builder writes it, SymCache reads it.
//
//   Header (kHeaderSize bytes)
//   ranges:    uint32 range_addr[num_ranges]   ascending, relative to header.image_base
//              uint32 range_loc[num_ranges]    location index, or kNone for a gap
//   locations: Location[num_locations]         (file, line, function, caller, discriminator)
//   functions: Function[num_functions]
//   files:     File[num_files]
//   strings:   bytes[strings_size]             names, referenced by (offset, length)
//
// A range covers [range_addr[i], range_addr[i + 1]) (the last one up to header.end_addr). Its
// location is the innermost frame; `inlined_into` leads to the frame it was inlined into, and so
// on out to the real function. Every location's inlined_into is a smaller index, so a chain ends.
#pragma once

#include <cstdint>

namespace vigil::symbols::symcache {

inline constexpr char kMagic[8] = {'V', 'I', 'G', 'S', 'Y', 'M', 'C', '\0'};
inline constexpr uint32_t kVersion = 1;
inline constexpr uint32_t kNone = 0xFFFFFFFFu;

// What the symcache was built from.
enum class SourceKind : uint32_t { kBreakpad = 1, kElf = 2, kMachO = 3 };

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t source_kind;  // SourceKind
  uint8_t debug_id[16];  // GUID bytes
  uint32_t debug_age;
  uint32_t address_bits;  // 32 or 64: how addresses print
  uint64_t image_base;    // subtracted from link-time addresses; 0 for Breakpad
  uint64_t end_addr;      // end of the last range, relative
  uint32_t num_ranges;
  uint32_t num_locations;
  uint32_t num_functions;
  uint32_t num_files;
  uint64_t strings_size;
  uint64_t ranges_offset;  // byte offsets from the start of the file, each 8-aligned
  uint64_t locations_offset;
  uint64_t functions_offset;
  uint64_t files_offset;
  uint64_t strings_offset;
  uint32_t name_offset;  // module name ("libfoo.so") in strings
  uint32_t name_length;
  uint32_t arch_offset;  // "x86_64", "arm64", ...
  uint32_t arch_length;
  uint32_t code_id_offset;  // hex build-id / UUID / PE id; may be empty
  uint32_t code_id_length;
  uint32_t num_source_functions;  // functions in the symbol file (FUNC + PUBLIC, DWARF + symtab)
  uint32_t reserved;
};
static_assert(sizeof(Header) == 152);
inline constexpr uint64_t kHeaderSize = sizeof(Header);

struct Location {
  uint32_t file;           // index into files, or kNone
  uint32_t line;           // 0 when unknown
  uint32_t function;       // index into functions
  uint32_t inlined_into;   // index of the caller's location (smaller than this one), or kNone
  uint32_t discriminator;  // DWARF discriminator of the line (0: none)
};
static_assert(sizeof(Location) == 20);

struct Function {
  uint32_t name_offset;
  uint32_t name_length;
  uint32_t entry_addr;  // relative start of the function (for "+0x.." offsets)
  uint32_t flags;       // reserved, 0
};
static_assert(sizeof(Function) == 16);

struct File {
  uint32_t name_offset;
  uint32_t name_length;
};
static_assert(sizeof(File) == 8);

}  // namespace vigil::symbols::symcache
