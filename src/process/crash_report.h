// CrashReport: the one shape every crash parser produces (Apple .crash and .ips, Android
// tombstones, the wire's "native" form), so symbolication and grouping never care where a crash
// came from. Plain data: no invariants beyond those stated per field.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vigil::process {

// A loaded module (executable, shared library, dylib) at the time of the crash.
struct CrashImage {
  uint64_t addr = 0;    // load address (absolute)
  uint64_t size = 0;    // bytes mapped; 0 when unknown
  std::string name;     // file name ("MyApp", "libc.so")
  std::string path;     // full path when known
  std::string arch;     // "arm64", "x86_64", ... when known
  std::string version;  // Apple "(1.2.3)" version when given
  std::string uuid;     // debug id as reported: Mach-O UUID (dashed, lower-case) or empty
  std::string code_id;  // ELF build-id hex (tombstones) or empty
  bool in_app = false;  // Apple "+" marker / app-owned path; a hint only
};

// One stack frame as the report shows it, before symbolication.
struct CrashFrame {
  uint64_t instruction_addr = 0;   // absolute address; for tombstones the relative pc
  bool addr_is_relative = false;   // true for tombstones: already module-relative, pc adjusted
  std::string module;              // image name / path as printed
  std::optional<int> image_index;  // index into CrashReport::images when resolved
  std::string symbol;              // symbol name when the report carries one
  std::optional<uint64_t> symbol_offset;  // "symbol + N"
  std::string filename;                   // "(file:line)" when present
  std::optional<uint32_t> lineno;
  bool inlined = false;                   // .ips "inline": true
  std::string build_id;                   // tombstone (BuildId: ...) for this frame
  std::optional<uint64_t> module_offset;  // tombstone "(offset 0x...)": lib start in the APK
};

struct CrashThread {
  std::optional<uint64_t> id;
  std::string name;  // thread name or dispatch queue
  bool crashed = false;
  std::vector<CrashFrame> frames;                           // innermost (frame 0) first
  std::vector<std::pair<std::string, uint64_t>> registers;  // in report order
};

// A stack that is not a thread's current stack: the Apple "Last Exception Backtrace" (where an
// uncaught exception was thrown) or a sanitizer stack quoted in an Android abort message (the bad
// access, "allocated here:", "freed by thread T1 here:").
struct CrashStack {
  std::string title;               // what the report calls it, e.g. "Last Exception Backtrace"
  std::vector<CrashFrame> frames;  // innermost (frame 0) first
};

struct CrashReport {
  std::string incident_identifier;
  std::string timestamp;  // as printed; normalized by the parser that documents how
  std::string code_type;  // "ARM-64", "X86-64", "arm64" (tombstone ABI)
  std::string os_version;
  std::string app_version;
  std::string exception_type;    // "EXC_BAD_ACCESS", "SIGSEGV", "NSRangeException"
  std::string exception_reason;  // codes / subtype / abort message / fault address, as available
  std::string application_specific_information;
  std::map<std::string, std::string> metadata;  // header keys the parser keeps verbatim
  std::vector<CrashThread> threads;
  std::optional<size_t> crashed_thread;  // index into threads
  std::vector<CrashImage> images;
  std::vector<CrashStack> extra_stacks;  // in report order; frames may use image_index too
};

}  // namespace vigil::process
