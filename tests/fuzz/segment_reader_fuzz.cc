// Fuzz target: a segment file of arbitrary bytes is read without crashing, and every record it
// yields passed its CRC; batch-record decoding of each payload is safe too.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "common/batch_record.h"
#include "common/file_util.h"
#include "log/segment_reader.h"

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
    }
  }
  vigil::BatchRecord batch;
  (void)vigil::DecodeBatchRecord(std::string_view(reinterpret_cast<const char*>(data), size),
                                 &batch);
  return 0;
}
