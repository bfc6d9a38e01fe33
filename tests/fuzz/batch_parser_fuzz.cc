// Fuzz target: BatchParser on arbitrary bytes must return a Status, never crash or hang.
#include <cstdint>
#include <string>

#include "common/batch_record.h"
#include "ingest/batch_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static vigil::ingest::BatchParser parser;
  std::string body(reinterpret_cast<const char*>(data), size);
  body.reserve(size + vigil::ingest::kJsonPadding);
  vigil::ingest::ParsedBatch out;
  vigil::Status st = parser.Parse(body.data(), size, body.capacity(), 1700000000000, &out);
  if (st.ok() && !out.record.empty()) {
    // What the parser produced must decode.
    vigil::BatchRecord rec;
    if (!vigil::DecodeBatchRecord(out.record, &rec).ok()) __builtin_trap();
    if (rec.events.size() != out.accepted) __builtin_trap();
  }
  return 0;
}
