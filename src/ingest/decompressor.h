// Decompressor: request bodies in gzip, zstd or identity encoding, with a hard output cap.
//
// The cap is enforced while decompressing, so a decompression bomb costs at most `max_output`
// bytes of memory and the time to produce them (a zstd frame stating a size over the cap costs
// nothing: it is refused from its header). One Decompressor per thread (it keeps a
// libdeflate and a zstd context); not thread-safe.
#pragma once

#include <libdeflate.h>
#include <zstd.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace vigil::ingest {

enum class ContentEncoding { kIdentity, kGzip, kZstd };

// From a Content-Encoding header value (case-insensitive; empty means identity).
// Unsupported for anything else.
Result<ContentEncoding> ParseContentEncoding(std::string_view header);

class Decompressor {
 public:
  Decompressor();
  ~Decompressor();
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  // Decodes `in` into `*out` (replacing its contents; capacity is reused across calls).
  // InvalidArgument: corrupt or truncated stream. TooLarge: the output would exceed `max_output`.
  Status Decompress(ContentEncoding encoding, std::string_view in, size_t max_output,
                    std::string* out);

 private:
  Status Gunzip(std::string_view in, size_t max_output, std::string* out);
  Status Unzstd(std::string_view in, size_t max_output, std::string* out);

  libdeflate_decompressor* deflate_;
  ZSTD_DCtx* zstd_;
};

}  // namespace vigil::ingest
