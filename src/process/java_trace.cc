// printStackTrace text <-> JavaStackTrace; the grammar is in java_trace.h.
//
// The parser keeps a stack of the exceptions whose blocks are open, each with the indentation of
// its caption line: a `Caused by:` closes the blocks indented deeper and replaces the exception it
// is the cause of, a `Suppressed:` opens a block inside the nearest exception indented less.
// Frames and `... N more` belong to the exception on top. Depths come from this structure, not
// from the raw indentation, so FormatJavaStackTrace's canonical tabs parse back to the same tree.
#include "process/java_trace.h"

#include <algorithm>

namespace vigil::process {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

size_t Indent(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && IsSpace(line[i])) ++i;
  return i;
}

// Decimal without sign, at most UINT32_MAX.
bool ParseUint32(std::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// Characters that never occur in a Java type name but do in prose and frame lines.
bool IsTypeChar(char c) {
  if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  switch (c) {
    case ' ':
    case '\t':
    case ':':
    case '(':
    case ')':
    case '"':
    case '\'':
    case '<':
    case '>':
    case '[':
    case ']':
    case '{':
    case '}':
    case ';':
    case ',':
    case '=':
    case '/':
    case '\\':
      return false;
    default:
      return true;
  }
}

// `type`, `type:` or `type: message` (Throwable.toString).
bool ParseHeader(std::string_view s, JavaException* ex) {
  size_t end = 0;
  while (end < s.size() && IsTypeChar(s[end])) ++end;
  if (end == 0) return false;
  std::string_view rest = s.substr(end);
  if (end < s.size() && s[end] != ':' && !IsSpace(s[end])) return false;
  ex->type = std::string(s.substr(0, end));
  if (TrimRight(rest).empty()) {
    ex->has_message = false;
    ex->message.clear();
    return true;
  }
  if (rest == ":") {
    ex->has_message = true;
    ex->message.clear();
    return true;
  }
  if (!rest.starts_with(": ")) return false;
  ex->has_message = true;
  ex->message = std::string(rest.substr(2));
  return true;
}

// The text after `at `: `[module/]cls.method[(source)][ suffix]`.
bool ParseFrame(std::string_view s, JavaFrame* f) {
  std::string_view head = s;
  std::string_view source;
  bool has_source = false;
  size_t paren = s.find('(');
  if (paren != std::string_view::npos) {
    size_t close = s.find(')', paren);
    if (close == std::string_view::npos) return false;
    // Logback and others append packaging data: `(Foo.java:12) ~[app.jar:1.0]`.
    if (close + 1 < s.size() && !IsSpace(s[close + 1])) return false;
    head = s.substr(0, paren);
    source = s.substr(paren + 1, close - paren - 1);
    has_source = true;
  }
  // Class and method names hold no spaces, control characters or parentheses.
  if (head.empty() || std::any_of(head.begin(), head.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '(' || c == ')';
      })) {
    return false;
  }
  size_t slash = head.rfind('/');
  std::string_view module;
  if (slash != std::string_view::npos) {
    module = head.substr(0, slash);
    head = head.substr(slash + 1);
  }
  size_t dot = head.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == head.size()) return false;
  f->module = std::string(module);
  f->class_name = std::string(head.substr(0, dot));
  f->method = std::string(head.substr(dot + 1));
  f->file.clear();
  f->line.reset();
  f->native_method = f->unknown_source = false;
  if (!has_source) return true;
  if (source == "Native Method") {
    f->native_method = true;
    return true;
  }
  size_t colon = source.rfind(':');
  uint32_t line = 0;
  if (colon != std::string_view::npos && ParseUint32(source.substr(colon + 1), &line)) {
    f->line = line;
    source = source.substr(0, colon);
  }
  if (source == "Unknown Source") {
    f->unknown_source = true;
  } else {
    f->file = std::string(source);
  }
  return true;
}

// `... 12 more`, or logback's `... 12 common frames omitted`.
bool ParseMore(std::string_view s, uint32_t* n) {
  if (!s.starts_with("... ")) return false;
  s.remove_prefix(4);
  size_t space = s.find(' ');
  if (space == std::string_view::npos) return false;
  std::string_view tail = s.substr(space);
  if (tail != " more" && tail != " common frames omitted") return false;
  return ParseUint32(s.substr(0, space), n);
}

void AppendFrame(const JavaFrame& f, std::string* out) {
  if (!f.module.empty()) out->append(f.module).push_back('/');
  out->append(f.class_name).push_back('.');
  out->append(f.method);
  std::string source;
  if (f.native_method) {
    source = "Native Method";
  } else {
    source = f.unknown_source ? "Unknown Source" : f.file;
    if (f.line.has_value()) source += ":" + std::to_string(*f.line);
  }
  if (!source.empty()) out->append("(").append(source).append(")");
}

}  // namespace

std::vector<uint32_t> JavaStackTrace::CauseChain() const {
  std::vector<uint32_t> chain;
  if (exceptions.empty()) return chain;
  chain.push_back(0);
  // A cause is printed after the exception it belongs to.
  for (uint32_t i = 1; i < exceptions.size(); ++i) {
    const JavaException& e = exceptions[i];
    if (e.role == JavaExceptionRole::kCause && e.parent == static_cast<int32_t>(chain.back())) {
      chain.push_back(i);
    }
  }
  return chain;
}

Result<JavaStackTrace> ParseJavaStackTrace(std::string_view text) {
  if (text.size() > kMaxJavaTraceBytes) {
    return Status::TooLarge("stack trace is " + std::to_string(text.size()) + " bytes, over the " +
                            std::to_string(kMaxJavaTraceBytes) + " byte limit");
  }
  JavaStackTrace trace;
  struct Open {
    uint32_t index;
    size_t indent;
  };
  std::vector<Open> open;
  bool in_message = false;  // continuation lines extend the top exception's message
  std::vector<std::string_view> pending_blank;  // kept only if more message follows
  size_t frame_count = 0;
  uint64_t line_no = 0;

  std::string_view rest = text;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++line_no;
    size_t indent = Indent(line);
    std::string_view body = line.substr(indent);
    bool blank = TrimRight(body).empty();

    if (open.empty()) {
      // The first exception line.
      if (blank) continue;
      JavaException root;
      std::string_view header = body;
      // A trace copied from its first cause on still starts a trace.
      if (header.starts_with("Caused by: ")) header.remove_prefix(11);
      if (header.starts_with("Exception in thread \"")) {
        size_t close = header.find("\" ", 21);
        if (close != std::string_view::npos) {
          trace.thread = std::string(header.substr(21, close - 21));
          header.remove_prefix(close + 2);
        }
      }
      if (!ParseHeader(header, &root)) {
        return Status::InvalidArgument(
            "line " + std::to_string(line_no) +
            ": not a Java stack trace: expected an exception line such as "
            "'java.lang.IllegalStateException: message'");
      }
      trace.exceptions.push_back(std::move(root));
      open.push_back({0, indent});
      in_message = true;
      continue;
    }

    JavaException* top = &trace.exceptions[open.back().index];
    if (body.starts_with("at ")) {
      JavaFrame frame;
      std::string_view s = TrimRight(body.substr(3));
      while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
      if (ParseFrame(s, &frame)) {
        if (++frame_count > kMaxJavaTraceFrames) {
          return Status::TooLarge("stack trace has more than " +
                                  std::to_string(kMaxJavaTraceFrames) + " frames");
        }
        top->frames.push_back(std::move(frame));
        in_message = false;
        pending_blank.clear();
        continue;
      }
    }
    uint32_t more = 0;
    if (ParseMore(TrimRight(body), &more)) {
      top->frames_in_common = more;
      in_message = false;
      pending_blank.clear();
      continue;
    }

    bool cause = body.starts_with("Caused by: ");
    bool suppressed = body.starts_with("Suppressed: ");
    if (cause || suppressed) {
      JavaException ex;
      std::string_view header = body.substr(cause ? 11 : 12);
      constexpr std::string_view kCircular = "[CIRCULAR REFERENCE: ";
      std::string_view trimmed = TrimRight(header);
      if (trimmed.starts_with(kCircular) && trimmed.ends_with("]")) {
        ex.circular = true;
        header = trimmed.substr(kCircular.size(), trimmed.size() - kCircular.size() - 1);
      }
      if (ParseHeader(header, &ex)) {
        if (trace.exceptions.size() >= kMaxJavaTraceExceptions) {
          return Status::TooLarge("stack trace has more than " +
                                  std::to_string(kMaxJavaTraceExceptions) + " exceptions");
        }
        // Close the blocks this caption is not inside of.
        while (open.size() > 1 &&
               (cause ? open.back().indent > indent : open.back().indent >= indent)) {
          open.pop_back();
        }
        const JavaException& parent = trace.exceptions[open.back().index];
        ex.role = cause ? JavaExceptionRole::kCause : JavaExceptionRole::kSuppressed;
        ex.parent = static_cast<int32_t>(open.back().index);
        ex.depth = parent.depth + (cause ? 0 : 1);
        // A cause takes its exception's place (nothing more attaches to that one); a suppressed
        // exception opens a block. So the vector stays in printStackTrace order.
        Open entry{static_cast<uint32_t>(trace.exceptions.size()), indent};
        if (cause) {
          open.back() = entry;
        } else {
          open.push_back(entry);
        }
        trace.exceptions.push_back(std::move(ex));
        in_message = true;
        pending_blank.clear();
        continue;
      }
    }

    if (in_message && top->has_message && !top->circular) {
      if (blank) {
        pending_blank.push_back(line);
        continue;
      }
      for (std::string_view b : pending_blank) top->message.append("\n").append(b);
      pending_blank.clear();
      top->message.append("\n").append(line);
      continue;
    }
    if (!blank) ++trace.skipped_lines;
  }
  if (trace.exceptions.empty()) {
    return Status::InvalidArgument("not a Java stack trace: no exception line");
  }
  return trace;
}

std::string FormatJavaStackTrace(const JavaStackTrace& trace) {
  std::string out;
  for (const JavaException& e : trace.exceptions) {
    std::string prefix(e.depth, '\t');
    out.append(prefix);
    switch (e.role) {
      case JavaExceptionRole::kRoot:
        if (!trace.thread.empty()) out.append("Exception in thread \"" + trace.thread + "\" ");
        break;
      case JavaExceptionRole::kCause:
        out.append("Caused by: ");
        break;
      case JavaExceptionRole::kSuppressed:
        out.append("Suppressed: ");
        break;
    }
    if (e.circular) out.append("[CIRCULAR REFERENCE: ");
    out.append(e.type);
    if (e.has_message) out.append(": ").append(e.message);
    if (e.circular) out.append("]");
    out.push_back('\n');
    for (const JavaFrame& f : e.frames) {
      out.append(prefix).append("\tat ");
      AppendFrame(f, &out);
      out.push_back('\n');
    }
    if (e.frames_in_common > 0) {
      out.append(prefix).append("\t... ").append(std::to_string(e.frames_in_common));
      out.append(" more\n");
    }
  }
  return out;
}

}  // namespace vigil::process
