// Fuzz target: ParseAppleIpsReport on arbitrary bytes must return a Status, never crash or hang,
// and what it returns must be internally consistent.
#include <cstdint>
#include <string_view>

#include "process/apple_ips_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = vigil::process::ParseAppleIpsReport(text);
  if (!result.ok()) {
    if (result.status().message().empty()) __builtin_trap();
    return 0;
  }
  const auto& r = *result;
  if (r.crashed_thread && *r.crashed_thread >= r.threads.size()) __builtin_trap();
  auto check = [&](const std::vector<vigil::process::CrashFrame>& frames) {
    for (const auto& f : frames) {
      if (f.image_index &&
          (*f.image_index < 0 || static_cast<size_t>(*f.image_index) >= r.images.size())) {
        __builtin_trap();
      }
    }
  };
  for (const auto& t : r.threads) check(t.frames);
  for (const auto& s : r.extra_stacks) check(s.frames);
  return 0;
}
