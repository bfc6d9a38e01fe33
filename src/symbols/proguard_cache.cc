// ProguardMapping's cache file: writing its tables, mapping them back, and checking every
// reference in them once so that queries on a mapped cache need no checks of their own.
#include <sys/mman.h>

#include <bit>
#include <cstddef>
#include <cstring>
#include <utility>

#include "common/file_util.h"
#include "symbols/proguard_cache_format.h"
#include "symbols/proguard_mapping.h"

namespace vigil::symbols {

static_assert(std::endian::native == std::endian::little, "mapping caches are little-endian");

namespace {

using pgcache::Header;
using pgcache::Section;

size_t AlignUp(size_t n) { return (n + 7) & ~size_t{7}; }

// Appends `count` elements of `size` bytes at an 8-aligned offset; returns the section.
Section AppendSection(std::string* out, const void* data, size_t count, size_t size) {
  out->resize(AlignUp(out->size()), '\0');
  Section s{out->size(), count};
  out->append(static_cast<const char*>(data), count * size);
  return s;
}

}  // namespace

std::string ProguardMapping::WriteCache() const {
  // The summary's strings go after the arena.
  std::string strings(strings_);
  auto add = [&strings](std::string_view s) {
    StrRef ref{static_cast<uint32_t>(strings.size()), static_cast<uint32_t>(s.size())};
    strings.append(s);
    return ref;
  };
  Header h{};  // no padding in Header: every byte is set
  std::memcpy(h.magic, pgcache::kMagic, sizeof(h.magic));
  h.version = pgcache::kVersion;
  const MappingSummary& s = summary_;
  h.flags = (s.min_api ? pgcache::kHasMinApi : 0) |
            (s.newer_map_version ? pgcache::kNewerMapVersion : 0) |
            (s.has_line_info ? pgcache::kHasLineInfo : 0);
  h.min_api = s.min_api.value_or(0);
  h.arena_size = static_cast<uint32_t>(strings_.size());
  h.class_count = s.class_count;
  h.method_count = s.method_count;
  h.field_count = s.field_count;
  h.skipped_metadata = s.skipped_metadata;
  h.compiler = add(s.compiler);
  h.compiler_version = add(s.compiler_version);
  h.pg_map_id = add(s.pg_map_id);
  h.pg_map_hash = add(s.pg_map_hash);
  h.map_version = add(s.map_version);
  h.content_uuid = add(s.content_uuid);

  std::string out(sizeof(Header), '\0');
  h.strings = AppendSection(&out, strings.data(), strings.size(), 1);
  h.classes = AppendSection(&out, classes_.data(), classes_.size(), sizeof(Class));
  h.groups = AppendSection(&out, groups_.data(), groups_.size(), sizeof(MethodGroup));
  h.members = AppendSection(&out, members_.data(), members_.size(), sizeof(Member));
  h.methods = AppendSection(&out, methods_.data(), methods_.size(), sizeof(Method));
  h.outline_positions = AppendSection(&out, outline_positions_.data(), outline_positions_.size(),
                                      sizeof(OutlinePosition));
  // RewriteRule has padding after its bool: copy field by field into zeroed bytes.
  std::string rules(rewrite_rules_.size() * sizeof(RewriteRule), '\0');
  for (size_t i = 0; i < rewrite_rules_.size(); ++i) {
    const RewriteRule& r = rewrite_rules_[i];
    char* at = rules.data() + i * sizeof(RewriteRule);
    std::memcpy(at + offsetof(RewriteRule, conditions_begin), &r.conditions_begin, 4);
    std::memcpy(at + offsetof(RewriteRule, conditions_end), &r.conditions_end, 4);
    std::memcpy(at + offsetof(RewriteRule, remove_inner_frames), &r.remove_inner_frames, 4);
    at[offsetof(RewriteRule, has_unknown_condition)] = r.has_unknown_condition ? 1 : 0;
  }
  h.rewrite_rules = AppendSection(&out, rules.data(), rewrite_rules_.size(), sizeof(RewriteRule));
  h.rewrite_conditions =
      AppendSection(&out, rewrite_conditions_.data(), rewrite_conditions_.size(), sizeof(StrRef));
  out.resize(AlignUp(out.size()), '\0');
  std::memcpy(out.data(), &h, sizeof(h));
  return out;
}

Status ProguardMapping::BindImage(const char* data, size_t size) {
  if (size < sizeof(Header)) return Status::Corruption("too short to be a mapping cache");
  Header h;
  std::memcpy(&h, data, sizeof(h));
  if (std::memcmp(h.magic, pgcache::kMagic, sizeof(h.magic)) != 0) {
    return Status::Corruption("not a mapping cache (bad magic)");
  }
  if (h.version != pgcache::kVersion) {
    return Status::Unsupported("mapping cache version " + std::to_string(h.version) +
                               ", this build reads " + std::to_string(pgcache::kVersion));
  }
  // Each section inside the file, 8-aligned, with at most UINT32_MAX elements (indices are 32
  // bits wide).
  auto section = [&](const Section& s, size_t elem, const char* name) -> Status {
    if (s.offset % 8 != 0 || s.offset > size || s.count > UINT32_MAX ||
        s.count > (size - s.offset) / elem) {
      return Status::Corruption(std::string("mapping cache section ") + name +
                                " lies outside the file");
    }
    return Status::Ok();
  };
  VIGIL_RETURN_IF_ERROR(section(h.strings, 1, "strings"));
  VIGIL_RETURN_IF_ERROR(section(h.classes, sizeof(Class), "classes"));
  VIGIL_RETURN_IF_ERROR(section(h.groups, sizeof(MethodGroup), "groups"));
  VIGIL_RETURN_IF_ERROR(section(h.members, sizeof(Member), "members"));
  VIGIL_RETURN_IF_ERROR(section(h.methods, sizeof(Method), "methods"));
  VIGIL_RETURN_IF_ERROR(section(h.outline_positions, sizeof(OutlinePosition), "outlines"));
  VIGIL_RETURN_IF_ERROR(section(h.rewrite_rules, sizeof(RewriteRule), "rewrite rules"));
  VIGIL_RETURN_IF_ERROR(section(h.rewrite_conditions, sizeof(StrRef), "rewrite conditions"));

  if (h.arena_size > h.strings.count) return Status::Corruption("mapping cache arena too large");
  const std::string_view all_strings(data + h.strings.offset, h.strings.count);
  const std::string_view strings = all_strings.substr(0, h.arena_size);
  auto ref_ok = [&strings](StrRef r) { return uint64_t{r.offset} + r.size <= strings.size(); };
  auto range_ok = [](uint32_t begin, uint32_t end, uint64_t n) { return begin <= end && end <= n; };
  const Status bad = Status::Corruption("mapping cache has a reference out of range");
  for (StrRef r : {h.compiler, h.compiler_version, h.pg_map_id, h.pg_map_hash, h.map_version,
                   h.content_uuid}) {
    if (uint64_t{r.offset} + r.size > all_strings.size()) return bad;
  }
  auto view = [data]<typename T>(const Section& s, const T*) {
    return std::span<const T>(reinterpret_cast<const T*>(data + s.offset), s.count);
  };
  auto classes = view(h.classes, static_cast<const Class*>(nullptr));
  auto groups = view(h.groups, static_cast<const MethodGroup*>(nullptr));
  auto members = view(h.members, static_cast<const Member*>(nullptr));
  auto methods = view(h.methods, static_cast<const Method*>(nullptr));
  auto outlines = view(h.outline_positions, static_cast<const OutlinePosition*>(nullptr));
  auto rules = view(h.rewrite_rules, static_cast<const RewriteRule*>(nullptr));
  auto conditions = view(h.rewrite_conditions, static_cast<const StrRef*>(nullptr));

  auto str = [&strings](StrRef r) { return strings.substr(r.offset, r.size); };
  for (size_t i = 0; i < classes.size(); ++i) {
    const Class& c = classes[i];
    if (!ref_ok(c.obfuscated) || !ref_ok(c.original) || !ref_ok(c.source_file) ||
        !range_ok(c.groups_begin, c.groups_end, groups.size())) {
      return bad;
    }
    // Lookups binary-search by obfuscated name.
    if (i > 0 && !(str(classes[i - 1].obfuscated) < str(c.obfuscated))) {
      return Status::Corruption("mapping cache classes are not sorted");
    }
  }
  for (const MethodGroup& g : groups) {
    if (!ref_ok(g.obfuscated) || !range_ok(g.members_begin, g.members_end, members.size())) {
      return bad;
    }
  }
  for (const Method& m : methods) {
    if (!ref_ok(m.class_name) || !ref_ok(m.name) || !ref_ok(m.arguments) ||
        !ref_ok(m.source_file)) {
      return bad;
    }
  }
  for (const Member& m : members) {
    if (m.method >= methods.size() || !ref_ok(m.return_type) || !ref_ok(m.residual_signature) ||
        !range_ok(m.outline_begin, m.outline_end, outlines.size()) ||
        !range_ok(m.rewrite_begin, m.rewrite_end, rules.size())) {
      return bad;
    }
    // The parser's normalisation, which retracing relies on.
    if ((m.obf_start == kNoLine) != (m.obf_end == kNoLine) ||
        (m.obf_start != kNoLine && m.obf_start > m.obf_end)) {
      return Status::Corruption("mapping cache has a member with an inverted line range");
    }
  }
  for (size_t i = 0; i < rules.size(); ++i) {
    uint8_t flag;
    std::memcpy(&flag,
                data + h.rewrite_rules.offset + i * sizeof(RewriteRule) +
                    offsetof(RewriteRule, has_unknown_condition),
                1);
    if (flag > 1 ||
        !range_ok(rules[i].conditions_begin, rules[i].conditions_end, conditions.size())) {
      return bad;
    }
  }
  for (StrRef r : conditions) {
    if (!ref_ok(r)) return bad;
  }

  auto summary_str = [&all_strings](StrRef r) {
    return std::string(all_strings.substr(r.offset, r.size));
  };
  MappingSummary& s = summary_;
  s.compiler = summary_str(h.compiler);
  s.compiler_version = summary_str(h.compiler_version);
  if (h.flags & pgcache::kHasMinApi) s.min_api = h.min_api;
  s.pg_map_id = summary_str(h.pg_map_id);
  s.pg_map_hash = summary_str(h.pg_map_hash);
  s.map_version = summary_str(h.map_version);
  s.newer_map_version = (h.flags & pgcache::kNewerMapVersion) != 0;
  s.class_count = h.class_count;
  s.method_count = h.method_count;
  s.field_count = h.field_count;
  s.skipped_metadata = h.skipped_metadata;
  s.has_line_info = (h.flags & pgcache::kHasLineInfo) != 0;
  s.content_uuid = summary_str(h.content_uuid);
  strings_ = strings;
  classes_ = classes;
  groups_ = groups;
  members_ = members;
  methods_ = methods;
  outline_positions_ = outlines;
  rewrite_rules_ = rules;
  rewrite_conditions_ = conditions;
  return Status::Ok();
}

Result<ProguardMapping> ProguardMapping::OpenCache(const std::string& path) {
  Result<MappedFile> file = MapFileReadOnly(path, sizeof(Header), "a mapping cache");
  if (!file.ok()) return file.status();
  ProguardMapping mapping;
  mapping.mapped_ = file->data;  // unmapped by the destructor, also on error
  mapping.mapped_size_ = file->size;
  Status s = mapping.BindImage(static_cast<const char*>(file->data), file->size);
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  return mapping;
}

Result<ProguardMapping> ProguardMapping::CacheFromBytes(std::string bytes) {
  ProguardMapping mapping;
  mapping.cache_bytes_ = std::make_unique<const std::string>(std::move(bytes));
  VIGIL_RETURN_IF_ERROR(
      mapping.BindImage(mapping.cache_bytes_->data(), mapping.cache_bytes_->size()));
  return mapping;
}

ProguardMapping::ProguardMapping(ProguardMapping&& o) noexcept { *this = std::move(o); }

ProguardMapping& ProguardMapping::operator=(ProguardMapping&& o) noexcept {
  if (this == &o) return *this;
  if (mapped_ != nullptr) ::munmap(mapped_, mapped_size_);
  summary_ = std::move(o.summary_);
  owned_ = std::move(o.owned_);
  mapped_ = std::exchange(o.mapped_, nullptr);
  mapped_size_ = std::exchange(o.mapped_size_, 0);
  cache_bytes_ = std::move(o.cache_bytes_);
  if (is_mapped()) {
    // The image did not move: the views stay valid.
    strings_ = o.strings_;
    classes_ = o.classes_;
    groups_ = o.groups_;
    members_ = o.members_;
    methods_ = o.methods_;
    outline_positions_ = o.outline_positions_;
    rewrite_rules_ = o.rewrite_rules_;
    rewrite_conditions_ = o.rewrite_conditions_;
  } else {
    BindOwned();  // a short arena lives inside the string object, which did move
  }
  o.BindOwned();
  return *this;
}

ProguardMapping::~ProguardMapping() {
  if (mapped_ != nullptr) ::munmap(mapped_, mapped_size_);
}

}  // namespace vigil::symbols
