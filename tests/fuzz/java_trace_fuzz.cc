// Fuzz target: ParseJavaStackTrace on arbitrary bytes must return a Status, never crash or hang,
// and what it accepts must format to text that parses back to the same trace.
#include <cstdint>
#include <string>
#include <string_view>

#include "process/java_trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  vigil::Result<vigil::process::JavaStackTrace> parsed = vigil::process::ParseJavaStackTrace(text);
  if (!parsed.ok()) return 0;
  const vigil::process::JavaStackTrace& trace = parsed.value();
  if (trace.exceptions.empty()) __builtin_trap();
  (void)trace.CauseChain();
  std::string formatted = vigil::process::FormatJavaStackTrace(trace);
  if (formatted.size() > vigil::process::kMaxJavaTraceBytes) return 0;
  vigil::Result<vigil::process::JavaStackTrace> again =
      vigil::process::ParseJavaStackTrace(formatted);
  if (!again.ok()) __builtin_trap();
  again.value().skipped_lines = trace.skipped_lines;
  if (!(again.value() == trace)) __builtin_trap();
  return 0;
}
