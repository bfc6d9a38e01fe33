// Retrace: obfuscated Java/Kotlin frames back to original ones, using a ProguardMapping.
//
// Three levels, each built on the one below:
//   RetraceFrame      one frame, no context: class, method and optional line -> original frames,
//                     innermost first (an inline chain), with alternatives when ambiguous.
//   StackRetracer     a frame sequence with its exception lines, adding what needs context: R8
//                     outline frames are dropped and their line is mapped to the caller through
//                     the caller's outlineCallsite positions; rewriteFrame rules apply to the first
//                     frame after an exception line. The processing stage drives this from a parsed
//                     trace (process/java_trace.h).
//   RetraceStackTrace printStackTrace text in, retraced text out.
//
// The matching rules are those of getsentry/rust-proguard (`remap_stacktrace`), which ports R8's
// retrace test suite; tests/fixtures/proguard holds their vectors. In short, for line L > 0 every
// member line whose obfuscated range holds L is emitted in file order (an inline chain is a run of
// lines sharing a range), and lines without a range are only used when the method has no ranged
// lines at all; without a line, range-less and `0:0` lines are preferred; when nothing matches the
// class alone is deobfuscated. An original range given without an obfuscated one
// (`void m():10:12 -> a`) yields one alternative per original line. File names come from the
// class's sourceFile metadata, else are synthesized from the class name (`a.b.Foo$Bar` ->
// `Foo.java`, `FooKt` -> `Foo.kt`, extension taken from a reference file when known).
//
// Thread-safety: functions are pure; a StackRetracer is one trace's state, for one thread. The
// mapping must outlive every retracer and every result that points into it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "symbols/proguard_mapping.h"

namespace vigil::symbols {

// Largest stack-trace text RetraceStackTrace accepts (TooLarge above).
inline constexpr size_t kMaxRetraceInputBytes = size_t{16} << 20;

struct RetracedFrame {
  // Views into the mapping, except for FrameMatch::kClassOnly whose `method` is the caller's
  // obfuscated method argument.
  std::string_view class_name;
  std::string_view method;
  std::string file;              // sourceFile metadata, or synthesized from the class name
  std::optional<uint32_t> line;  // nullopt when the mapping gives none: printed "(File.java)"
  // Frames with equal `alternative` form one inline chain (innermost first); distinct values are
  // alternatives for an ambiguous frame (R8 prints them with <OR>). Starts at 0.
  uint32_t alternative = 0;
  bool synthesized = false;  // compiler-made method or class (lambdas, bridges)
};

enum class FrameMatch : uint8_t {
  kUnknownClass,  // the class is not in the mapping: keep the frame as it is (no frames)
  kClassOnly,     // class known, method or line not: one frame, class deobfuscated, method kept
  kMethod,        // member lines matched: `frames` holds the result
  kOutline,       // StackRetracer only: an R8 outline frame; drop it (its line feeds the caller)
  kRemoved,       // StackRetracer only: a rewriteFrame rule removed every frame; drop it
};

struct FrameRetrace {
  FrameMatch match = FrameMatch::kUnknownClass;
  std::vector<RetracedFrame> frames;  // innermost first

  // More than one alternative chain.
  bool ambiguous() const { return !frames.empty() && frames.back().alternative > 0; }
};

// Retraces one frame without stack context (no outline or rewriteFrame handling). `file` is the
// frame's file as printed, used only for the extension of a synthesized name when just the class
// is known. A line of 0 means "no line", as in `(Unknown Source:0)`.
FrameRetrace RetraceFrame(const ProguardMapping& mapping, std::string_view obfuscated_class,
                          std::string_view obfuscated_method, std::optional<uint32_t> line,
                          std::string_view file = {});

// Retraces the frames of a trace in order, keeping the context R8 needs. Call OnException for
// each exception line (top level, `Caused by:`, `Suppressed:`), OnFrame for each frame line and
// OnOtherLine for anything else (which ends "first frame after the exception" for rewriteFrame).
class StackRetracer {
 public:
  explicit StackRetracer(const ProguardMapping* mapping) : mapping_(mapping) {}

  // Deobfuscates an exception class (nullopt if unknown) and arms rewriteFrame rules for the
  // next frame, against the deobfuscated name.
  std::optional<std::string_view> OnException(std::string_view obfuscated_class);
  FrameRetrace OnFrame(std::string_view obfuscated_class, std::string_view obfuscated_method,
                       std::optional<uint32_t> line, std::string_view file = {});
  void OnOtherLine() { thrown_.reset(); }

 private:
  const ProguardMapping* mapping_;
  std::optional<std::string> thrown_;     // descriptor of the exception the next frame belongs to
  std::optional<uint32_t> outline_line_;  // line of the last outline frame, for its caller
};

// Retraces a Java stack trace as printed by printStackTrace (or logcat). Lines are split on '\n'
// (a trailing '\r' is dropped) and every output line ends in '\n'. Frames (`at cls.m(File:12)`,
// any indentation) that the mapping knows become one `    at ...` line per retraced frame;
// exception lines (`a.b.C: msg`, `Caused by: ...`, `Suppressed: ...`, `Exception in thread "t"
// ...`) get their class name replaced in place; every other line, and every frame or exception
// the mapping does not know, is copied verbatim. This matches rust-proguard's remap_stacktrace on
// all its test vectors. Where it differs on other input, deliberately: indented `Caused by:` and
// `Suppressed:` lines and `Exception in thread` lines are recognised too, and message
// continuation lines between an exception line and its first frame do not disarm rewriteFrame.
// TooLarge over kMaxRetraceInputBytes.
[[nodiscard]] Result<std::string> RetraceStackTrace(const ProguardMapping& mapping,
                                                    std::string_view text);

}  // namespace vigil::symbols
