// Fuzz target: ParseTombstones on arbitrary bytes must return a Status, never crash or hang, and
// every tombstone it returns has its crashing thread first.
#include <cstdint>
#include <string_view>

#include "process/tombstone_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = vigil::process::ParseTombstones(text);
  if (!result.ok()) {
    if (result.status().message().empty()) __builtin_trap();
    return 0;
  }
  if (result->empty()) __builtin_trap();
  for (const auto& r : *result) {
    if (r.threads.empty() || r.crashed_thread != 0u || !r.threads[0].crashed) __builtin_trap();
    for (const auto& t : r.threads) {
      for (const auto& f : t.frames) {
        if (!f.addr_is_relative || f.image_index) __builtin_trap();
      }
    }
  }
  // Stripping a logcat prefix only ever shortens a line.
  if (vigil::process::StripLogcatPrefix(text).size() > text.size()) __builtin_trap();
  return 0;
}
