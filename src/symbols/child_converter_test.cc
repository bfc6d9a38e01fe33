// ChildConverter against stand-in children (shell scripts that crash, hang, fail or leak) and
// against the real `vigil symbols convert` on a good ELF and on the one that crashes LLVM.
#include "symbols/child_converter.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include "common/file_util.h"
#include "symbols/symbol_file.h"

namespace vigil::symbols {
namespace {

class ChildConverterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = ::testing::TempDir() + "/child_converter_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  // A converter whose child is `sh -c script`; the converter's flags become $1...
  ChildConverter Shell(const std::string& script, int64_t timeout_ms = 10000) const {
    ChildConverter::Limits limits;
    limits.timeout_ms = timeout_ms;
    return ChildConverter({"/bin/sh", "-c", script, "sh"}, scratch_, limits);
  }
  // The scratch folder holds nothing once a call returns.
  void ExpectScratchEmpty() const {
    Result<std::vector<std::string>> left = ListDir(scratch_);
    if (!left.ok()) return;  // removed altogether
    EXPECT_TRUE(left->empty()) << (*left)[0];
  }
  std::string scratch_;
};

std::string ReadSource(const std::string& rel) {
  Result<std::string> data = ReadFile(std::string(VIGIL_SOURCE_DIR) + "/" + rel);
  EXPECT_TRUE(data.ok()) << rel;
  return data.ok() ? *data : std::string();
}

TEST_F(ChildConverterTest, ChildKilledBySignalIsAnInvalidFileNamingTheSignal) {
  Result<std::vector<BuiltSymCache>> r = Shell("kill -SEGV $$").Convert("ELF", "lib.so");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("crashed the symbol converter (SIGSEGV"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("dump_syms"), std::string::npos);
  ExpectScratchEmpty();
}

TEST_F(ChildConverterTest, HungChildIsKilledAtTheTimeout) {
  const auto start = std::chrono::steady_clock::now();
  Result<std::vector<BuiltSymCache>> r = Shell("exec sleep 30", 300).Convert("ELF", "lib.so");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("took longer than"), std::string::npos)
      << r.status().message();
  EXPECT_LT(seconds, 10.0);
  ExpectScratchEmpty();
}

TEST_F(ChildConverterTest, BrokenFileExitCarriesTheChildsMessage) {
  Result<std::vector<BuiltSymCache>> r =
      Shell(
          "echo progress >&2; echo 'vigil symbols convert: no .debug_info and no symbols' >&2; "
          "exit 4")
          .Convert("ELF", "lib.so");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "no .debug_info and no symbols");
}

TEST_F(ChildConverterTest, SanitizerReportExitCountsAsACrash) {
  Result<std::vector<BuiltSymCache>> r =
      Shell("echo 'SUMMARY: AddressSanitizer: SEGV in dumpAddress' >&2; exit 1")
          .Convert("ELF", "lib.so");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("exit code 1: SUMMARY: AddressSanitizer: SEGV"),
            std::string::npos)
      << r.status().message();
}

TEST_F(ChildConverterTest, OutputThatIsNotASymcacheIsAnInternalError) {
  // Finds --out DIR among the flags and writes garbage there.
  Result<std::vector<BuiltSymCache>> r =
      Shell(
          "while [ $# -gt 0 ]; do if [ \"$1\" = --out ]; then echo junk > \"$2/x.symcache\"; "
          "fi; shift; done")
          .Convert("ELF", "lib.so");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  r = Shell("exit 0").Convert("ELF", "lib.so");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "the symbol converter wrote no symcache");
}

TEST_F(ChildConverterTest, ChildGetsTheInputAndNoInheritedDescriptors) {
  // The input file is the last argument; stdin, stdout, stderr are the only open descriptors
  // (ls adds its own directory descriptor: 4 entries).
  Result<std::vector<BuiltSymCache>> r =
      Shell(
          "for a; do last=$a; done; echo \"$(cat \"$last\") $(ls /proc/self/fd | wc -l)\" >&2; "
          "exit 4")
          .Convert("payload", "lib.so");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "payload 4");
}

TEST_F(ChildConverterTest, LeftoversOfAKilledServerAreRemoved) {
  ASSERT_TRUE(MakeDirs(scratch_ + "/123-0/out").ok());
  ASSERT_TRUE(WriteFileAtomically(scratch_ + "/123-0/input", "x").ok());
  ChildConverter converter = Shell("exit 4");
  ExpectScratchEmpty();
}

// The real converter: the same symcache as converting in this process, and a clean error, not a
// dead process, for the ELF that crashes LLVM 14.
TEST_F(ChildConverterTest, RealConverterMatchesInProcessAndSurvivesTheLlvmCrash) {
  const char* bin = std::getenv("VIGIL_BIN");
  if (bin == nullptr) GTEST_SKIP() << "VIGIL_BIN is not set (ctest sets it)";
  ChildConverter converter({bin, "symbols", "convert"}, scratch_, ChildConverter::Limits());
  const std::string good = ReadSource("tests/fuzz/corpus/object_file/liba.so");
  Result<std::vector<BuiltSymCache>> child = converter.Convert(good, "liba.so");
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  Result<std::vector<BuiltSymCache>> here = BuildSymCaches(good, "liba.so");
  ASSERT_TRUE(here.ok());
  ASSERT_EQ(child->size(), 1u);
  ASSERT_EQ(here->size(), 1u);
  EXPECT_EQ((*child)[0].bytes, (*here)[0].bytes);
  EXPECT_EQ((*child)[0].debug_id.ToString(), (*here)[0].debug_id.ToString());
  EXPECT_EQ((*child)[0].code_id, "1fe0efe9e195ff4f58ad3a381a3ed3d162443eac");
  EXPECT_EQ((*child)[0].arch, (*here)[0].arch);
  EXPECT_EQ((*child)[0].source, symcache::SourceKind::kElf);

  // Every input that crashes LLVM which fuzzing found.
  Result<std::vector<std::string>> known =
      ListDir(std::string(VIGIL_SOURCE_DIR) + "/tests/fuzz/known_crashes");
  ASSERT_TRUE(known.ok());
  size_t replayed = 0;
  for (const std::string& name : *known) {
    if (!name.starts_with("object_file-")) continue;
    ++replayed;
    Result<std::vector<BuiltSymCache>> bad =
        converter.Convert(ReadSource("tests/fuzz/known_crashes/" + name), "libcrash.so");
    ASSERT_FALSE(bad.ok()) << name;
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << name;
    EXPECT_NE(bad.status().message().find("crashed the symbol converter"), std::string::npos)
        << name << ": " << bad.status().message();
  }
  EXPECT_GE(replayed, 2u);

  Result<std::vector<BuiltSymCache>> junk = converter.Convert(
      "\x7f"
      "ELF junk",
      "junk.so");
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(junk.status().message().find("crashed"), std::string::npos) << junk.status().message();
  ExpectScratchEmpty();
}

}  // namespace
}  // namespace vigil::symbols
