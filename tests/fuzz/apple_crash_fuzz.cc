// Fuzz target: ParseAppleCrashReport on arbitrary bytes must return a Status, never crash or
// hang, and what it returns must be internally consistent.
#include <cstdint>
#include <string_view>

#include "process/apple_crash_parser.h"

namespace {

void CheckFrames(const vigil::process::CrashReport& r,
                 const std::vector<vigil::process::CrashFrame>& frames) {
  for (const auto& f : frames) {
    if (f.image_index &&
        (*f.image_index < 0 || static_cast<size_t>(*f.image_index) >= r.images.size())) {
      __builtin_trap();
    }
    if (f.image_index) {
      const auto& img = r.images[*f.image_index];
      if (f.instruction_addr < img.addr || f.instruction_addr - img.addr >= img.size) {
        __builtin_trap();
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = vigil::process::ParseAppleCrashReport(text);
  if (!result.ok()) {
    if (result.status().message().empty()) __builtin_trap();
    return 0;
  }
  const auto& r = *result;
  if (r.threads.empty() && r.images.empty() && r.extra_stacks.empty()) __builtin_trap();
  if (r.crashed_thread && *r.crashed_thread >= r.threads.size()) __builtin_trap();
  for (const auto& t : r.threads) CheckFrames(r, t.frames);
  for (const auto& s : r.extra_stacks) CheckFrames(r, s.frames);
  return 0;
}
