// JavaStackTrace: a Java/Kotlin stack trace as Throwable.printStackTrace prints it, parsed into
// the structure grouping works on (exception types and their top frames).
//
// printStackTrace writes an exception as `type[: message]` (the message may run over several
// lines), its frames as `\tat cls.method(File.java:12)`, frames shared with the enclosing trace as
// `\t... N more`, then its suppressed exceptions one tab deeper (`\tSuppressed: ...`), then its
// cause at the same depth (`Caused by: ...`). Depth is read from the indentation of the caption
// lines, so traces re-indented with spaces (logcat, log files) parse the same, and a `Caused by:`
// inside a suppressed block attaches to the suppressed exception.
//
// Exceptions are kept in one flat vector in print order with parent indices, not as a tree, so
// hostile nesting cannot exhaust the stack when walking or destroying it.
//
// What is accepted: leading blank lines, then the first exception line, optionally prefixed with
// `Exception in thread "name" ` (or `Caused by: `, for a trace copied from a cause on). Anything
// else before it is an InvalidArgument: the input is not a stack trace. Lines after an exception's
// frames that are neither frames, captions nor
// `... N more` are skipped and counted in `skipped_lines`. Frame lines may be Java 9+ style with a
// class loader / module prefix (`java.base@17/java.lang.Thread.run(...)`) and may lack the
// parenthesised source (`at a.b.c`).
//
// Thread-safety: plain data and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vigil::process {

inline constexpr size_t kMaxJavaTraceBytes = size_t{4} << 20;  // TooLarge above
inline constexpr size_t kMaxJavaTraceExceptions = 1024;        // TooLarge above
inline constexpr size_t kMaxJavaTraceFrames = 100000;          // TooLarge above, all exceptions

struct JavaFrame {
  std::string class_name;  // "com.example.Foo$Bar"
  std::string method;      // "run", "<init>", "lambda$main$0"
  std::string file;        // "Foo.java"; empty for `(Unknown Source)`, `(Native Method)` or none
  std::optional<uint32_t> line;
  std::string module;  // text before the last '/', e.g. "java.base@17.0.2" or "app/"; usually empty
  bool native_method = false;   // `(Native Method)`
  bool unknown_source = false;  // `(Unknown Source)`, also `(Unknown Source:12)`

  bool operator==(const JavaFrame&) const = default;
};

enum class JavaExceptionRole : uint8_t { kRoot, kCause, kSuppressed };

struct JavaException {
  std::string type;          // "java.lang.IllegalStateException"
  std::string message;       // lines joined with '\n'; empty when there is none
  bool has_message = false;  // `type: ...` (possibly empty) rather than bare `type`
  bool circular = false;     // printed as `[CIRCULAR REFERENCE: ...]`: no frames follow
  JavaExceptionRole role = JavaExceptionRole::kRoot;
  int32_t parent = -1;  // the exception this one is the cause of or is suppressed by; -1 for root
  uint32_t depth = 0;   // nesting of Suppressed blocks: root and its causes 0, their suppressed 1
  std::vector<JavaFrame> frames;  // innermost first, as printed
  uint32_t frames_in_common = 0;  // `... N more`: trailing frames shared with the parent's trace

  bool operator==(const JavaException&) const = default;
};

struct JavaStackTrace {
  std::string thread;  // from `Exception in thread "main" ...`; empty when absent
  std::vector<JavaException> exceptions;  // print order; [0] is the root
  uint32_t skipped_lines = 0;

  // The root and its causes, outermost first: indices into `exceptions`. Grouping usually keys on
  // the last (the root cause) or the first.
  std::vector<uint32_t> CauseChain() const;

  bool operator==(const JavaStackTrace&) const = default;
};

// Parses printStackTrace text (LF or CRLF). InvalidArgument if it does not start with an
// exception line; TooLarge over the caps above.
[[nodiscard]] Result<JavaStackTrace> ParseJavaStackTrace(std::string_view text);

// Renders `trace` the way printStackTrace would (tabs, `Caused by: `, `Suppressed: `). Parsing
// the result gives `trace` back, except skipped_lines.
std::string FormatJavaStackTrace(const JavaStackTrace& trace);

}  // namespace vigil::process
