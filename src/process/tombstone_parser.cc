// Android tombstone text → CrashReports. See tombstone_parser.h and docs/formats.md §5.
#include "process/tombstone_parser.h"

#include <optional>
#include <string>
#include <utility>

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
using text::ParseHex;
using text::SkipSpaces;
using text::Trim;
using text::TrimLeft;
using text::TrimRight;

constexpr std::string_view kWhat = "android tombstone";
constexpr size_t kMaxKeyChars = 64;

bool IsLogLevel(char c) {
  return c == 'V' || c == 'D' || c == 'I' || c == 'W' || c == 'E' || c == 'F' || c == 'A';
}

bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }

bool ConsumeDigits(std::string_view* s, size_t n) {
  if (s->size() < n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (!IsDigit((*s)[i])) return false;
  }
  s->remove_prefix(n);
  return true;
}

// logcat's "[YYYY-]MM-DD HH:MM:SS[.fff]" and the spaces after it.
bool SkipLogTime(std::string_view* s) {
  std::string_view t = *s;
  std::string_view with_year = t;
  if (ConsumeDigits(&with_year, 4) && ConsumePrefix(&with_year, "-")) t = with_year;
  if (!ConsumeDigits(&t, 2) || !ConsumePrefix(&t, "-") || !ConsumeDigits(&t, 2) ||
      SkipSpaces(&t) == 0 || !ConsumeDigits(&t, 2) || !ConsumePrefix(&t, ":") ||
      !ConsumeDigits(&t, 2) || !ConsumePrefix(&t, ":") || !ConsumeDigits(&t, 2)) {
    return false;
  }
  if (ConsumePrefix(&t, ".")) ConsumeWhile(&t, IsDigit);
  if (SkipSpaces(&t) == 0) return false;
  *s = t;
  return true;
}

// ": " after a tag: the message follows. One space belongs to the separator; more are the
// tombstone's own indentation.
bool ConsumeTagEnd(std::string_view* s) {
  if (!ConsumePrefix(s, ":")) return false;
  ConsumePrefix(s, " ");
  return true;
}

// Splits a logcat prefix off `line`: returns the message and sets `*tag` ("DEBUG"), or returns
// `line` with `*tag` empty when it has no prefix.
std::string_view SplitLogcatPrefix(std::string_view line, std::string_view* tag) {
  *tag = {};
  std::string_view s = line;
  bool timed = SkipLogTime(&s);
  // -v brief / -v time: "F/DEBUG   ( 1234): msg"; -v tag: "F/DEBUG: msg".
  if (s.size() > 2 && IsLogLevel(s[0]) && s[1] == '/') {
    std::string_view t = s.substr(2);
    size_t end = t.find_first_of("(:");
    std::string_view name = Trim(t.substr(0, end));
    if (end != std::string_view::npos && end <= kMaxKeyChars && !name.empty()) {
      t.remove_prefix(end);
      bool ok = true;
      if (ConsumePrefix(&t, "(")) {
        SkipSpaces(&t);
        ok = !ConsumeWhile(&t, IsDigit).empty();
        SkipSpaces(&t);
        ok = ok && ConsumePrefix(&t, ")");
      }
      if (ok && ConsumeTagEnd(&t)) {
        *tag = name;
        return t;
      }
    }
  }
  // -v threadtime (and -v uid): "[uid] pid tid L TAG     : msg".
  if (timed) {
    std::string_view t = s;
    for (int column = 0; column < 3 && !t.empty() && IsDigit(t[0]); ++column) {
      ConsumeWhile(&t, IsDigit);
      SkipSpaces(&t);
    }
    if (t.size() > 2 && IsLogLevel(t[0]) && t[1] == ' ') {
      t.remove_prefix(2);
      size_t colon = t.find(':');
      std::string_view name = Trim(t.substr(0, colon));
      if (colon != std::string_view::npos && colon <= kMaxKeyChars && !name.empty()) {
        t.remove_prefix(colon);
        if (ConsumeTagEnd(&t)) {
          *tag = name;
          return t;
        }
      }
    }
  }
  // A bare tag: "DEBUG   : msg".
  std::string_view t = line;
  if (ConsumePrefix(&t, "DEBUG")) {
    SkipSpaces(&t);
    if (ConsumeTagEnd(&t)) {
      *tag = "DEBUG";
      return t;
    }
  }
  return line;
}

// crash_dump writes tombstones to logcat as DEBUG; other tags in a capture are other logs.
bool IsTombstoneTag(std::string_view tag) {
  return tag == "DEBUG" || tag.starts_with("crash_dump");
}

bool IsMarker(std::string_view s) { return s.starts_with("*** *** ***"); }
bool IsThreadSeparator(std::string_view s) { return s.starts_with("--- --- ---"); }

// "(BuildId: 0123abcd)" at the end of `*rest`.
void ConsumeBuildIdSuffix(std::string_view* rest, CrashFrame* f) {
  if (rest->empty() || rest->back() != ')') return;
  size_t open = rest->rfind("(BuildId:");
  if (open == std::string_view::npos) return;
  std::string_view inner = rest->substr(open + 9, rest->size() - open - 10);
  f->build_id = std::string(Trim(inner));
  *rest = TrimRight(rest->substr(0, open));
}

// "#00 pc 000000000004a1f0  /path/lib.so (offset 0x1000) (sym+48) (BuildId: ab12)". The
// mapping is one token, or a bracketed "[anon:...]" that may hold spaces.
bool ParseFrameLine(std::string_view line, CrashFrame* f) {
  std::string_view s = TrimLeft(line);
  uint64_t index;
  if (!ConsumePrefix(&s, "#") || !ParseDecimal(ConsumeWhile(&s, IsDigit), &index) ||
      SkipSpaces(&s) == 0 || !ConsumePrefix(&s, "pc") || SkipSpaces(&s) == 0) {
    return false;
  }
  std::string_view pc = ConsumeWhile(&s, IsHexDigit);
  if (!ParseHex(pc, &f->instruction_addr)) return false;
  if (!s.empty() && SkipSpaces(&s) == 0) return false;
  f->addr_is_relative = true;

  std::string_view rest = TrimRight(s);
  size_t mapping_end;
  if (rest.starts_with("[")) {
    mapping_end = rest.find(']');
    mapping_end = mapping_end == std::string_view::npos ? rest.size() : mapping_end + 1;
  } else {
    mapping_end = rest.find_first_of(" \t");
    if (mapping_end == std::string_view::npos) mapping_end = rest.size();
  }
  f->module = std::string(rest.substr(0, mapping_end));
  rest = TrimLeft(rest.substr(mapping_end));
  if (ConsumePrefix(&rest, "(deleted)")) {
    f->module.append(" (deleted)");
    rest = TrimLeft(rest);
  }
  ConsumeBuildIdSuffix(&rest, f);
  for (;;) {
    bool is_offset = rest.starts_with("(offset ");
    if (!is_offset && !rest.starts_with("(load base ")) break;
    size_t close = rest.find(')');
    if (close == std::string_view::npos) break;
    if (is_offset) {
      uint64_t offset;
      if (ParseHex(Trim(rest.substr(8, close - 8)), &offset)) f->module_offset = offset;
    }
    rest = TrimLeft(rest.substr(close + 1));
  }
  if (rest.size() >= 2 && rest.front() == '(' && rest.back() == ')') {
    std::string_view inner = rest.substr(1, rest.size() - 2);
    size_t plus = inner.rfind('+');
    uint64_t offset;
    if (plus != std::string_view::npos && plus > 0 &&
        ParseDecimal(inner.substr(plus + 1), &offset)) {
      f->symbol = std::string(inner.substr(0, plus));
      f->symbol_offset = offset;
    } else {
      f->symbol = std::string(inner);
    }
  }
  return true;
}

// "file.cc:12" or "file.cc:12:3" into filename and lineno.
bool ParseFileLine(std::string_view token, CrashFrame* f) {
  uint64_t a, b;
  size_t c1 = token.rfind(':');
  if (c1 == std::string_view::npos || !ParseDecimal(token.substr(c1 + 1), &a)) return false;
  std::string_view head = token.substr(0, c1);
  size_t c2 = head.rfind(':');
  if (c2 != std::string_view::npos && ParseDecimal(head.substr(c2 + 1), &b)) {
    head = head.substr(0, c2);
    a = b;  // file:line:column
  }
  if (head.empty() || a > UINT32_MAX) return false;
  f->filename = std::string(head);
  f->lineno = static_cast<uint32_t>(a);
  return true;
}

// A sanitizer frame: "#0 0x7b23b87868  (/path/lib.so+0x7b138)",
// "#1 0x7b23b8 in foo(int) (/path/lib.so+0x12) (BuildId: ab)", "#2 0x55d0 in main /src/a.c:5:3".
bool ParseSanitizerFrame(std::string_view s, uint64_t* index, CrashFrame* f) {
  uint64_t addr;
  if (!ConsumePrefix(&s, "#") || !ParseDecimal(ConsumeWhile(&s, IsDigit), index) ||
      SkipSpaces(&s) == 0 || !ConsumeHex0x(&s, &addr) || (!s.empty() && !IsSpace(s[0]))) {
    return false;
  }
  f->instruction_addr = addr;
  std::string_view rest = Trim(s);
  ConsumeBuildIdSuffix(&rest, f);
  if (!rest.empty() && rest.back() == ')') {
    size_t open = rest.rfind('(');
    if (open != std::string_view::npos) {
      std::string_view inner = rest.substr(open + 1, rest.size() - open - 2);
      size_t plus = inner.rfind("+0x");
      uint64_t offset;
      if (plus != std::string_view::npos && plus > 0 && ParseHex(inner.substr(plus + 1), &offset)) {
        f->module = std::string(inner.substr(0, plus));
        f->instruction_addr = offset;
        f->addr_is_relative = true;
        rest = TrimRight(rest.substr(0, open));
      }
    }
  }
  if (ConsumePrefix(&rest, "in ")) {
    rest = Trim(rest);
    size_t sp = rest.rfind(' ');
    if (sp != std::string_view::npos && ParseFileLine(rest.substr(sp + 1), f)) {
      rest = TrimRight(rest.substr(0, sp));
    }
    f->symbol = std::string(rest);
  }
  return true;
}

// "    x0  0000000000000000  x1  0000000000002c29 ...": the whole line must be name/value pairs.
bool ParseRegisterLine(std::string_view line, std::vector<std::pair<std::string, uint64_t>>* regs) {
  std::string_view s = line;
  size_t before = regs->size();
  for (;;) {
    SkipSpaces(&s);
    if (s.empty()) break;
    std::string_view name = ConsumeWhile(&s, IsAlnum);
    uint64_t value;
    bool ok = !name.empty() && name.size() <= 8 && IsAlpha(name[0]) && SkipSpaces(&s) > 0;
    std::string_view hex = ConsumeWhile(&s, IsHexDigit);
    ok = ok && hex.size() >= 4 && ParseHex(hex, &value) && (s.empty() || IsSpace(s[0]));
    if (!ok) {
      regs->resize(before);
      return false;
    }
    regs->emplace_back(std::string(name), value);
  }
  return regs->size() > before;
}

// "Key: value" at column 0.
bool ParseKeyValue(std::string_view line, std::string_view* key, std::string_view* value) {
  if (line.empty() || !IsAlpha(line[0])) return false;
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon > kMaxKeyChars) return false;
  std::string_view k = line.substr(0, colon);
  for (char c : k) {
    if (!IsAlnum(c) && c != ' ' && c != '_' && c != '-') return false;
  }
  *key = k;
  *value = Trim(line.substr(colon + 1));
  return true;
}

std::string_view Unquote(std::string_view v) {
  if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') return v.substr(1, v.size() - 2);
  return v;
}

// "pid: 4242, tid: 4243, name: worker  >>> com.example.app <<<".
struct PidLine {
  uint64_t pid = 0;
  std::optional<uint64_t> tid;
  std::string_view thread_name, process;
};

bool ParsePidLine(std::string_view s, PidLine* p) {
  if (!ConsumePrefix(&s, "pid: ") || !ParseDecimal(ConsumeWhile(&s, IsDigit), &p->pid)) {
    return false;
  }
  uint64_t tid;
  if (ConsumePrefix(&s, ", tid: ") && ParseDecimal(ConsumeWhile(&s, IsDigit), &tid)) p->tid = tid;
  if (ConsumePrefix(&s, ", name: ")) {
    size_t arrows = s.find(">>>");
    p->thread_name = Trim(s.substr(0, arrows));
    if (arrows != std::string_view::npos) {
      std::string_view proc = s.substr(arrows + 3);
      p->process = Trim(proc.substr(0, proc.find("<<<")));
    }
  }
  return true;
}

enum class State { kHeader, kAbortMessage, kBacktrace, kSkip };

class Parser {
 public:
  Status Run(std::string_view input);
  std::vector<CrashReport> TakeReports() { return std::move(reports_); }

 private:
  void HandleLine(std::string_view line);
  // Lines of a multi-line abort message; false when `line` ends it without belonging to it.
  bool HandleAbortLine(std::string_view line);
  void AppendAbortText(std::string_view s);
  void StartReport();
  CrashReport& Report() {
    if (reports_.empty()) StartReport();
    return reports_.back();
  }
  CrashThread& Thread();
  void AddFrame(std::vector<CrashFrame>* frames, CrashFrame f);
  void FinishReport();

  std::vector<CrashReport> reports_;
  Status status_;
  State state_ = State::kHeader;
  bool new_thread_pending_ = false;  // a "--- --- ---" was seen: the next thread is another one
  std::optional<size_t> sanitizer_stack_;  // index into extra_stacks of the stack being read
  std::string_view stack_title_;
  std::string signal_detail_;
  size_t line_number_ = 0;
  size_t frame_count_ = 0;
  size_t first_unknown_line_ = 0;
  std::string_view first_unknown_;
};

void Parser::StartReport() {
  if (!reports_.empty()) FinishReport();
  CrashReport& r = reports_.emplace_back();
  CrashThread& t = r.threads.emplace_back();
  t.crashed = true;
  r.crashed_thread = 0;
  state_ = State::kHeader;
  new_thread_pending_ = false;
  sanitizer_stack_.reset();
  signal_detail_.clear();
}

void Parser::FinishReport() {
  CrashReport& r = reports_.back();
  std::string_view abort = r.application_specific_information;
  if (!abort.empty()) {
    r.exception_reason = std::string(abort.substr(0, abort.find('\n')));
  } else {
    r.exception_reason = signal_detail_;
  }
}

CrashThread& Parser::Thread() {
  CrashReport& r = Report();
  if (new_thread_pending_) {
    r.threads.emplace_back();
    new_thread_pending_ = false;
  }
  return r.threads.back();
}

void Parser::AddFrame(std::vector<CrashFrame>* frames, CrashFrame f) {
  if (++frame_count_ > kMaxTombstoneFrames) {
    status_ = Status::TooLarge(std::string(kWhat) + ": line " + std::to_string(line_number_) +
                               ": more than " + std::to_string(kMaxTombstoneFrames) + " frames");
    return;
  }
  frames->push_back(std::move(f));
}

void Parser::AppendAbortText(std::string_view s) {
  std::string& abort = Report().application_specific_information;
  if (!abort.empty()) abort.push_back('\n');
  abort.append(s);
}

bool Parser::HandleAbortLine(std::string_view line) {
  std::string_view s = TrimLeft(line);
  if (IsMarker(s) || IsThreadSeparator(s) || s == "backtrace:") return false;
  bool last = !line.empty() && line.back() == '\'';
  if (last) line.remove_suffix(1);
  AppendAbortText(line);
  if (last) state_ = State::kHeader;

  CrashFrame f;
  uint64_t index;
  if (ParseSanitizerFrame(TrimRight(TrimLeft(line)), &index, &f)) {
    CrashReport& r = Report();
    if (!sanitizer_stack_ || index == 0) {
      sanitizer_stack_ = r.extra_stacks.size();
      r.extra_stacks.push_back(CrashStack{std::string(stack_title_), {}});
    }
    AddFrame(&r.extra_stacks[*sanitizer_stack_].frames, std::move(f));
  } else if (!Trim(line).empty()) {
    stack_title_ = Trim(line);
    sanitizer_stack_.reset();
  }
  return true;
}

void Parser::HandleLine(std::string_view line) {
  if (state_ == State::kAbortMessage) {
    if (HandleAbortLine(line)) return;
    state_ = State::kHeader;
  }
  std::string_view s = TrimLeft(line);
  if (IsMarker(s)) {
    StartReport();
    return;
  }
  if (IsThreadSeparator(s)) {
    if (!reports_.empty()) {
      new_thread_pending_ = true;
      state_ = State::kHeader;
    }
    return;
  }
  if (state_ == State::kSkip) return;
  if (s == "backtrace:") {
    Thread();
    state_ = State::kBacktrace;
    return;
  }
  CrashFrame frame;
  if (s.starts_with("#") && ParseFrameLine(s, &frame)) {
    AddFrame(&Thread().frames, std::move(frame));
    state_ = State::kBacktrace;
    return;
  }
  if (s.empty()) return;
  bool indented = s.size() != line.size();
  // Any other section ("stack:", "memory near x0 (...):", "memory map (12 entries):",
  // "open files:", "log main:") is skipped up to the next thread or tombstone.
  if (!indented && s.back() == ':' && !reports_.empty()) {
    state_ = State::kSkip;
    return;
  }
  if (state_ == State::kBacktrace) return;  // "NOTE: ..." lines and the like

  PidLine pid;
  if (ParsePidLine(s, &pid)) {
    CrashReport& r = Report();
    CrashThread& t = new_thread_pending_ || r.threads.back().id ? Thread() : r.threads.back();
    if (t.id) return;  // a repeated pid line for the same thread
    t.id = pid.tid ? *pid.tid : pid.pid;
    t.name = std::string(pid.thread_name);
    if (r.threads.size() == 1) {
      r.metadata["pid"] = std::to_string(pid.pid);
      if (pid.tid) r.metadata["tid"] = std::to_string(*pid.tid);
      if (!pid.thread_name.empty()) r.metadata["thread name"] = std::string(pid.thread_name);
      if (!pid.process.empty()) r.metadata["process"] = std::string(pid.process);
    }
    return;
  }
  if (reports_.empty()) {
    if (s.starts_with("Build fingerprint:")) {
      StartReport();
    } else {
      if (first_unknown_line_ == 0) {
        first_unknown_line_ = line_number_;
        first_unknown_ = line;
      }
      return;
    }
  }
  CrashReport& r = reports_.back();
  // Header lines describe the crashing thread: only before its first frame.
  bool in_crash_header =
      r.threads.size() == 1 && r.threads[0].frames.empty() && !new_thread_pending_;
  if (indented) {
    CrashThread& t = r.threads.back();
    if (t.frames.empty() && !new_thread_pending_) ParseRegisterLine(s, &t.registers);
    return;
  }
  if (!in_crash_header) return;
  if (s.starts_with("signal ")) {
    std::string_view rest = s.substr(7);
    r.metadata["signal"] = std::string(rest);
    size_t open = rest.find('(');
    size_t close = rest.find(')');
    if (open != std::string_view::npos && close != std::string_view::npos && open < close) {
      r.exception_type = std::string(rest.substr(open + 1, close - open - 1));
      std::string_view detail = rest.substr(close + 1);
      ConsumePrefix(&detail, ",");
      signal_detail_ = std::string(Trim(detail));
    }
    return;
  }
  std::string_view key, value;
  if (!ParseKeyValue(s, &key, &value)) return;
  if (key == "Abort message") {
    r.application_specific_information.clear();
    bool quoted = ConsumePrefix(&value, "'");
    if (!quoted || (!value.empty() && value.back() == '\'')) {
      if (quoted) value.remove_suffix(1);
      AppendAbortText(value);
    } else {
      stack_title_ = value;
      sanitizer_stack_.reset();
      AppendAbortText(value);
      state_ = State::kAbortMessage;
    }
    return;
  }
  value = Unquote(value);
  r.metadata[std::string(key)] = std::string(value);
  if (key == "Build fingerprint") {
    r.os_version = std::string(value);
  } else if (key == "ABI") {
    r.code_type = std::string(value);
  } else if (key == "Timestamp") {
    auto ts = text::NormalizeTimestamp(value);
    r.timestamp = ts ? *ts : std::string(value);
  }
}

Status Parser::Run(std::string_view input) {
  text::LineReader lines(input);
  std::string_view raw;
  while (lines.Next(&raw)) {
    line_number_ = lines.line_number();
    std::string_view tag;
    std::string_view line = SplitLogcatPrefix(raw, &tag);
    if (!tag.empty() && !IsTombstoneTag(tag)) continue;
    HandleLine(TrimRight(line));
    if (!status_.ok()) return status_;
  }
  if (reports_.empty()) {
    if (first_unknown_line_ != 0) {
      return text::LineError(kWhat, first_unknown_line_,
                             "no tombstone found; not a '*** *** ***' marker, 'pid: N, tid: N' "
                             "line or '#NN pc' frame",
                             first_unknown_);
    }
    return Status::InvalidArgument(std::string(kWhat) + ": empty input (" +
                                   std::to_string(line_number_) + " blank lines)");
  }
  FinishReport();
  return Status::Ok();
}

}  // namespace

std::string_view StripLogcatPrefix(std::string_view line) {
  std::string_view tag;
  return SplitLogcatPrefix(line, &tag);
}

Result<std::vector<CrashReport>> ParseTombstones(std::string_view text) {
  VIGIL_RETURN_IF_ERROR(text::CheckTextInput(kWhat, text, kMaxTombstoneBytes));
  Parser parser;
  VIGIL_RETURN_IF_ERROR(parser.Run(text));
  return parser.TakeReports();
}

}  // namespace vigil::process
