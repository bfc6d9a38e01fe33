// Frame matching, stack context (outlines, rewriteFrame) and text rendering for retrace.h.
//
// FrameCollector holds the matching rules. They look fussy because they reproduce R8's retrace as
// rust-proguard ports it, case by case: which member lines a line number selects, which original
// line each one reports, and when a frame without a line collapses to one answer.
#include "symbols/retrace.h"

#include <algorithm>

namespace vigil::symbols {

namespace {

using Member = ProguardMapping::Member;
using Class = ProguardMapping::Class;

// R8's catch-all range is 0:65535; a wider original range is malformed and not expanded.
constexpr uint32_t kMaxSpanExpansion = 65535;

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  return TrimRight(s);
}

// `foo.bar.Baz$Inner` -> "Baz"
std::string_view OuterSimpleName(std::string_view class_name) {
  size_t dot = class_name.rfind('.');
  std::string_view simple = dot == std::string_view::npos ? class_name : class_name.substr(dot + 1);
  return simple.substr(0, simple.find('$'));
}

// A source file name for a class the mapping gives none for: any `$`-segment ending in `Kt`
// (Kotlin file facades, also buried in Compose wrappers) gives `<segment>.kt`; otherwise the outer
// simple name with the reference file's extension, or `.java`.
std::string SynthesizeFile(std::string_view class_name, std::string_view reference_file) {
  size_t dot = class_name.rfind('.');
  std::string_view simple = dot == std::string_view::npos ? class_name : class_name.substr(dot + 1);
  std::string_view rest = simple;
  while (true) {
    size_t dollar = rest.find('$');
    std::string_view segment = rest.substr(0, dollar);
    if (segment.size() > 2 && segment.ends_with("Kt")) {
      return std::string(segment.substr(0, segment.size() - 2)) + ".kt";
    }
    if (dollar == std::string_view::npos) break;
    rest.remove_prefix(dollar + 1);
  }
  std::string file(simple.substr(0, simple.find('$')));
  size_t ext = reference_file.rfind('.');
  file += ext == std::string_view::npos ? std::string_view(".java") : reference_file.substr(ext);
  return file;
}

bool Ranged(const Member& m) { return m.obf_end != kNoLine && m.obf_end > 0; }
bool HasObfuscatedRange(const Member& m) { return m.obf_start != kNoLine; }

std::optional<uint32_t> PositiveOrNone(uint32_t line) {
  if (line == kNoLine || line == 0) return std::nullopt;
  return line;
}

// Collects the retraced frames of one obfuscated frame; see retrace.h for the rules.
class FrameCollector {
 public:
  FrameCollector(const ProguardMapping& mapping, FrameRetrace* out,
                 std::vector<const ProguardMapping::RewriteRule*>* rules)
      : m_(mapping), out_(out), rules_(rules) {}

  void Collect(std::string_view obf_class, std::string_view obf_method,
               std::optional<uint32_t> line, std::string_view file);

 private:
  enum class FileSource { kMetadata, kSynthesized };
  enum class Chain { kNew, kContinue, kIfInline };

  void Emit(const Member& member, std::optional<uint32_t> line, FileSource source, Chain chain,
            bool with_rules = true);
  void ClassOnly(std::string_view obf_method, uint32_t line, std::string_view file);
  void WithLine(uint32_t line);
  void WithoutLine();
  void BaseEntries(const std::vector<const Member*>& base);

  const ProguardMapping& m_;
  FrameRetrace* out_;
  std::vector<const ProguardMapping::RewriteRule*>* rules_;
  const Class* cls_ = nullptr;
  std::span<const Member> members_;
  const Member* last_ = nullptr;  // last member emitted, for inline chains
};

void FrameCollector::Collect(std::string_view obf_class, std::string_view obf_method,
                             std::optional<uint32_t> line, std::string_view file) {
  cls_ = m_.FindClass(obf_class);
  if (cls_ == nullptr) {
    out_->match = FrameMatch::kUnknownClass;
    return;
  }
  members_ = m_.FindMembers(*cls_, obf_method);
  uint32_t l = line.value_or(0);
  if (members_.empty()) {
    ClassOnly(obf_method, l, file);
    return;
  }
  out_->match = FrameMatch::kMethod;
  if (l == 0) {
    WithoutLine();
    return;
  }
  WithLine(l);
  if (out_->frames.empty()) ClassOnly(obf_method, l, file);
}

void FrameCollector::ClassOnly(std::string_view obf_method, uint32_t line, std::string_view file) {
  out_->match = FrameMatch::kClassOnly;
  std::string_view original = m_.str(cls_->original);
  out_->frames.push_back(
      RetracedFrame{original, obf_method, SynthesizeFile(original, file), line, 0, false});
}

void FrameCollector::Emit(const Member& member, std::optional<uint32_t> line, FileSource source,
                          Chain chain, bool with_rules) {
  const ProguardMapping::Method& method = m_.method(member);
  std::string_view class_name = (member.flags & ProguardMapping::kForeignClass)
                                    ? m_.str(method.class_name)
                                    : m_.str(cls_->original);
  std::string file;
  if (source == FileSource::kMetadata && method.source_file.size > 0) {
    std::string_view source_file = m_.str(method.source_file);
    file = source_file == "R8$$SyntheticClass" ? std::string(OuterSimpleName(class_name))
                                               : std::string(source_file);
  } else {
    file = SynthesizeFile(class_name, m_.str(cls_->source_file));
  }

  // R8's inline rule: a line continues the chain above it when it directly follows it with the
  // same obfuscated range and names a single original line (the call site).
  bool inline_caller = last_ != nullptr && &member == last_ + 1 && HasObfuscatedRange(*last_) &&
                       member.obf_start == last_->obf_start && member.obf_end == last_->obf_end &&
                       member.orig_end == kNoLine;
  uint32_t alternative = 0;
  if (!out_->frames.empty()) {
    alternative = out_->frames.back().alternative;
    if (chain == Chain::kNew || (chain == Chain::kIfInline && !inline_caller)) ++alternative;
  }
  out_->frames.push_back(RetracedFrame{class_name, m_.str(method.name), std::move(file), line,
                                       alternative,
                                       (method.flags & ProguardMapping::kSynthesized) != 0});
  last_ = &member;
  if (with_rules && rules_ != nullptr) {
    for (const auto& rule : m_.rewrite_rules(member)) rules_->push_back(&rule);
  }
}

void FrameCollector::WithLine(uint32_t line) {
  bool has_ranges = std::any_of(members_.begin(), members_.end(), Ranged);
  for (const Member& member : members_) {
    if (!Ranged(member)) {
      // Lines without a range only count when the method has no ranged lines at all.
      if (has_ranges) continue;
      if (member.orig_start == kNoLine) {
        Emit(member, line, FileSource::kSynthesized, Chain::kNew);  // bare: keep the frame's line
      } else if (member.orig_end != kNoLine && member.orig_end > member.orig_start &&
                 member.orig_end - member.orig_start <= kMaxSpanExpansion) {
        // `m():c:d` without an obfuscated range: the position is any of c..d.
        for (uint32_t l = member.orig_start;; ++l) {
          Emit(member, l, FileSource::kSynthesized, Chain::kNew, l == member.orig_start);
          if (l == member.orig_end) break;
        }
      } else {
        Emit(member, PositiveOrNone(member.orig_start), FileSource::kSynthesized, Chain::kNew);
      }
      continue;
    }
    if (line < member.obf_start || line > member.obf_end) continue;
    uint32_t original = member.orig_start;
    if (member.orig_end != kNoLine && member.orig_end != member.orig_start) {
      uint64_t v = uint64_t{member.orig_start} + (line - member.obf_start);
      original = static_cast<uint32_t>(std::min<uint64_t>(v, UINT32_MAX - 1));
    }
    Emit(member, original == kNoLine ? 0 : original, FileSource::kMetadata, Chain::kIfInline);
  }
}

void FrameCollector::WithoutLine() {
  std::vector<const Member*> base;
  for (const Member& member : members_) {
    if (!Ranged(member)) base.push_back(&member);
  }
  if (!base.empty()) {
    BaseEntries(base);
    return;
  }
  // Only ranged lines. R8 takes the first range's lines: an inline chain if several share it.
  const Member& first = members_.front();
  size_t group = 1;
  while (group < members_.size() && members_[group].obf_start == first.obf_start &&
         members_[group].obf_end == first.obf_end) {
    ++group;
  }
  if (group > 1) {
    for (size_t i = 0; i < group; ++i) {
      Emit(members_[i], PositiveOrNone(members_[i].orig_start).value_or(0),
           FileSource::kSynthesized, Chain::kContinue);
    }
    return;
  }
  // Different ranges: one frame if they all are the same method, else each method, at line 0.
  std::string_view name = m_.str(m_.method(first).name);
  bool same = std::all_of(members_.begin(), members_.end(), [&](const Member& member) {
    return m_.str(m_.method(member).name) == name;
  });
  if (same) {
    Emit(first, 0, FileSource::kSynthesized, Chain::kNew);
    return;
  }
  for (const Member& member : members_) Emit(member, 0, FileSource::kSynthesized, Chain::kNew);
}

void FrameCollector::BaseEntries(const std::vector<const Member*>& base) {
  // Two kinds: `0:0:` lines (an obfuscated range of zero) and lines with no range at all.
  bool zero_range_spans = false;  // a 0:0 line maps to a span of original lines
  size_t no_range = 0;
  bool same_name = true, all_have_lines = true;
  std::string_view first_name;
  for (const Member* member : base) {
    if (HasObfuscatedRange(*member)) {
      if (member->orig_end != kNoLine && member->orig_end != member->orig_start) {
        zero_range_spans = true;
      }
      continue;
    }
    std::string_view name = m_.str(m_.method(*member).name);
    if (no_range++ == 0) first_name = name;
    if (name != first_name) same_name = false;
    if (member->orig_start == kNoLine) all_have_lines = false;
  }

  bool no_range_emitted = false;
  for (const Member* member : base) {
    if (HasObfuscatedRange(*member)) {
      std::optional<uint32_t> line =
          zero_range_spans ? std::optional<uint32_t>(0) : PositiveOrNone(member->orig_start);
      Emit(*member, line, FileSource::kSynthesized, Chain::kIfInline);
    } else if (same_name) {
      // Several lines for one method without a range: say the method once, line unknown.
      if (no_range_emitted) continue;
      no_range_emitted = true;
      uint32_t line = 0;
      if (no_range == 1 && member->orig_start != kNoLine) line = member->orig_start;
      Emit(*member, line, FileSource::kSynthesized, Chain::kNew);
    } else {
      Emit(*member, 0, FileSource::kSynthesized, Chain::kNew);
    }
  }
  if (!same_name && all_have_lines) {
    // Overloads without lines are listed by name, as R8 does.
    std::stable_sort(
        out_->frames.begin(), out_->frames.end(),
        [](const RetracedFrame& a, const RetracedFrame& b) { return a.method < b.method; });
    for (uint32_t i = 0; i < out_->frames.size(); ++i) out_->frames[i].alternative = i;
  }
}

std::string Descriptor(std::string_view class_name) {
  std::string d = "L";
  d.reserve(class_name.size() + 2);
  for (char c : class_name) d.push_back(c == '.' ? '/' : c);
  d.push_back(';');
  return d;
}

// A frame line as rust-proguard reads it: trimmed, `at ` ... `)`, class and method split at the
// last '.' before '(', file and line split at the last ':' inside the parentheses. A line that
// does not parse as a number reads as 0.
struct TextFrame {
  std::string_view class_name, method, file;
  std::optional<uint32_t> line;
};

bool ParseFrameLine(std::string_view line, TextFrame* out) {
  std::string_view s = Trim(line);
  if (!s.starts_with("at ") || !s.ends_with(")")) return false;
  s = s.substr(3, s.size() - 4);
  size_t paren = s.find('(');
  if (paren == std::string_view::npos) return false;
  std::string_view head = s.substr(0, paren);
  std::string_view source = s.substr(paren + 1);
  size_t dot = head.rfind('.');
  if (dot == std::string_view::npos) return false;
  out->class_name = head.substr(0, dot);
  out->method = head.substr(dot + 1);
  size_t colon = source.rfind(':');
  if (colon == std::string_view::npos) {
    out->file = source;
    out->line = std::nullopt;
    return true;
  }
  out->file = source.substr(0, colon);
  std::string_view digits = source.substr(colon + 1);
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  uint64_t v = 0;
  bool ok = !digits.empty() && digits.size() <= 10;
  for (size_t i = 0; ok && i < digits.size(); ++i) {
    ok = digits[i] >= '0' && digits[i] <= '9';
    v = v * 10 + static_cast<uint64_t>(digits[i] - '0');
  }
  out->line = ok && v <= UINT32_MAX - 1 ? static_cast<uint32_t>(v) : 0;
  return true;
}

// An exception line: [indent][`Caused by: ` | `Suppressed: ` | `Exception in thread "t" `]type
// followed by nothing, `:` or `: message`. `type_begin`/`type_end` locate the class in the line.
bool ParseExceptionLine(std::string_view line, size_t* type_begin, size_t* type_end) {
  size_t i = 0;
  while (i < line.size() && IsSpace(line[i])) ++i;
  std::string_view s = line.substr(i);
  for (std::string_view caption : {"Caused by: ", "Suppressed: "}) {
    if (s.starts_with(caption)) {
      i += caption.size();
      break;
    }
  }
  s = line.substr(i);
  if (s.starts_with("Exception in thread \"")) {
    size_t close = s.find("\" ", 21);
    if (close == std::string_view::npos) return false;
    i += close + 2;
  }
  size_t end = i;
  while (end < line.size() && line[end] != ':') {
    char c = line[end];
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || IsSpace(c) || c == '(' || c == ')' ||
        c == '"' || c == '\'' || c == '<' || c == '>' || c == '[' || c == ']' || c == '{' ||
        c == '}' || c == ';' || c == ',' || c == '=' || c == '/' || c == '\\') {
      return false;
    }
    ++end;
  }
  if (end == i) return false;
  std::string_view rest = TrimRight(line.substr(end));
  if (!rest.empty() && rest != ":" && !rest.starts_with(": ")) return false;
  *type_begin = i;
  *type_end = end;
  return true;
}

}  // namespace

FrameRetrace RetraceFrame(const ProguardMapping& mapping, std::string_view obfuscated_class,
                          std::string_view obfuscated_method, std::optional<uint32_t> line,
                          std::string_view file) {
  FrameRetrace out;
  FrameCollector(mapping, &out, nullptr).Collect(obfuscated_class, obfuscated_method, line, file);
  return out;
}

std::optional<std::string_view> StackRetracer::OnException(std::string_view obfuscated_class) {
  std::optional<std::string_view> original = mapping_->RemapClass(obfuscated_class);
  thrown_ = Descriptor(original.value_or(obfuscated_class));
  return original;
}

FrameRetrace StackRetracer::OnFrame(std::string_view obfuscated_class,
                                    std::string_view obfuscated_method,
                                    std::optional<uint32_t> line, std::string_view file) {
  FrameRetrace out;
  const Class* cls = mapping_->FindClass(obfuscated_class);
  if (cls != nullptr) {
    std::span<const Member> members = mapping_->FindMembers(*cls, obfuscated_method);
    if (!members.empty() && (mapping_->method(members.front()).flags & ProguardMapping::kOutline)) {
      // The outline's line says which of the caller's outlineCallsite positions ran.
      outline_line_ = line.value_or(0);
      out.match = FrameMatch::kOutline;
      return out;
    }
    if (outline_line_.has_value()) {
      uint32_t position = *outline_line_;
      uint32_t at = line.value_or(0);
      for (const Member& member : members) {
        if (Ranged(member) && (at < member.obf_start || at > member.obf_end)) continue;
        auto positions = mapping_->outline_positions(member);
        auto it = std::lower_bound(positions.begin(), positions.end(), position,
                                   [](const ProguardMapping::OutlinePosition& p, uint32_t v) {
                                     return p.outline_line < v;
                                   });
        if (it != positions.end() && it->outline_line == position) {
          line = it->caller_line;
          break;
        }
      }
    }
  }
  outline_line_.reset();

  std::vector<const ProguardMapping::RewriteRule*> rules;
  FrameCollector(*mapping_, &out, &rules).Collect(obfuscated_class, obfuscated_method, line, file);
  if (thrown_.has_value() && !out.frames.empty()) {
    for (const ProguardMapping::RewriteRule* rule : rules) {
      if (rule->has_unknown_condition) continue;
      auto conditions = mapping_->conditions(*rule);
      bool applies = std::all_of(conditions.begin(), conditions.end(),
                                 [&](StrRef c) { return mapping_->str(c) == *thrown_; });
      if (!applies) continue;
      size_t n = std::min<size_t>(rule->remove_inner_frames, out.frames.size());
      out.frames.erase(out.frames.begin(), out.frames.begin() + static_cast<ptrdiff_t>(n));
      if (out.frames.empty()) {
        out.match = FrameMatch::kRemoved;
        break;
      }
    }
  }
  thrown_.reset();
  return out;
}

Result<std::string> RetraceStackTrace(const ProguardMapping& mapping, std::string_view text) {
  if (text.size() > kMaxRetraceInputBytes) {
    return Status::TooLarge("stack trace is " + std::to_string(text.size()) + " bytes, over the " +
                            std::to_string(kMaxRetraceInputBytes) + " byte limit");
  }
  std::string out;
  out.reserve(text.size() + text.size() / 2);
  StackRetracer retracer(&mapping);
  bool in_message = false;  // between an exception line and its first frame
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    TextFrame frame;
    size_t type_begin = 0, type_end = 0;
    if (ParseFrameLine(line, &frame)) {
      in_message = false;
      FrameRetrace r = retracer.OnFrame(frame.class_name, frame.method, frame.line, frame.file);
      if (r.match == FrameMatch::kOutline || r.match == FrameMatch::kRemoved) continue;
      if (r.frames.empty()) {
        out.append(line).push_back('\n');
        continue;
      }
      for (const RetracedFrame& f : r.frames) {
        out.append("    at ").append(f.class_name).push_back('.');
        out.append(f.method).push_back('(');
        out.append(f.file);
        if (f.line.has_value()) out.append(":").append(std::to_string(*f.line));
        out.append(")\n");
      }
    } else if (ParseExceptionLine(line, &type_begin, &type_end)) {
      in_message = true;
      std::optional<std::string_view> original =
          retracer.OnException(line.substr(type_begin, type_end - type_begin));
      out.append(line.substr(0, type_begin));
      out.append(original.value_or(line.substr(type_begin, type_end - type_begin)));
      out.append(line.substr(type_end)).push_back('\n');
    } else {
      if (!in_message) retracer.OnOtherLine();
      out.append(line).push_back('\n');
    }
  }
  return out;
}

}  // namespace vigil::symbols
