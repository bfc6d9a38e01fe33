// The batch day's cell-key list: round trips, and damage reported as Corruption, never a crash.
#include "batch/day_cell_keys.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace vigil::batch {
namespace {

std::vector<std::string> SampleKeys() {
  std::vector<std::string> keys = {
      std::string("\x03"
                  "app\x05users",
                  9),
      std::string("\x03"
                  "app\x05users\x00",
                  10),  // the key before is its prefix
      std::string("\x03"
                  "app\x07"
                  "crashes\x03"
                  "1.0",
                  16),
      std::string(300, 'z'),  // longer than one varint byte of length
      "",
      "a",
      "ab",
      "b",
  };
  std::sort(keys.begin(), keys.end());
  return keys;
}

TEST(DayCellKeysTest, RoundTrips) {
  for (const std::vector<std::string>& keys :
       {std::vector<std::string>{}, std::vector<std::string>{""}, SampleKeys()}) {
    std::vector<std::string> out = {"left over"};
    ASSERT_TRUE(DecodeDayCellKeys(EncodeDayCellKeys(keys), &out).ok());
    EXPECT_EQ(out, keys);
  }
}

TEST(DayCellKeysTest, SharedPrefixesAreStoredOnce) {
  std::vector<std::string> keys;
  const std::string series(60, 's');
  for (int h = 0; h < 24; ++h) keys.push_back(series + static_cast<char>('A' + h));
  // Each key after the first: a one-byte shared length, a one-byte rest length, one byte.
  EXPECT_EQ(EncodeDayCellKeys(keys).size(), 2u + 1u + (1u + 1u + 61u) + 23u * 3u);
}

TEST(DayCellKeysTest, EveryTruncationAndTrailingByteIsCorruption) {
  const std::string good = EncodeDayCellKeys(SampleKeys());
  std::vector<std::string> out;
  for (size_t n = 0; n < good.size(); ++n) {
    Status st = DecodeDayCellKeys(std::string_view(good).substr(0, n), &out);
    EXPECT_TRUE(st.code() == StatusCode::kCorruption)
        << "prefix of " << n << " bytes: " << st.ToString();
  }
  EXPECT_TRUE(DecodeDayCellKeys(good + "x", &out).code() == StatusCode::kCorruption);
}

TEST(DayCellKeysTest, DamagedHeadersAndOrderAreCorruption) {
  std::vector<std::string> out;
  std::string bad_magic = EncodeDayCellKeys({"a"});
  bad_magic[0] = 'X';
  EXPECT_TRUE(DecodeDayCellKeys(bad_magic, &out).code() == StatusCode::kCorruption);
  std::string bad_version = EncodeDayCellKeys({"a"});
  bad_version[1] = 9;
  EXPECT_TRUE(DecodeDayCellKeys(bad_version, &out).code() == StatusCode::kCorruption);
  // A count far beyond the bytes: rejected before anything is reserved for it.
  EXPECT_TRUE(DecodeDayCellKeys(std::string("K\x01\xff\xff\xff\xff\x0f", 7), &out).code() ==
              StatusCode::kCorruption);
  // A shared prefix longer than the key before it.
  EXPECT_TRUE(DecodeDayCellKeys(std::string("K\x01\x02\x00\x01"
                                            "a\x05\x01"
                                            "b",
                                            9),
                                &out)
                  .code() == StatusCode::kCorruption);
  // Keys out of order, and a repeated key.
  EXPECT_TRUE(DecodeDayCellKeys(std::string("K\x01\x02\x00\x01"
                                            "b\x00\x01"
                                            "a",
                                            9),
                                &out)
                  .code() == StatusCode::kCorruption);
  EXPECT_TRUE(DecodeDayCellKeys(std::string("K\x01\x02\x00\x01"
                                            "a\x01\x00",
                                            8),
                                &out)
                  .code() == StatusCode::kCorruption);
}

}  // namespace
}  // namespace vigil::batch
