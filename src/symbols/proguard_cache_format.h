// The on-disk layout of a ProGuard mapping cache: ProguardMapping's tables written as they are in
// memory, so the server maps a 100 MiB mapping in microseconds instead of parsing it again.
//
//   Header                      (fixed size, below)
//   strings                     the string arena, then the summary's strings
//   classes, groups, members,   arrays of ProguardMapping::Class, MethodGroup, Member, Method,
//   methods, outline_positions, OutlinePosition, RewriteRule, StrRef, each starting at an 8-byte
//   rewrite_rules,              aligned offset
//   rewrite_conditions
//
// Host byte order (little-endian on every platform Vigil builds for). Padding bytes are zero.
// Readers check `version` and treat any other as Unsupported: the cache is rebuilt from the
// mapping.txt kept next to it. Bump kVersion whenever a struct or the header changes.
#pragma once

#include <cstdint>
#include <type_traits>

#include "symbols/proguard_mapping.h"

namespace vigil::symbols::pgcache {

inline constexpr char kMagic[8] = {'V', 'G', 'P', 'G', 'M', 'A', 'P', '\n'};
inline constexpr uint32_t kVersion = 1;

// Header::flags
inline constexpr uint32_t kHasMinApi = 1u << 0;
inline constexpr uint32_t kNewerMapVersion = 1u << 1;
inline constexpr uint32_t kHasLineInfo = 1u << 2;

struct Section {
  uint64_t offset;  // from the start of the file, 8-aligned
  uint64_t count;   // elements (bytes for strings)
};

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t flags;  // kHasMinApi | kNewerMapVersion | kHasLineInfo
  uint32_t min_api;
  uint32_t arena_size;   // leading bytes of the strings section that tables refer to; the
                         // summary's strings follow them
  uint64_t class_count;  // MappingSummary counters
  uint64_t method_count;
  uint64_t field_count;
  uint64_t skipped_metadata;
  StrRef compiler;  // MappingSummary strings, in the strings section
  StrRef compiler_version;
  StrRef pg_map_id;
  StrRef pg_map_hash;
  StrRef map_version;
  StrRef content_uuid;
  Section strings;
  Section classes;
  Section groups;
  Section members;
  Section methods;
  Section outline_positions;
  Section rewrite_rules;
  Section rewrite_conditions;
};

static_assert(sizeof(Header) == 232);  // no padding
static_assert(sizeof(StrRef) == 8);
static_assert(sizeof(ProguardMapping::Class) == 36);
static_assert(sizeof(ProguardMapping::MethodGroup) == 16);
static_assert(sizeof(ProguardMapping::Method) == 36);
static_assert(sizeof(ProguardMapping::Member) == 56);
static_assert(sizeof(ProguardMapping::OutlinePosition) == 8);
static_assert(sizeof(ProguardMapping::RewriteRule) == 16);
static_assert(std::is_trivially_copyable_v<ProguardMapping::Class> &&
              std::is_trivially_copyable_v<ProguardMapping::MethodGroup> &&
              std::is_trivially_copyable_v<ProguardMapping::Method> &&
              std::is_trivially_copyable_v<ProguardMapping::Member> &&
              std::is_trivially_copyable_v<ProguardMapping::OutlinePosition> &&
              std::is_trivially_copyable_v<ProguardMapping::RewriteRule>);

}  // namespace vigil::symbols::pgcache
