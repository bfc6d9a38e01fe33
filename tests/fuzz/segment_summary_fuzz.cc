// Fuzz target: a segment summary of arbitrary bytes is decoded (with and without its keys) and
// read from a file without crashing or allocating beyond its size; one that decodes encodes
// back to a summary that decodes to the same thing.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/file_util.h"
#include "log/segment_summary.h"

namespace {
bool Same(const vigil::log::SegmentSummary& a, const vigil::log::SegmentSummary& b) {
  if (a.base_offset != b.base_offset || a.created_ms != b.created_ms ||
      a.file_size != b.file_size || a.bytes != b.bytes || a.end_offset != b.end_offset ||
      a.items != b.items || a.last_append_ms != b.last_append_ms || a.index != b.index ||
      a.keys.size() != b.keys.size()) {
    return false;
  }
  for (size_t i = 0; i < a.keys.size(); ++i) {
    if (a.keys[i].key != b.keys[i].key || a.keys[i].offset != b.keys[i].offset ||
        a.keys[i].time_ms != b.keys[i].time_ms) {
      return false;
    }
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  vigil::log::SegmentSummary head, whole;
  const bool head_ok = vigil::log::DecodeSegmentSummary(bytes, false, &head).ok();
  if (vigil::log::DecodeSegmentSummary(bytes, true, &whole).ok()) {
    if (!head_ok) std::abort();  // a whole summary has a valid head
    vigil::log::SegmentSummary again;
    if (!vigil::log::DecodeSegmentSummary(vigil::log::EncodeSegmentSummary(whole), true, &again)
             .ok() ||
        !Same(whole, again)) {
      std::abort();
    }
  }
  static std::string path = "/tmp/vigil-fuzz-summary-" + std::to_string(getpid()) + ".summary";
  if (vigil::WriteFile(path, bytes).ok()) {
    vigil::log::SegmentSummary read;
    const uint64_t base = head_ok ? head.base_offset : 0;
    const uint64_t file_size = head_ok ? head.file_size : 1 << 20;
    (void)vigil::log::ReadSegmentSummary(path, base, file_size, 0, &read);
    (void)vigil::log::ReadSegmentSummary(path, base, std::nullopt, 0, &read);  // segment gone
  }
  return 0;
}
