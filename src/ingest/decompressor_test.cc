// Decompressor: gzip and zstd round trips, truncation, corruption and the bomb cap.
#include "ingest/decompressor.h"

#include <gtest/gtest.h>
#include <libdeflate.h>
#include <zstd.h>

namespace vigil::ingest {
namespace {

std::string Gzip(const std::string& in) {
  libdeflate_compressor* c = libdeflate_alloc_compressor(9);
  std::string out(libdeflate_gzip_compress_bound(c, in.size()), '\0');
  out.resize(libdeflate_gzip_compress(c, in.data(), in.size(), out.data(), out.size()));
  libdeflate_free_compressor(c);
  return out;
}

std::string Zstd(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  return out;
}

TEST(DecompressorTest, RoundTripsBothEncodings) {
  Decompressor d;
  std::string text = "{\"batch_id\":\"x\"}" + std::string(5000, ' ');
  std::string out;
  ASSERT_TRUE(d.Decompress(ContentEncoding::kGzip, Gzip(text), 1 << 20, &out).ok());
  EXPECT_EQ(out, text);
  ASSERT_TRUE(d.Decompress(ContentEncoding::kZstd, Zstd(text), 1 << 20, &out).ok());
  EXPECT_EQ(out, text);
}

TEST(DecompressorTest, TruncatedStreamsAreInvalid) {
  Decompressor d;
  std::string text(10000, 'a');
  std::string out;
  std::string gz = Gzip(text);
  EXPECT_EQ(d.Decompress(ContentEncoding::kGzip, gz.substr(0, gz.size() - 5), 1 << 20, &out).code(),
            StatusCode::kInvalidArgument);
  std::string zs = Zstd(text);
  EXPECT_EQ(d.Decompress(ContentEncoding::kZstd, zs.substr(0, zs.size() - 3), 1 << 20, &out).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(d.Decompress(ContentEncoding::kGzip, "not gzip at all, no", 1 << 20, &out).code(),
            StatusCode::kInvalidArgument);
}

TEST(DecompressorTest, BombsStopAtTheCap) {
  Decompressor d;
  std::string zeros(64 << 20, '\0');  // 64 MiB compresses to a few KiB
  std::string out;
  EXPECT_EQ(d.Decompress(ContentEncoding::kGzip, Gzip(zeros), 16 << 20, &out).code(),
            StatusCode::kTooLarge);
  EXPECT_EQ(d.Decompress(ContentEncoding::kZstd, Zstd(zeros), 16 << 20, &out).code(),
            StatusCode::kTooLarge);
  EXPECT_LE(out.capacity(), size_t{17} << 20);
}

TEST(DecompressorTest, LyingGzipSizeTrailerIsHandled) {
  Decompressor d;
  std::string text(100000, 'b');
  std::string gz = Gzip(text);
  gz[gz.size() - 4] = 1;  // ISIZE claims a tiny output
  gz[gz.size() - 3] = 0;
  gz[gz.size() - 2] = 0;
  gz[gz.size() - 1] = 0;
  std::string out;
  // libdeflate checks ISIZE against the real output: a lying trailer is a corrupt stream.
  Status st = d.Decompress(ContentEncoding::kGzip, gz, 1 << 20, &out);
  EXPECT_FALSE(st.ok());
}

TEST(DecompressorTest, ContentEncodingNames) {
  EXPECT_EQ(*ParseContentEncoding(""), ContentEncoding::kIdentity);
  EXPECT_EQ(*ParseContentEncoding("GZIP"), ContentEncoding::kGzip);
  EXPECT_EQ(*ParseContentEncoding("zstd"), ContentEncoding::kZstd);
  EXPECT_EQ(ParseContentEncoding("br").status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace vigil::ingest
