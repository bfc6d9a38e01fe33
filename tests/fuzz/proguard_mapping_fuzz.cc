// Fuzz target: ProguardMapping::Parse on arbitrary bytes must return a Status, never crash or hang;
// what it parses must answer lookups and retrace frames and stack traces built from its own names.
#include <cstdint>
#include <string>
#include <string_view>

#include "symbols/proguard_mapping.h"
#include "symbols/retrace.h"

using vigil::symbols::FrameMatch;
using vigil::symbols::FrameRetrace;
using vigil::symbols::ProguardMapping;

namespace {

void CheckFrames(const FrameRetrace& r) {
  if (r.match == FrameMatch::kMethod && r.frames.empty()) __builtin_trap();
  for (size_t i = 1; i < r.frames.size(); ++i) {
    if (r.frames[i].alternative < r.frames[i - 1].alternative) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  vigil::Result<ProguardMapping> parsed = ProguardMapping::Parse(text);
  if (!parsed.ok()) return 0;
  const ProguardMapping& m = parsed.value();
  if (m.mapping_id().empty()) __builtin_trap();

  // Retrace a few frames of the first classes, and a trace made of them.
  std::string trace = "java.lang.NullPointerException: fuzz\n";
  size_t budget = 16;
  for (const auto& cls : m.classes()) {
    std::string_view obf_class = m.str(cls.obfuscated);
    if (m.FindClass(obf_class) != &cls) __builtin_trap();
    if (m.RemapClass(obf_class) != m.str(cls.original)) __builtin_trap();
    for (const auto& group : m.groups(cls)) {
      std::string_view method = m.str(group.obfuscated);
      auto members = m.members(group);
      if (members.empty() || m.FindMembers(cls, method).data() != members.data()) {
        __builtin_trap();
      }
      for (uint32_t line : {0u, members[0].obf_start, members[0].obf_end, 1u, 65535u}) {
        if (line == vigil::symbols::kNoLine) continue;
        CheckFrames(vigil::symbols::RetraceFrame(m, obf_class, method, line, "SourceFile"));
        trace += "\tat " + std::string(obf_class) + "." + std::string(method) +
                 "(SourceFile:" + std::to_string(line) + ")\n";
      }
      trace += "Caused by: " + std::string(obf_class) + ": x\n";
      if (--budget == 0) break;
    }
    if (budget == 0) break;
  }
  vigil::Result<std::string> out = vigil::symbols::RetraceStackTrace(m, trace);
  if (!out.ok()) __builtin_trap();
  // The input itself as a stack trace, too.
  (void)vigil::symbols::RetraceStackTrace(m, text);
  return 0;
}
