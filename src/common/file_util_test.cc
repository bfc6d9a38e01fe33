// WriteFileAtomically written in pieces: the same file, and the caller's step between pieces.
#include "common/file_util.h"

#include <gtest/gtest.h>

#include "common/temp_dir.h"

namespace vigil {
namespace {

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i * 7 % 26);
  return s;
}

TEST(FileUtilTest, AFileWrittenInPiecesIsWholeAndTheStepRunsBetweenThem) {
  TempDir dir;
  const std::string path = dir.path() + "/part";
  const std::string contents = Pattern(2 * kAtomicWritePiece + 12345);
  int steps = 0;
  ASSERT_TRUE(WriteFileAtomically(path, contents, 0644, [&] { ++steps; }).ok());
  EXPECT_EQ(steps, 2);  // three pieces
  Result<std::string> back = ReadFile(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, contents);
  EXPECT_FALSE(FileExists(path + ".tmp"));
}

TEST(FileUtilTest, AFileOfOnePieceOrNoneNeedsNoStep) {
  TempDir dir;
  int steps = 0;
  for (size_t n : {size_t{0}, size_t{1}, kAtomicWritePiece}) {
    const std::string path = dir.path() + "/f" + std::to_string(n);
    ASSERT_TRUE(WriteFileAtomically(path, Pattern(n), 0644, [&] { ++steps; }).ok());
    EXPECT_EQ(*ReadFile(path), Pattern(n));
  }
  EXPECT_EQ(steps, 0);
}

}  // namespace
}  // namespace vigil
