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

TEST(DecompressorTest, ZstdFramesWithAndWithoutAStatedSize) {
  Decompressor d;
  std::string out;
  const std::string a = "{\"batch_id\":\"a\"}" + std::string(3000, ' ');
  const std::string b = std::string(2000, 'b');
  // Streamed without a pledged size: the frame does not state it (the streaming path).
  ZSTD_CCtx* c = ZSTD_createCCtx();
  std::string streamed(ZSTD_compressBound(a.size()), '\0');
  ZSTD_outBuffer o{streamed.data(), streamed.size(), 0};
  ZSTD_inBuffer i{a.data(), a.size(), 0};
  // Fed first, ended after (one call with ZSTD_e_end would learn the size and state it).
  ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(c, &o, &i, ZSTD_e_continue)));
  ZSTD_inBuffer none{nullptr, 0, 0};
  ASSERT_EQ(ZSTD_compressStream2(c, &o, &none, ZSTD_e_end), 0u);
  ZSTD_freeCCtx(c);
  streamed.resize(o.pos);
  ASSERT_EQ(ZSTD_getFrameContentSize(streamed.data(), streamed.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  ASSERT_TRUE(d.Decompress(ContentEncoding::kZstd, streamed, 1 << 20, &out).ok());
  EXPECT_EQ(out, a);
  // Two frames, each stating its size: both, one after the other.
  ASSERT_TRUE(d.Decompress(ContentEncoding::kZstd, Zstd(a) + Zstd(b), 1 << 20, &out).ok());
  EXPECT_EQ(out, a + b);
  // A stated size over the cap is refused before anything is decoded or allocated.
  std::string small_out;
  EXPECT_EQ(d.Decompress(ContentEncoding::kZstd, Zstd(a), 1000, &small_out).code(),
            StatusCode::kTooLarge);
  EXPECT_LE(small_out.capacity(), 1001u);
}

TEST(DecompressorTest, LyingZstdContentSizeIsAnError) {
  Decompressor d;
  const std::string text(200, 'z');
  std::string zs = Zstd(text);
  // Magic (4 bytes), frame header descriptor, then (single segment, content under 256) the
  // content size in one byte.
  ASSERT_EQ(ZSTD_getFrameContentSize(zs.data(), zs.size()), 200u);
  ASSERT_EQ(static_cast<uint8_t>(zs[5]), 200);
  std::string out;
  for (uint8_t lie : {150, 250}) {
    zs[5] = static_cast<char>(lie);
    ASSERT_EQ(ZSTD_getFrameContentSize(zs.data(), zs.size()), lie);
    Status st = d.Decompress(ContentEncoding::kZstd, zs, 1 << 20, &out);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << int{lie};
    EXPECT_EQ(st.message().rfind("body is not a valid zstd stream: ", 0), 0u) << st.message();
  }
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
