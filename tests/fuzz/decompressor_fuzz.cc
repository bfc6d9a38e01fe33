// Fuzz target: gzip and zstd decoding of arbitrary bytes stays within the output cap.
#include <cstdint>
#include <string>

#include "ingest/decompressor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static vigil::ingest::Decompressor d;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string out;
  constexpr size_t kCap = 1 << 20;
  for (auto enc : {vigil::ingest::ContentEncoding::kGzip, vigil::ingest::ContentEncoding::kZstd}) {
    vigil::Status st = d.Decompress(enc, in, kCap, &out);
    if (st.ok() && out.size() > kCap) __builtin_trap();
  }
  return 0;
}
