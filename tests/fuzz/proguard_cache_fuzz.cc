// Fuzz target: ProguardMapping::CacheFromBytes on arbitrary bytes must return a Status, never
// crash; a cache it accepts must answer every lookup and retrace without reading out of bounds
// (ASan checks), however its tables were bent.
#include <cstdint>
#include <string>
#include <string_view>

#include "symbols/proguard_mapping.h"
#include "symbols/retrace.h"

using vigil::symbols::ProguardMapping;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vigil::Result<ProguardMapping> opened =
      ProguardMapping::CacheFromBytes(std::string(reinterpret_cast<const char*>(data), size));
  if (!opened.ok()) return 0;
  const ProguardMapping& m = opened.value();
  std::string trace = "java.lang.NullPointerException: fuzz\n";
  size_t budget = 64;
  for (const auto& cls : m.classes()) {
    std::string_view obf_class = m.str(cls.obfuscated);
    if (m.FindClass(obf_class) == nullptr) __builtin_trap();  // classes are checked sorted
    (void)m.str(cls.original);
    (void)m.str(cls.source_file);
    for (const auto& group : m.groups(cls)) {
      std::string_view method = m.str(group.obfuscated);
      for (const auto& member : m.members(group)) {
        const auto& target = m.method(member);
        (void)m.str(target.name);
        (void)m.str(target.class_name);
        for (const auto& rule : m.rewrite_rules(member)) {
          for (auto c : m.conditions(rule)) (void)m.str(c);
        }
        (void)m.outline_positions(member);
        for (uint32_t line : {0u, member.obf_start, member.obf_end, 1u}) {
          if (line == vigil::symbols::kNoLine) continue;
          (void)vigil::symbols::RetraceFrame(m, obf_class, method, line, "SourceFile");
          trace += "\tat " + std::string(obf_class) + "." + std::string(method) +
                   "(SourceFile:" + std::to_string(line) + ")\n";
        }
      }
      if (--budget == 0) break;
    }
    if (budget == 0) break;
  }
  (void)vigil::symbols::RetraceStackTrace(m, trace);
  return 0;
}
