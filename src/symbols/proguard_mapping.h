// ProguardMapping: a ProGuard / R8 `mapping.txt` parsed once into a flat, immutable index that
// retracing (symbols/retrace.h) queries for every crash of the app build it belongs to.
//
// The file format is in shared docs/formats.md §3. The index keeps no pointers: every string is
// interned once into one arena and named by an (offset, size) StrRef, and records refer to each
// other by uint32 index. Classes are sorted by obfuscated name. Each class owns a run of method
// groups (one per obfuscated method name, also sorted), and each group owns a run of member lines
// kept in file order, because order is meaningful: consecutive lines with the same obfuscated range
// form an inline chain, innermost first. R8 metadata (outline call-site positions, rewriteFrame
// rules) sits in side tables. Lookups are binary searches over these tables, which WriteCache
// writes unchanged to a cache file (proguard_cache_format.h) that OpenCache maps back without
// parsing: the server parses a mapping once, at upload.
//
// Parsing is strict where the mapping carries data and lenient where R8 and ProGuard tools are:
// a class or member line that does not parse is an InvalidArgument naming the line number and the
// problem. Comment lines that are not known headers, `# {json}` metadata with an unknown id, JSON
// that does not parse, or a known id with fields of the wrong type are skipped and counted in
// MappingSummary::skipped_metadata. Metadata attaches to the class or member line directly above it
// (blank lines in between are fine; a field line or a plain comment in between detaches it).
//
// Normalisation applied while parsing, so that queries need no special cases:
//   - `a:b:` with no original lines means original == obfuscated (old ProGuard);
//   - inverted ranges (`5:3`) are swapped, the obfuscated and the original range independently;
//   - class-level `synthesized` is folded into the flags of every method whose class it is, and
//     each method gets the sourceFile of its own class (Method::source_file).
// Duplicate class lines for the same obfuscated name are merged: members accumulate, the later
// line's original name and metadata win (what rust-proguard does).
//
// Thread-safety: a parsed mapping is immutable; any number of threads may query it concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vigil::symbols {

// Largest mapping.txt accepted (TooLarge above). Big apps ship mappings of 100-200 MiB.
inline constexpr size_t kMaxMappingBytes = size_t{512} << 20;
// Longest single line accepted (InvalidArgument above): far beyond any real member or metadata
// line.
inline constexpr size_t kMaxMappingLineBytes = size_t{1} << 20;
// Largest line number accepted in a mapping (InvalidArgument above); Java's are 16-bit.
inline constexpr uint32_t kMaxMappingLineNumber = 0x7fffffff;
// "No line number here" in the uint32 line fields below.
inline constexpr uint32_t kNoLine = 0xffffffff;

// A string in the mapping's arena.
struct StrRef {
  uint32_t offset = 0;
  uint32_t size = 0;
};

// What the upload API stores next to a mapping.
struct MappingSummary {
  std::string compiler;          // `# compiler: R8`
  std::string compiler_version;  // `# compiler_version: 8.3.36`
  std::optional<uint32_t> min_api;
  std::string pg_map_id;    // `# pg_map_id: 48ffd94`
  std::string pg_map_hash;  // `# pg_map_hash: SHA-256 48ff...`
  std::string map_version;  // `# {"id":"com.android.tools.r8.mapping","version":"2.2"}`
  // The map version is newer than 2.2: metadata after that line was ignored (and counted below).
  bool newer_map_version = false;
  uint64_t class_count = 0;   // class lines
  uint64_t method_count = 0;  // method member lines (each line of an inline chain counts)
  uint64_t field_count = 0;
  uint64_t skipped_metadata = 0;  // `# {...}` lines ignored: unknown id, bad JSON, newer version
  bool has_line_info = false;     // some method line carries line numbers
  // UUIDv5 of the file's bytes in the namespace UUIDv5(DNS, "guardsquare.com"), lowercase and
  // hyphenated: the debug id Sentry's tooling derives for a ProGuard mapping. Byte-exact, so an LF
  // and a CRLF copy of one file get different ids.
  std::string content_uuid;
};

class ProguardMapping {
 public:
  enum : uint32_t {
    kSynthesized = 1u << 0,   // Class/Method: compiler-made (`com.android.tools.r8.synthesized`)
    kOutline = 1u << 1,       // Method: an outline (`com.android.tools.r8.outline`)
    kForeignClass = 1u << 2,  // Member: the method name was class-qualified (inlined from there)
  };

  struct Class {
    StrRef obfuscated;
    StrRef original;
    StrRef source_file;  // from `sourceFile` metadata; empty when absent
    uint32_t flags = 0;
    uint32_t groups_begin = 0, groups_end = 0;  // into method groups
  };

  // All member lines of one class sharing one obfuscated method name.
  struct MethodGroup {
    StrRef obfuscated;
    uint32_t members_begin = 0, members_end = 0;
  };

  // An original method, shared by every member line naming the same (class, name, arguments):
  // its flags are per method, as R8 means them.
  struct Method {
    StrRef class_name;  // original class: the qualifier, or the class the line sits under
    StrRef name;
    StrRef arguments;    // as written between the parentheses, e.g. "int,java.lang.String"
    StrRef source_file;  // sourceFile of `class_name` when the mapping has one
    uint32_t flags = 0;  // kSynthesized, kOutline
  };

  // One method line: `[obf_start:obf_end:]type [class.]name(args)[:orig_start[:orig_end]] -> x`.
  // After normalisation: obf_start/obf_end are both kNoLine (no prefix) or both set, with
  // obf_start <= obf_end; orig_start is kNoLine when there were no original lines; orig_end is
  // kNoLine when only one original line was given (`:c`, an inline caller's call site).
  struct Member {
    uint32_t obf_start = kNoLine, obf_end = kNoLine;
    uint32_t orig_start = kNoLine, orig_end = kNoLine;
    uint32_t method = 0;  // index of the Method
    uint32_t flags = 0;   // kForeignClass
    StrRef return_type;
    StrRef residual_signature;  // `com.android.tools.r8.residualsignature`, e.g. "(I)V"
    uint32_t outline_begin = 0, outline_end = 0;  // outlineCallsite positions
    uint32_t rewrite_begin = 0, rewrite_end = 0;  // rewriteFrame rules
  };

  // `outlineCallsite` "positions": a line in the outline -> this caller's obfuscated line.
  struct OutlinePosition {
    uint32_t outline_line = 0;
    uint32_t caller_line = 0;
  };

  // `rewriteFrame`: when every condition holds for the thrown exception, drop the
  // `remove_inner_frames` innermost frames retraced from the first frame after the exception line.
  // Conditions are `throws(<descriptor>)`; a rule with any other condition never applies.
  struct RewriteRule {
    uint32_t conditions_begin = 0,
             conditions_end = 0;       // descriptors, e.g. "Ljava/lang/NullPointerException;"
    uint32_t remove_inner_frames = 0;  // sum of the removeInnerFrames(n) actions
    bool has_unknown_condition = false;
  };

  // Parses `text` (LF or CRLF line ends, optional UTF-8 BOM). Copies what it keeps, so `text` may
  // be freed afterwards. TooLarge over kMaxMappingBytes; InvalidArgument for a malformed class or
  // member line, with its 1-based line number.
  [[nodiscard]] static Result<ProguardMapping> Parse(std::string_view text);

  // The cache file of this mapping (proguard_cache_format.h): its tables as they are in memory.
  std::string WriteCache() const;
  // Maps a cache file and checks every index and string reference in it once, so queries never
  // read out of bounds whatever the file holds. Corruption when it is not a valid cache;
  // Unsupported for another format version (rebuild it from the mapping.txt).
  [[nodiscard]] static Result<ProguardMapping> OpenCache(const std::string& path);
  // The same over bytes in memory (taken).
  [[nodiscard]] static Result<ProguardMapping> CacheFromBytes(std::string bytes);

  ProguardMapping(ProguardMapping&& other) noexcept;
  ProguardMapping& operator=(ProguardMapping&& other) noexcept;
  ProguardMapping(const ProguardMapping&) = delete;
  ProguardMapping& operator=(const ProguardMapping&) = delete;
  ~ProguardMapping();

  const MappingSummary& summary() const { return summary_; }
  // The id the symbol upload API files this mapping under: pg_map_id when the file has one (R8
  // writes it), else content_uuid.
  std::string_view mapping_id() const {
    return summary_.pg_map_id.empty() ? summary_.content_uuid : summary_.pg_map_id;
  }

  // nullptr if `obfuscated` is not a class of this mapping.
  const Class* FindClass(std::string_view obfuscated) const;
  // The original name of an obfuscated class; nullopt if unknown. Points into the mapping.
  std::optional<std::string_view> RemapClass(std::string_view obfuscated) const;
  // The member lines of `cls` for an obfuscated method name, in file order; empty if none.
  std::span<const Member> FindMembers(const Class& cls, std::string_view obfuscated_method) const;

  std::string_view str(StrRef ref) const { return strings_.substr(ref.offset, ref.size); }
  const Method& method(const Member& member) const { return methods_[member.method]; }
  std::span<const Class> classes() const { return classes_; }
  std::span<const MethodGroup> groups(const Class& cls) const {
    return std::span(groups_).subspan(cls.groups_begin, cls.groups_end - cls.groups_begin);
  }
  std::span<const Member> members(const MethodGroup& group) const {
    return std::span(members_).subspan(group.members_begin,
                                       group.members_end - group.members_begin);
  }
  std::span<const OutlinePosition> outline_positions(const Member& member) const {
    return std::span(outline_positions_)
        .subspan(member.outline_begin, member.outline_end - member.outline_begin);
  }
  std::span<const RewriteRule> rewrite_rules(const Member& member) const {
    return std::span(rewrite_rules_)
        .subspan(member.rewrite_begin, member.rewrite_end - member.rewrite_begin);
  }
  std::span<const StrRef> conditions(const RewriteRule& rule) const {
    return std::span(rewrite_conditions_)
        .subspan(rule.conditions_begin, rule.conditions_end - rule.conditions_begin);
  }
  // Bytes held by the index: heap for a parsed mapping, the mapped file for a cache.
  size_t memory_bytes() const;
  // Whether the tables live in a mapped cache file.
  bool is_mapped() const { return mapped_ != nullptr || cache_bytes_ != nullptr; }

 private:
  friend class MappingBuilder;
  ProguardMapping() = default;
  // Points the views below at owned_.
  void BindOwned();
  // Validates the cache image at data_/size and points the views into it.
  Status BindImage(const char* data, size_t size);

  // The tables of a parsed mapping; empty for a mapped cache.
  struct Owned {
    std::string strings;                             // interned strings, back to back
    std::vector<Class> classes;                      // sorted by obfuscated name, unique
    std::vector<MethodGroup> groups;                 // per class, sorted by obfuscated name
    std::vector<Member> members;                     // per group, in file order
    std::vector<Method> methods;                     // unique (class_name, name, arguments)
    std::vector<OutlinePosition> outline_positions;  // per member, sorted by outline_line
    std::vector<RewriteRule> rewrite_rules;
    std::vector<StrRef> rewrite_conditions;
  };

  MappingSummary summary_;
  Owned owned_;
  void* mapped_ = nullptr;  // a cache file mapped by OpenCache, munmapped on destruction
  size_t mapped_size_ = 0;
  std::unique_ptr<const std::string> cache_bytes_;  // a cache taken by CacheFromBytes

  // What every query reads: owned_ or the cache image.
  std::string_view strings_;
  std::span<const Class> classes_;
  std::span<const MethodGroup> groups_;
  std::span<const Member> members_;
  std::span<const Method> methods_;
  std::span<const OutlinePosition> outline_positions_;
  std::span<const RewriteRule> rewrite_rules_;
  std::span<const StrRef> rewrite_conditions_;
};

}  // namespace vigil::symbols
