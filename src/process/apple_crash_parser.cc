// Apple .crash text → CrashReport. See apple_crash_parser.h and docs/formats.md §4.1.
#include "process/apple_crash_parser.h"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "process/report_text.h"

namespace vigil::process {
namespace {

using text::ConsumeHex0x;
using text::ConsumePrefix;
using text::ConsumeWhile;
using text::IsAlpha;
using text::IsDigit;
using text::IsHexDigit;
using text::IsSpace;
using text::ParseDecimal;
using text::SkipSpaces;
using text::Trim;
using text::TrimLeft;
using text::TrimRight;

constexpr std::string_view kWhat = "apple crash report";
constexpr size_t kMaxKeyChars = 64;

bool IsKeyChar(char c) {
  return IsAlpha(c) || IsDigit(c) || c == ' ' || c == '/' || c == '-' || c == '_' || c == '(' ||
         c == ')' || c == '.';
}

// "Key: value" at column 0. The key starts with a letter and is short.
bool ParseKeyValue(std::string_view line, std::string_view* key, std::string_view* value) {
  if (line.empty() || !IsAlpha(line[0])) return false;
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon > kMaxKeyChars) return false;
  std::string_view k = TrimRight(line.substr(0, colon));
  for (char c : k) {
    if (!IsKeyChar(c)) return false;
  }
  *key = k;
  *value = Trim(line.substr(colon + 1));
  return true;
}

// "Thread 3:", "Thread 3 Crashed:", "Thread 0::  Dispatch queue: q", "Thread 1 Crashed: Name".
struct ThreadHeading {
  uint64_t id = 0;
  bool crashed = false;
  std::string_view rest;  // thread name and/or dispatch queue
};

bool ParseThreadNumber(std::string_view* s, uint64_t* id) {
  if (!ConsumePrefix(s, "Thread ")) return false;
  return ParseDecimal(ConsumeWhile(s, IsDigit), id);
}

bool ParseThreadHeading(std::string_view line, ThreadHeading* h) {
  std::string_view s = line;
  if (!ParseThreadNumber(&s, &h->id)) return false;
  h->crashed = ConsumePrefix(&s, " Crashed");
  if (!ConsumePrefix(&s, ":")) return false;
  ConsumePrefix(&s, ":");
  h->rest = Trim(s);
  return true;
}

// "Thread 0 name:  Dispatch queue: com.apple.main-thread" (older iOS, before the heading).
bool ParseThreadNameLine(std::string_view line, uint64_t* id, std::string_view* rest) {
  std::string_view s = line;
  if (!ParseThreadNumber(&s, id) || !ConsumePrefix(&s, " name:")) return false;
  *rest = Trim(s);
  return true;
}

// "Thread 2 crashed with ARM Thread State (64-bit):".
bool ParseThreadStateHeading(std::string_view line, uint64_t* id) {
  std::string_view s = line;
  return ParseThreadNumber(&s, id) && ConsumePrefix(&s, " crashed with ");
}

// A heading's text after the colon: "Name", "Dispatch queue: q" or "Name  Dispatch queue: q".
// The thread name wins; the queue names threads that have no name.
std::string ThreadName(std::string_view rest) {
  constexpr std::string_view kQueue = "Dispatch queue:";
  size_t q = rest.find(kQueue);
  if (q == std::string_view::npos) return std::string(Trim(rest));
  std::string_view name = Trim(rest.substr(0, q));
  if (!name.empty()) return std::string(name);
  return std::string(Trim(rest.substr(q + kQueue.size())));
}

// "(file:line)" at the end of a frame's location.
bool ConsumeFileLine(std::string_view* rest, CrashFrame* f) {
  if (rest->empty() || rest->back() != ')') return false;
  size_t open = rest->rfind(" (");
  if (open == std::string_view::npos) return false;
  std::string_view inner = rest->substr(open + 2, rest->size() - open - 3);
  size_t colon = inner.rfind(':');
  uint64_t line;
  if (colon == std::string_view::npos || colon == 0 ||
      !ParseDecimal(inner.substr(colon + 1), &line) || line > UINT32_MAX) {
    return false;
  }
  f->filename = std::string(inner.substr(0, colon));
  f->lineno = static_cast<uint32_t>(line);
  *rest = TrimRight(rest->substr(0, open));
  return true;
}

// The part of a frame line after the address: "0x1a000 + 20240", "sym + 36",
// "sym + 36 (file.m:17)", "sym (file.m:17)", atos' "sym (in Module) + 36", or nothing.
void ParseLocation(std::string_view rest, CrashFrame* f) {
  ConsumeFileLine(&rest, f);
  size_t plus = rest.rfind(" + ");
  uint64_t offset;
  if (plus != std::string_view::npos && ParseDecimal(rest.substr(plus + 3), &offset)) {
    f->symbol_offset = offset;
    rest = TrimRight(rest.substr(0, plus));
  }
  if (!rest.empty() && rest.back() == ')') {
    size_t in = rest.rfind(" (in ");
    if (in != std::string_view::npos) rest = TrimRight(rest.substr(0, in));
  }
  uint64_t load;
  std::string_view hex = rest;
  if (ConsumeHex0x(&hex, &load) && hex.empty()) {
    // "0xLOAD + N": an unsymbolicated location; N is relative to the image, not a symbol.
    f->symbol_offset.reset();
    return;
  }
  f->symbol = std::string(rest);
}

// "N   module name   0x00000001a1b2c3d4 location". The module may contain spaces, so the
// address is the first whitespace-delimited "0x<hex>" token after the index.
bool ParseFrameLine(std::string_view line, CrashFrame* f) {
  std::string_view s = TrimLeft(line);
  std::string_view index = ConsumeWhile(&s, IsDigit);
  if (index.empty() || index.size() > 9 || SkipSpaces(&s) == 0) return false;
  size_t from = 0;
  for (;;) {
    size_t p = s.find("0x", from);
    if (p == std::string_view::npos) return false;
    size_t end = p + 2;
    while (end < s.size() && IsHexDigit(s[end])) ++end;
    bool is_token =
        (p == 0 || IsSpace(s[p - 1])) && end > p + 2 && (end == s.size() || IsSpace(s[end]));
    if (is_token) {
      std::string_view addr = s.substr(p, end - p);
      if (!ConsumeHex0x(&addr, &f->instruction_addr)) return false;  // over 64 bits
      std::string_view module = Trim(s.substr(0, p));
      if (module != "???") f->module = std::string(module);
      ParseLocation(Trim(s.substr(end)), f);
      return true;
    }
    from = p + 2;
  }
}

bool IsArch(std::string_view s) {
  static constexpr std::array<std::string_view, 9> kExact = {
      "arm", "i386", "i486", "i586", "i686", "ppc", "ppc64", "x86", "unknown"};
  for (std::string_view a : kExact) {
    if (s == a) return true;
  }
  return s.starts_with("arm64") || s.starts_with("armv") || s.starts_with("x86_64") ||
         s.starts_with("ppc7") || s.starts_with("ppc9");
}

// Splits "name [arch] [(version)]" (the text before the uuid), right to left. PLCrashReporter
// prints the arch in parentheses: "com.example.App (x86_64)".
void ParseImageNameArchVersion(std::string_view pre, CrashImage* img) {
  pre = Trim(pre);
  if (!pre.empty() && pre.back() == ')') {
    size_t open = pre.rfind('(');
    std::string_view before =
        open == std::string_view::npos ? std::string_view() : TrimRight(pre.substr(0, open));
    if (!before.empty()) {
      std::string_view group = Trim(pre.substr(open + 1, pre.size() - open - 2));
      pre = before;
      if (IsArch(group)) {
        img->arch = std::string(group);
        img->name = std::string(pre);
        return;
      }
      if (group != "*") img->version = std::string(group);
    }
  }
  size_t sp = pre.find_last_of(" \t");
  if (sp != std::string_view::npos && IsArch(pre.substr(sp + 1))) {
    img->arch = std::string(pre.substr(sp + 1));
    pre = TrimRight(pre.substr(0, sp));
  }
  img->name = std::string(pre);
}

enum class ImageLine { kImage, kPlaceholder, kNotImage };

// "0x102a00000 - 0x102a3ffff +MyApp arm64  <uuid> /path", end inclusive.
ImageLine ParseImageLine(std::string_view line, CrashImage* img) {
  std::string_view s = Trim(line);
  uint64_t start, end;
  if (!ConsumeHex0x(&s, &start)) return ImageLine::kNotImage;
  SkipSpaces(&s);
  if (!ConsumePrefix(&s, "-")) return ImageLine::kNotImage;
  SkipSpaces(&s);
  if (!ConsumeHex0x(&s, &end) || SkipSpaces(&s) == 0 || end < start) return ImageLine::kNotImage;
  img->addr = start;
  img->size = end - start + 1;  // 0 (unknown) when the range is the whole address space
  img->in_app = ConsumePrefix(&s, "+");
  SkipSpaces(&s);

  std::string_view pre = s;
  bool has_uuid = false;
  size_t gt = 0;
  for (size_t lt = s.find('<'); lt != std::string_view::npos; lt = s.find('<', lt + 1)) {
    if (gt <= lt) gt = s.find('>', lt + 1);
    if (gt == std::string_view::npos) break;
    if (auto uuid = text::NormalizeUuid(s.substr(lt + 1, gt - lt - 1))) {
      img->uuid = std::move(*uuid);
      pre = s.substr(0, lt);
      img->path = std::string(Trim(s.substr(gt + 1)));
      has_uuid = true;
      break;
    }
  }
  if (!has_uuid) {
    size_t slash = s.find(" /");
    if (slash != std::string_view::npos) {
      pre = s.substr(0, slash);
      img->path = std::string(Trim(s.substr(slash)));
    }
  }
  ParseImageNameArchVersion(pre, img);
  if (img->name == "???") return ImageLine::kPlaceholder;
  if (img->name.empty() && !has_uuid) return ImageLine::kNotImage;
  return ImageLine::kImage;
}

// "   rip: 0x00000001090a0132    rbp: 0x0000700015a616d0 ...". Stops at the first token that is
// not "name: 0xhex" (e.g. esr's "(Data Abort) byte write Translation fault"). Returns the count.
size_t ParseRegisterLine(std::string_view line,
                         std::vector<std::pair<std::string, uint64_t>>* regs) {
  std::string_view s = line;
  size_t n = 0;
  for (;;) {
    SkipSpaces(&s);
    std::string_view name =
        ConsumeWhile(&s, [](char c) { return IsAlpha(c) || IsDigit(c) || c == '_'; });
    if (name.empty() || !ConsumePrefix(&s, ":")) break;
    SkipSpaces(&s);
    uint64_t value;
    if (!ConsumeHex0x(&s, &value)) break;
    regs->emplace_back(std::string(name), value);
    ++n;
  }
  return n;
}

enum class Section { kNone, kAsi, kLastException, kThread, kThreadState, kBinaryImages };

class Parser {
 public:
  Status Run(std::string_view input);
  CrashReport TakeReport() { return std::move(report_); }

 private:
  // False when `line` does not belong to the current section (which then ends).
  bool HandleInSection(std::string_view line);
  void HandleTopLevel(std::string_view line);
  void HandleHeaderKey(std::string_view key, std::string_view value);
  bool AddFrame(std::vector<CrashFrame>* frames, CrashFrame f);
  void Finish();

  CrashReport report_;
  Status status_;
  Section section_ = Section::kNone;
  bool header_done_ = false;  // a thread or Binary Images section was seen
  bool section_has_lines_ = false;
  size_t line_number_ = 0;
  size_t frame_count_ = 0;
  std::vector<std::string_view> asi_lines_;
  std::optional<uint64_t> header_crashed_thread_;
  uint64_t state_thread_id_ = 0;
  std::vector<std::pair<uint64_t, std::vector<std::pair<std::string, uint64_t>>>> states_;
  std::vector<std::pair<uint64_t, std::string>> pending_names_;
  int reason_rank_ = 0;  // which key exception_reason came from: higher wins
  size_t first_unknown_line_ = 0;
  std::string_view first_unknown_;
};

Status Parser::Run(std::string_view input) {
  text::LineReader lines(input);
  std::string_view raw;
  while (lines.Next(&raw)) {
    line_number_ = lines.line_number();
    std::string_view line = TrimRight(raw);
    if (section_ != Section::kNone && HandleInSection(line)) {
      if (!status_.ok()) return status_;
      continue;
    }
    section_ = Section::kNone;
    HandleTopLevel(line);
    if (!status_.ok()) return status_;
  }
  if (report_.threads.empty() && report_.images.empty() && report_.extra_stacks.empty()) {
    if (first_unknown_line_ != 0) {
      std::string_view problem =
          first_unknown_.starts_with("{")
              ? "no crash report found; this looks like JSON (an .ips report?)"
              : "no crash report found; not a 'Key: value' header, 'Thread N:' heading or "
                "Binary Images line";
      return text::LineError(kWhat, first_unknown_line_, problem, first_unknown_);
    }
    return Status::InvalidArgument(std::string(kWhat) + ": no 'Thread N:' block or Binary Images " +
                                   "line in " + std::to_string(line_number_) + " lines");
  }
  Finish();
  return Status::Ok();
}

bool Parser::AddFrame(std::vector<CrashFrame>* frames, CrashFrame f) {
  if (++frame_count_ > kMaxAppleCrashFrames) {
    status_ = Status::TooLarge(std::string(kWhat) + ": line " + std::to_string(line_number_) +
                               ": more than " + std::to_string(kMaxAppleCrashFrames) + " frames");
    return false;
  }
  frames->push_back(std::move(f));
  return true;
}

bool Parser::HandleInSection(std::string_view line) {
  // Sections end at a blank line, except Binary Images (lldb and others leave blank lines inside
  // it); a blank line right after a heading is tolerated.
  if (line.empty()) {
    if (section_ == Section::kBinaryImages) return true;
    if (section_ == Section::kAsi) return false;
    return !section_has_lines_;
  }
  switch (section_) {
    case Section::kNone:
      return false;
    case Section::kAsi:
      if (line.starts_with("Thread ") || line.starts_with("Binary Images") ||
          line.starts_with("Last Exception Backtrace:")) {
        return false;
      }
      asi_lines_.push_back(line);
      return true;
    case Section::kLastException: {
      CrashStack& stack = report_.extra_stacks.back();
      CrashFrame f;
      if (ParseFrameLine(line, &f)) {
        section_has_lines_ = true;
        AddFrame(&stack.frames, std::move(f));
        return true;
      }
      // The compact form: "(0x1838a6d8c 0x182a605ec ...)".
      std::string_view s = Trim(line);
      if (section_has_lines_ || s.size() < 2 || s.front() != '(' || s.back() != ')') return false;
      s = s.substr(1, s.size() - 2);
      for (;;) {
        SkipSpaces(&s);
        CrashFrame addr_only;
        if (!ConsumeHex0x(&s, &addr_only.instruction_addr)) break;
        if (!AddFrame(&stack.frames, std::move(addr_only))) return true;
      }
      section_has_lines_ = true;
      return true;
    }
    case Section::kThread: {
      CrashFrame f;
      if (!ParseFrameLine(line, &f)) return false;
      section_has_lines_ = true;
      AddFrame(&report_.threads.back().frames, std::move(f));
      return true;
    }
    case Section::kThreadState:
      if (ParseRegisterLine(line, &states_.back().second) == 0) return false;
      section_has_lines_ = true;
      return true;
    case Section::kBinaryImages: {
      CrashImage img;
      switch (ParseImageLine(line, &img)) {
        case ImageLine::kImage:
          if (report_.images.size() >= kMaxAppleCrashFrames) {
            status_ =
                Status::TooLarge(std::string(kWhat) + ": line " + std::to_string(line_number_) +
                                 ": more than " + std::to_string(kMaxAppleCrashFrames) + " images");
            return true;
          }
          report_.images.push_back(std::move(img));
          return true;
        case ImageLine::kPlaceholder:
          return true;
        case ImageLine::kNotImage:
          return false;
      }
      return false;
    }
  }
  return false;
}

void Parser::HandleTopLevel(std::string_view line) {
  if (line.empty()) return;
  section_has_lines_ = false;
  if (line.starts_with("Thread ")) {
    ThreadHeading heading;
    uint64_t id;
    std::string_view rest;
    if (ParseThreadHeading(line, &heading)) {
      CrashThread& t = report_.threads.emplace_back();
      t.id = heading.id;
      t.crashed = heading.crashed;
      t.name = ThreadName(heading.rest);
      section_ = Section::kThread;
      header_done_ = true;
      return;
    }
    if (ParseThreadStateHeading(line, &id)) {
      states_.emplace_back(id, std::vector<std::pair<std::string, uint64_t>>());
      section_ = Section::kThreadState;
      header_done_ = true;
      return;
    }
    if (ParseThreadNameLine(line, &id, &rest)) {
      pending_names_.emplace_back(id, ThreadName(rest));
      return;
    }
  }
  if (line.starts_with("Binary Images") && line.back() == ':') {
    section_ = Section::kBinaryImages;
    header_done_ = true;
    return;
  }
  if (line.starts_with("Last Exception Backtrace:")) {
    report_.extra_stacks.push_back(CrashStack{"Last Exception Backtrace", {}});
    section_ = Section::kLastException;
    return;
  }
  std::string_view key, value;
  if (ParseKeyValue(line, &key, &value)) {
    if (key == "Application Specific Information") {
      if (!value.empty()) asi_lines_.push_back(value);
      section_ = Section::kAsi;
      return;
    }
    if (!header_done_) {
      HandleHeaderKey(key, value);
      return;
    }
  }
  if (first_unknown_line_ == 0 && !header_done_) {
    first_unknown_line_ = line_number_;
    first_unknown_ = line;
  }
}

// Text before a " (" suffix: "EXC_BAD_ACCESS (SIGSEGV)" → "EXC_BAD_ACCESS".
std::string_view BeforeParen(std::string_view v) {
  size_t p = v.find(" (");
  return p == std::string_view::npos ? v : TrimRight(v.substr(0, p));
}

void Parser::HandleHeaderKey(std::string_view key, std::string_view value) {
  auto [it, inserted] = report_.metadata.try_emplace(std::string(key), value);
  if (!inserted) it->second.append("\n").append(value);
  if (key == "Incident Identifier") {
    auto uuid = text::NormalizeUuid(value);
    report_.incident_identifier = uuid ? *uuid : std::string(value);
  } else if (key == "Date/Time") {
    auto ts = text::NormalizeTimestamp(value);
    report_.timestamp = ts ? *ts : std::string(value);
  } else if (key == "Code Type") {
    report_.code_type = std::string(BeforeParen(value));
  } else if (key == "OS Version") {
    report_.os_version = std::string(value);
  } else if (key == "Version") {
    report_.app_version = std::string(value);
  } else if (key == "Exception Type") {
    report_.exception_type = std::string(BeforeParen(value));
  } else if (key == "Exception Subtype" || key == "Exception Message" || key == "Exception Codes") {
    int rank = key == "Exception Subtype" ? 3 : key == "Exception Message" ? 2 : 1;
    if (rank > reason_rank_) {
      reason_rank_ = rank;
      report_.exception_reason = std::string(value);
    }
  } else if (key == "Crashed Thread" || key == "Triggered by Thread") {
    std::string_view v = value;
    uint64_t n;
    if (ParseDecimal(ConsumeWhile(&v, IsDigit), &n)) header_crashed_thread_ = n;
  }
}

void Parser::Finish() {
  for (size_t i = 0; i < asi_lines_.size(); ++i) {
    if (i > 0) report_.application_specific_information.push_back('\n');
    report_.application_specific_information.append(asi_lines_[i]);
  }
  for (auto& [id, name] : pending_names_) {
    for (CrashThread& t : report_.threads) {
      if (t.id == id && t.name.empty()) t.name = name;
    }
  }
  for (auto& [id, regs] : states_) {
    for (CrashThread& t : report_.threads) {
      if (t.id == id) {
        t.registers = std::move(regs);
        break;
      }
    }
  }
  for (size_t i = 0; i < report_.threads.size(); ++i) {
    if (report_.threads[i].crashed) {
      report_.crashed_thread = i;
      break;
    }
  }
  if (!report_.crashed_thread && header_crashed_thread_) {
    for (size_t i = 0; i < report_.threads.size(); ++i) {
      if (report_.threads[i].id == *header_crashed_thread_) {
        report_.threads[i].crashed = true;
        report_.crashed_thread = i;
        break;
      }
    }
  }

  // Attach frames to images by address: sort by start, binary-search the last start <= pc.
  std::vector<std::pair<uint64_t, int>> by_start;
  by_start.reserve(report_.images.size());
  for (size_t i = 0; i < report_.images.size(); ++i) {
    by_start.emplace_back(report_.images[i].addr, static_cast<int>(i));
  }
  std::sort(by_start.begin(), by_start.end());
  auto attach = [&](CrashFrame& f) {
    auto it = std::upper_bound(by_start.begin(), by_start.end(),
                               std::make_pair(f.instruction_addr, INT32_MAX));
    if (it == by_start.begin()) return;
    const CrashImage& img = report_.images[(it - 1)->second];
    if (img.size != 0 && f.instruction_addr - img.addr < img.size) f.image_index = (it - 1)->second;
  };
  for (CrashThread& t : report_.threads) {
    for (CrashFrame& f : t.frames) attach(f);
  }
  for (CrashStack& s : report_.extra_stacks) {
    for (CrashFrame& f : s.frames) attach(f);
  }
}

}  // namespace

Result<CrashReport> ParseAppleCrashReport(std::string_view text) {
  VIGIL_RETURN_IF_ERROR(text::CheckTextInput(kWhat, text, kMaxAppleCrashReportBytes));
  Parser parser;
  VIGIL_RETURN_IF_ERROR(parser.Run(text));
  return parser.TakeReport();
}

}  // namespace vigil::process
