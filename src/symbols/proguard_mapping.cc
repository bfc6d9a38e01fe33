// Parsing of mapping.txt into the flat index described in proguard_mapping.h.
//
// One pass over the lines builds classes, methods and members in file order, interning every
// string; Finish() then resolves per-method facts that depend on other classes (sourceFile,
// class-level synthesized), sorts classes and member groups for binary search, and fills the
// summary. JSON metadata lines are parsed with simdjson's DOM API, one small document per line.
#include "symbols/proguard_mapping.h"

#include <openssl/evp.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <numeric>
#include <unordered_map>

namespace vigil::symbols {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view TrimLeft(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && IsSpace(s[i])) ++i;
  return s.substr(i);
}

std::string_view TrimRight(std::string_view s) {
  size_t n = s.size();
  while (n > 0 && IsSpace(s[n - 1])) --n;
  return s.substr(0, n);
}

std::string_view Trim(std::string_view s) { return TrimRight(TrimLeft(s)); }

bool HasSpace(std::string_view s) { return std::any_of(s.begin(), s.end(), IsSpace); }

// Parses a run of digits at the front of `*s` (consuming it) as a mapping line number.
// Returns false if there is no digit or the value exceeds kMaxMappingLineNumber.
bool ConsumeLineNumber(std::string_view* s, uint32_t* out) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < s->size() && IsDigit((*s)[i])) {
    v = v * 10 + static_cast<uint64_t>((*s)[i] - '0');
    if (v > kMaxMappingLineNumber) return false;
    ++i;
  }
  if (i == 0) return false;
  *out = static_cast<uint32_t>(v);
  s->remove_prefix(i);
  return true;
}

bool ConsumeChar(std::string_view* s, char c) {
  if (s->empty() || s->front() != c) return false;
  s->remove_prefix(1);
  return true;
}

// An unsigned decimal as Rust's `str::parse::<usize>` accepts it (optional leading '+').
bool ParseUnsigned(std::string_view s, uint64_t* out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

// True if version "major.minor" is newer than 2.2, the newest map version this parser knows.
bool IsNewerMapVersion(std::string_view version) {
  size_t dot = version.find('.');
  uint64_t major = 0, minor = 0;
  if (!ParseUnsigned(version.substr(0, dot), &major)) return false;
  if (dot != std::string_view::npos && !ParseUnsigned(version.substr(dot + 1), &minor)) {
    return false;
  }
  return major > 2 || (major == 2 && minor > 2);
}

// UUIDv5 (RFC 4122 §4.3): SHA-1 over namespace || name, with version and variant bits set.
std::array<uint8_t, 16> Uuid5(const std::array<uint8_t, 16>& ns, std::string_view name) {
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, ns.data(), ns.size()) == 1 &&
            EVP_DigestUpdate(ctx, name.data(), name.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, digest, &digest_size) == 1;
  EVP_MD_CTX_free(ctx);
  VIGIL_CHECK(ok && digest_size >= 16);
  std::array<uint8_t, 16> out;
  std::memcpy(out.data(), digest, 16);
  out[6] = static_cast<uint8_t>((out[6] & 0x0f) | 0x50);
  out[8] = static_cast<uint8_t>((out[8] & 0x3f) | 0x80);
  return out;
}

std::string FormatUuid(const std::array<uint8_t, 16>& u) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (size_t i = 0; i < u.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHex[u[i] >> 4]);
    s.push_back(kHex[u[i] & 0xf]);
  }
  return s;
}

std::string MappingContentUuid(std::string_view text) {
  // NAMESPACE_DNS from RFC 4122 appendix C.
  static constexpr std::array<uint8_t, 16> kDns = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
                                                   0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
  static const std::array<uint8_t, 16> kGuardsquare = Uuid5(kDns, "guardsquare.com");
  return FormatUuid(Uuid5(kGuardsquare, text));
}

// At most 80 bytes of a line, for error messages.
std::string Snippet(std::string_view line) {
  if (line.size() <= 80) return std::string(line);
  return std::string(line.substr(0, 77)) + "...";
}

}  // namespace

// Builds a ProguardMapping line by line; see the file comment. Not reusable.
class MappingBuilder {
 public:
  explicit MappingBuilder(ProguardMapping* out) : m_(out) {}

  Status AddLine(std::string_view line, uint64_t line_no);
  void Finish();

 private:
  enum class Target { kNone, kClass, kMember };

  struct BuildClass {
    StrRef obfuscated, original, source_file;
    uint32_t flags = 0;
  };
  struct BuildMember {
    uint32_t class_slot;
    StrRef obfuscated;
    ProguardMapping::Member member;
  };
  struct MethodKey {
    uint32_t class_name, name, arguments;  // interned offsets identify strings
    bool operator==(const MethodKey&) const = default;
  };
  struct MethodKeyHash {
    size_t operator()(const MethodKey& k) const {
      uint64_t h = (uint64_t{k.class_name} << 32) ^ k.name;
      h = h * 0x9e3779b97f4a7c15ull ^ k.arguments;
      return static_cast<size_t>(h * 0xff51afd7ed558ccdull >> 17);
    }
  };

  Status Error(std::string_view what) const {
    return Status::InvalidArgument("mapping line " + std::to_string(line_no_) + ": " +
                                   std::string(what) + ": '" + Snippet(line_) + "'");
  }

  // `s` must stay valid until Finish (it points into the input or into owned_).
  StrRef Intern(std::string_view s);
  // For strings that do not live in the input (decoded JSON).
  StrRef InternCopy(std::string_view s);

  Status AddClass(std::string_view line);
  Status AddMember(std::string_view line);
  void AddComment(std::string_view body);
  void AddMetadata(std::string_view json);
  bool AddOutlineCallsite(simdjson::dom::object obj);
  bool AddRewriteFrame(simdjson::dom::object obj);

  ProguardMapping* m_;
  std::string_view line_;
  uint64_t line_no_ = 0;

  std::unordered_map<std::string_view, StrRef> interned_;
  std::deque<std::string> owned_;
  std::vector<BuildClass> classes_;
  std::unordered_map<uint32_t, uint32_t> class_by_obfuscated_;  // obfuscated offset -> slot
  std::vector<BuildMember> members_;
  std::unordered_map<MethodKey, uint32_t, MethodKeyHash> method_by_key_;

  Target target_ = Target::kNone;
  int64_t current_class_ = -1;  // slot of the class whose members follow

  simdjson::dom::parser json_;
};

StrRef MappingBuilder::Intern(std::string_view s) {
  auto it = interned_.find(s);
  if (it != interned_.end()) return it->second;
  std::string& arena = m_->owned_.strings;
  // The arena holds distinct substrings of an input capped at kMaxMappingBytes.
  VIGIL_CHECK(arena.size() + s.size() <= UINT32_MAX);
  StrRef ref{static_cast<uint32_t>(arena.size()), static_cast<uint32_t>(s.size())};
  arena.append(s);
  interned_.emplace(s, ref);
  return ref;
}

StrRef MappingBuilder::InternCopy(std::string_view s) {
  auto it = interned_.find(s);
  if (it != interned_.end()) return it->second;
  return Intern(owned_.emplace_back(s));
}

Status MappingBuilder::AddLine(std::string_view line, uint64_t line_no) {
  line_ = line;
  line_no_ = line_no;
  if (line.size() > kMaxMappingLineBytes) {
    return Status::InvalidArgument("mapping line " + std::to_string(line_no) + ": longer than " +
                                   std::to_string(kMaxMappingLineBytes) + " bytes");
  }
  std::string_view body = TrimLeft(line);
  if (TrimRight(body).empty()) return Status::Ok();  // blank lines separate nothing
  if (body.front() == '#') {
    body = TrimLeft(body.substr(1));
    if (!body.empty() && body.front() == '{') {
      AddMetadata(TrimRight(body));
    } else {
      AddComment(body);
    }
    return Status::Ok();
  }
  if (IsSpace(line.front())) return AddMember(body);
  return AddClass(line);
}

Status MappingBuilder::AddClass(std::string_view line) {
  // `original.Name -> obfuscated.Name:`
  size_t arrow = line.find(" -> ");
  if (arrow == std::string_view::npos) {
    return Error("class line without ' -> ' (member lines must be indented)");
  }
  std::string_view original = line.substr(0, arrow);
  std::string_view rest = TrimRight(line.substr(arrow + 4));
  if (rest.empty() || rest.back() != ':') return Error("class line must end with ':'");
  std::string_view obfuscated = rest.substr(0, rest.size() - 1);
  if (original.empty() || HasSpace(original)) return Error("bad original class name");
  if (obfuscated.empty() || HasSpace(obfuscated)) return Error("bad obfuscated class name");

  StrRef obf = Intern(obfuscated);
  auto [it, inserted] =
      class_by_obfuscated_.emplace(obf.offset, static_cast<uint32_t>(classes_.size()));
  if (inserted) classes_.push_back(BuildClass{obf, {}, {}, 0});
  BuildClass& cls = classes_[it->second];
  // A repeated class line merges into the first; its name and metadata replace the earlier ones.
  cls.original = Intern(original);
  cls.source_file = StrRef{};
  cls.flags = 0;
  current_class_ = it->second;
  target_ = Target::kClass;
  ++m_->summary_.class_count;
  return Status::Ok();
}

Status MappingBuilder::AddMember(std::string_view body) {
  // Field:  `type name -> obf`
  // Method: `[a:b:]type [qualifier.]name(args)[:c[:d]] -> obf`
  if (current_class_ < 0) return Error("member line before any class line");
  size_t arrow = body.find(" -> ");
  if (arrow == std::string_view::npos) return Error("member line without ' -> '");
  std::string_view obfuscated = Trim(body.substr(arrow + 4));
  if (obfuscated.empty() || HasSpace(obfuscated)) return Error("bad obfuscated member name");
  std::string_view s = body.substr(0, arrow);

  ProguardMapping::Member member;
  bool has_range = false;
  if (!s.empty() && IsDigit(s.front())) {
    if (!ConsumeLineNumber(&s, &member.obf_start) || !ConsumeChar(&s, ':') ||
        !ConsumeLineNumber(&s, &member.obf_end) || !ConsumeChar(&s, ':')) {
      return Error("expected 'start:end:' line range (numbers up to 2^31-1)");
    }
    has_range = true;
  }
  size_t space = s.find(' ');
  if (space == 0 || space == std::string_view::npos) return Error("expected 'type name'");
  std::string_view type = s.substr(0, space);
  s = TrimLeft(s.substr(space + 1));
  size_t paren = s.find('(');
  if (paren == std::string_view::npos) {
    // A field. (Old mappings never put line ranges on fields; tolerate it like other tools.)
    if (s.empty() || HasSpace(s)) return Error("bad field name");
    ++m_->summary_.field_count;
    target_ = Target::kNone;
    return Status::Ok();
  }

  std::string_view qualified = s.substr(0, paren);
  size_t close = s.find(')', paren);
  if (close == std::string_view::npos) return Error("argument list without ')'");
  std::string_view arguments = s.substr(paren + 1, close - paren - 1);
  std::string_view tail = s.substr(close + 1);
  if (!tail.empty()) {
    if (!ConsumeChar(&tail, ':') || !ConsumeLineNumber(&tail, &member.orig_start) ||
        (!tail.empty() &&
         (!ConsumeChar(&tail, ':') || !ConsumeLineNumber(&tail, &member.orig_end))) ||
        !tail.empty()) {
      return Error("expected ':line' or ':start:end' after the argument list");
    }
  }
  if (qualified.empty() || HasSpace(qualified)) return Error("bad method name");
  std::string_view name = qualified;
  std::string_view qualifier;
  size_t dot = qualified.rfind('.');
  if (dot != std::string_view::npos) {
    qualifier = qualified.substr(0, dot);
    name = qualified.substr(dot + 1);
    if (qualifier.empty() || name.empty()) return Error("bad class-qualified method name");
  }

  // Normalise (see the header): identity original range, then swap inverted ranges.
  if (has_range && member.orig_start == kNoLine) {
    member.orig_start = member.obf_start;
    member.orig_end = member.obf_end;
  }
  if (has_range && member.obf_start > member.obf_end) std::swap(member.obf_start, member.obf_end);
  if (member.orig_end != kNoLine && member.orig_start > member.orig_end) {
    std::swap(member.orig_start, member.orig_end);
  }
  if (has_range || member.orig_start != kNoLine) m_->summary_.has_line_info = true;

  const BuildClass& cls = classes_[static_cast<size_t>(current_class_)];
  StrRef class_name = cls.original;
  if (!qualifier.empty()) {
    class_name = Intern(qualifier);
    // Qualified with its own class (R8 does this) is still the same method.
    if (class_name.offset != cls.original.offset) member.flags |= ProguardMapping::kForeignClass;
  }
  StrRef name_ref = Intern(name);
  StrRef args_ref = Intern(arguments);
  MethodKey key{class_name.offset, name_ref.offset, args_ref.offset};
  auto [it, inserted] =
      method_by_key_.emplace(key, static_cast<uint32_t>(m_->owned_.methods.size()));
  if (inserted)
    m_->owned_.methods.push_back(
        ProguardMapping::Method{class_name, name_ref, args_ref, StrRef{}, 0});
  member.method = it->second;
  member.return_type = Intern(type);
  uint32_t outline_end = static_cast<uint32_t>(m_->owned_.outline_positions.size());
  uint32_t rewrite_end = static_cast<uint32_t>(m_->owned_.rewrite_rules.size());
  member.outline_begin = member.outline_end = outline_end;
  member.rewrite_begin = member.rewrite_end = rewrite_end;

  members_.push_back(
      BuildMember{static_cast<uint32_t>(current_class_), Intern(obfuscated), member});
  ++m_->summary_.method_count;
  target_ = Target::kMember;
  return Status::Ok();
}

void MappingBuilder::AddComment(std::string_view body) {
  // `# key: value` headers; anything else is an ordinary comment.
  target_ = Target::kNone;
  size_t colon = body.find(':');
  if (colon == std::string_view::npos) return;
  std::string_view key = Trim(body.substr(0, colon));
  std::string value(Trim(body.substr(colon + 1)));
  MappingSummary& s = m_->summary_;
  if (key == "compiler") {
    s.compiler = std::move(value);
  } else if (key == "compiler_version") {
    s.compiler_version = std::move(value);
  } else if (key == "min_api") {
    uint64_t v = 0;
    if (ParseUnsigned(value, &v) && v <= UINT32_MAX) s.min_api = static_cast<uint32_t>(v);
  } else if (key == "pg_map_id") {
    s.pg_map_id = std::move(value);
  } else if (key == "pg_map_hash") {
    s.pg_map_hash = std::move(value);
  }
}

void MappingBuilder::AddMetadata(std::string_view json) {
  MappingSummary& s = m_->summary_;
  simdjson::dom::object obj;
  std::string_view id;
  if (json_.parse(json.data(), json.size()).get_object().get(obj) ||
      obj["id"].get_string().get(id)) {
    ++s.skipped_metadata;
    return;
  }
  if (id == "com.android.tools.r8.mapping") {
    std::string_view version;
    if (obj["version"].get_string().get(version)) {
      ++s.skipped_metadata;
      return;
    }
    s.map_version = std::string(version);
    s.newer_map_version = IsNewerMapVersion(version);
    return;
  }
  if (s.newer_map_version) {
    ++s.skipped_metadata;
    return;
  }

  BuildClass* cls =
      target_ == Target::kClass ? &classes_[static_cast<size_t>(current_class_)] : nullptr;
  BuildMember* member = target_ == Target::kMember ? &members_.back() : nullptr;
  ProguardMapping::Method* method = member ? &m_->owned_.methods[member->member.method] : nullptr;
  bool valid = true;
  if (id == "sourceFile") {
    std::string_view file;
    valid = !obj["fileName"].get_string().get(file);
    if (valid && cls) cls->source_file = InternCopy(file);
  } else if (id == "com.android.tools.r8.synthesized") {
    if (cls) cls->flags |= ProguardMapping::kSynthesized;
    if (method) method->flags |= ProguardMapping::kSynthesized;
  } else if (id == "com.android.tools.r8.outline") {
    if (method) method->flags |= ProguardMapping::kOutline;
  } else if (id == "com.android.tools.r8.residualsignature") {
    std::string_view signature;
    valid = !obj["signature"].get_string().get(signature);
    if (valid && member) member->member.residual_signature = InternCopy(signature);
  } else if (id == "com.android.tools.r8.outlineCallsite") {
    valid = AddOutlineCallsite(obj);
  } else if (id == "com.android.tools.r8.rewriteFrame") {
    valid = AddRewriteFrame(obj);
  } else {
    valid = false;  // an id this parser does not know
  }
  if (!valid) ++s.skipped_metadata;
}

bool MappingBuilder::AddOutlineCallsite(simdjson::dom::object obj) {
  // {"positions": {"<outline line>": <caller line>, ...}, "outline": "La/b;m()V"}
  simdjson::dom::object positions;
  if (obj["positions"].get_object().get(positions)) return false;
  simdjson::dom::element outline;
  if (!obj["outline"].get(outline) && !outline.is_string()) return false;
  std::vector<ProguardMapping::OutlinePosition> parsed;
  for (auto field : positions) {
    uint64_t caller = 0, key = 0;
    if (field.value.get_uint64().get(caller)) return false;
    // Keys that are not plain numbers (e.g. "1:2" ranges) cannot be looked up; skip them.
    if (!ParseUnsigned(field.key, &key) || key > UINT32_MAX || caller > UINT32_MAX) continue;
    parsed.push_back({static_cast<uint32_t>(key), static_cast<uint32_t>(caller)});
  }
  if (target_ != Target::kMember || parsed.empty()) return true;
  // Sorted for binary search; for a repeated key the last one wins, as in a JSON map.
  std::stable_sort(parsed.begin(), parsed.end(),
                   [](const auto& a, const auto& b) { return a.outline_line < b.outline_line; });
  ProguardMapping::Member& member = members_.back().member;
  auto& table = m_->owned_.outline_positions;
  // A second outlineCallsite on one member replaces the first; its entries are at the tail.
  table.resize(member.outline_begin);
  for (size_t i = 0; i < parsed.size(); ++i) {
    if (i + 1 < parsed.size() && parsed[i + 1].outline_line == parsed[i].outline_line) continue;
    table.push_back(parsed[i]);
  }
  member.outline_end = static_cast<uint32_t>(table.size());
  return true;
}

bool MappingBuilder::AddRewriteFrame(simdjson::dom::object obj) {
  // {"conditions": ["throws(Ljava/lang/NullPointerException;)"], "actions":
  // ["removeInnerFrames(1)"]}. A rule with an empty or malformed entry is dropped, like R8 does.
  simdjson::dom::array conditions, actions;
  if (obj["conditions"].get_array().get(conditions) || obj["actions"].get_array().get(actions)) {
    return false;
  }
  std::vector<std::string_view> throws;
  bool unknown_condition = false;
  for (simdjson::dom::element e : conditions) {
    std::string_view c;
    if (e.get_string().get(c)) return false;
    c = Trim(c);
    if (c.empty()) return false;
    if (c.starts_with("throws(")) {
      if (!c.ends_with(")") || c.size() == std::string_view("throws()").size()) return false;
      throws.push_back(c.substr(7, c.size() - 8));
    } else {
      unknown_condition = true;
    }
  }
  uint64_t remove = 0;
  size_t action_count = 0;
  for (simdjson::dom::element e : actions) {
    std::string_view a;
    if (e.get_string().get(a)) return false;
    a = Trim(a);
    if (a.empty()) return false;
    ++action_count;
    if (a.starts_with("removeInnerFrames(")) {
      uint64_t n = 0;
      if (!a.ends_with(")") || !ParseUnsigned(a.substr(18, a.size() - 19), &n)) return false;
      remove = std::min<uint64_t>(remove + std::min<uint64_t>(n, UINT32_MAX), UINT32_MAX);
    }
  }
  if ((throws.empty() && !unknown_condition) || action_count == 0) return false;
  if (target_ != Target::kMember) return true;

  ProguardMapping::RewriteRule rule;
  rule.conditions_begin = static_cast<uint32_t>(m_->owned_.rewrite_conditions.size());
  for (std::string_view t : throws) m_->owned_.rewrite_conditions.push_back(InternCopy(t));
  rule.conditions_end = static_cast<uint32_t>(m_->owned_.rewrite_conditions.size());
  rule.remove_inner_frames = static_cast<uint32_t>(remove);
  rule.has_unknown_condition = unknown_condition;
  m_->owned_.rewrite_rules.push_back(rule);
  members_.back().member.rewrite_end = static_cast<uint32_t>(m_->owned_.rewrite_rules.size());
  return true;
}

void MappingBuilder::Finish() {
  ProguardMapping& m = *m_;
  m.BindOwned();  // the arena is complete: m.str() works from here
  // Per-method facts that live on the method's own class (found by original name; the last
  // class line with that name wins).
  std::unordered_map<uint32_t, uint32_t> class_by_original;
  for (uint32_t i = 0; i < classes_.size(); ++i) class_by_original[classes_[i].original.offset] = i;
  for (ProguardMapping::Method& method : m.owned_.methods) {
    auto it = class_by_original.find(method.class_name.offset);
    if (it == class_by_original.end()) continue;
    const BuildClass& cls = classes_[it->second];
    method.source_file = cls.source_file;
    method.flags |= cls.flags & ProguardMapping::kSynthesized;
  }

  auto less = [&m](StrRef a, StrRef b) { return a.offset != b.offset && m.str(a) < m.str(b); };
  std::vector<uint32_t> class_order(classes_.size());
  std::iota(class_order.begin(), class_order.end(), 0);
  std::sort(class_order.begin(), class_order.end(), [&](uint32_t a, uint32_t b) {
    return less(classes_[a].obfuscated, classes_[b].obfuscated);
  });
  std::vector<uint32_t> rank(classes_.size());
  for (uint32_t i = 0; i < class_order.size(); ++i) rank[class_order[i]] = i;

  // Members grouped by (class, obfuscated method name); stable, so file order survives.
  std::vector<uint32_t> member_order(members_.size());
  std::iota(member_order.begin(), member_order.end(), 0);
  std::stable_sort(member_order.begin(), member_order.end(), [&](uint32_t a, uint32_t b) {
    const BuildMember& x = members_[a];
    const BuildMember& y = members_[b];
    if (x.class_slot != y.class_slot) return rank[x.class_slot] < rank[y.class_slot];
    return less(x.obfuscated, y.obfuscated);
  });

  m.owned_.classes.reserve(classes_.size());
  for (uint32_t slot : class_order) {
    const BuildClass& c = classes_[slot];
    m.owned_.classes.push_back(
        ProguardMapping::Class{c.obfuscated, c.original, c.source_file, c.flags, 0, 0});
  }
  m.owned_.members.reserve(members_.size());
  size_t i = 0;
  while (i < member_order.size()) {
    const BuildMember& first = members_[member_order[i]];
    ProguardMapping::Class& cls = m.owned_.classes[rank[first.class_slot]];
    if (cls.groups_begin == cls.groups_end) {
      cls.groups_begin = cls.groups_end = static_cast<uint32_t>(m.owned_.groups.size());
    }
    ProguardMapping::MethodGroup group{first.obfuscated,
                                       static_cast<uint32_t>(m.owned_.members.size()), 0};
    for (; i < member_order.size(); ++i) {
      const BuildMember& bm = members_[member_order[i]];
      if (bm.class_slot != first.class_slot || bm.obfuscated.offset != first.obfuscated.offset) {
        break;
      }
      m.owned_.members.push_back(bm.member);
    }
    group.members_end = static_cast<uint32_t>(m.owned_.members.size());
    m.owned_.groups.push_back(group);
    cls.groups_end = static_cast<uint32_t>(m.owned_.groups.size());
  }
}

Result<ProguardMapping> ProguardMapping::Parse(std::string_view text) {
  if (text.size() > kMaxMappingBytes) {
    return Status::TooLarge("mapping is " + std::to_string(text.size()) + " bytes, over the " +
                            std::to_string(kMaxMappingBytes) + " byte limit");
  }
  ProguardMapping mapping;
  mapping.summary_.content_uuid = MappingContentUuid(text);
  std::string_view rest = text;
  if (rest.starts_with("\xef\xbb\xbf")) rest.remove_prefix(3);

  MappingBuilder builder(&mapping);
  uint64_t line_no = 0;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    VIGIL_RETURN_IF_ERROR(builder.AddLine(line, ++line_no));
  }
  builder.Finish();
  mapping.BindOwned();
  return mapping;
}

const ProguardMapping::Class* ProguardMapping::FindClass(std::string_view obfuscated) const {
  auto it = std::lower_bound(
      classes_.begin(), classes_.end(), obfuscated,
      [this](const Class& c, std::string_view name) { return str(c.obfuscated) < name; });
  if (it == classes_.end() || str(it->obfuscated) != obfuscated) return nullptr;
  return &*it;
}

std::optional<std::string_view> ProguardMapping::RemapClass(std::string_view obfuscated) const {
  const Class* cls = FindClass(obfuscated);
  if (cls == nullptr) return std::nullopt;
  return str(cls->original);
}

std::span<const ProguardMapping::Member> ProguardMapping::FindMembers(
    const Class& cls, std::string_view obfuscated_method) const {
  std::span<const MethodGroup> all = groups(cls);
  auto it = std::lower_bound(
      all.begin(), all.end(), obfuscated_method,
      [this](const MethodGroup& g, std::string_view name) { return str(g.obfuscated) < name; });
  if (it == all.end() || str(it->obfuscated) != obfuscated_method) return {};
  return members(*it);
}

size_t ProguardMapping::memory_bytes() const {
  if (is_mapped()) return mapped_ != nullptr ? mapped_size_ : cache_bytes_->size();
  const Owned& o = owned_;
  return o.strings.capacity() + o.classes.capacity() * sizeof(Class) +
         o.groups.capacity() * sizeof(MethodGroup) + o.members.capacity() * sizeof(Member) +
         o.methods.capacity() * sizeof(Method) +
         o.outline_positions.capacity() * sizeof(OutlinePosition) +
         o.rewrite_rules.capacity() * sizeof(RewriteRule) +
         o.rewrite_conditions.capacity() * sizeof(StrRef) + summary_.content_uuid.capacity();
}

void ProguardMapping::BindOwned() {
  strings_ = owned_.strings;
  classes_ = owned_.classes;
  groups_ = owned_.groups;
  members_ = owned_.members;
  methods_ = owned_.methods;
  outline_positions_ = owned_.outline_positions;
  rewrite_rules_ = owned_.rewrite_rules;
  rewrite_conditions_ = owned_.rewrite_conditions;
}

}  // namespace vigil::symbols
