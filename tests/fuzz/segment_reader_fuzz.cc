// Fuzz target: a segment file of arbitrary bytes is read without crashing, and every record it
// yields passed its CRC; batch-record decoding of each payload is safe too, and so is reading it
// as a processed log's reference to a raw record (log/resolving_log.h), which must round-trip.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/batch_record.h"
#include "common/file_util.h"
#include "log/resolving_log.h"
#include "log/segment_reader.h"

namespace {
void CheckReference(std::string_view payload) {
  uint64_t base = 0;
  if (vigil::log::DecodeReference(payload, &base) && vigil::log::EncodeReference(base) != payload) {
    std::abort();  // a reference that does not encode back to itself
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::string path = "/tmp/vigil-fuzz-segment-" + std::to_string(getpid()) + ".seg";
  if (!vigil::WriteFileAtomically(path, std::string_view(reinterpret_cast<const char*>(data), size))
           .ok()) {
    return 0;
  }
  auto reader = vigil::log::SegmentReader::Open(path);
  if (reader.ok()) {
    vigil::log::LogRecord rec;
    int n = 0;
    while ((*reader)->Next(&rec) == vigil::log::SegmentReader::Outcome::kRecord && n++ < 10000) {
      vigil::BatchRecord batch;
      (void)vigil::DecodeBatchRecord(rec.payload, &batch);
      CheckReference(rec.payload);
    }
  }
  vigil::BatchRecord batch;
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  (void)vigil::DecodeBatchRecord(whole, &batch);
  CheckReference(whole);
  return 0;
}
