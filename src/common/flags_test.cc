// FlagSet: the accepted spellings, and errors that name the bad flag.
#include "common/flags.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

TEST(FlagsTest, ParsesBothSpellingsAndBareBooleans) {
  std::string data = "./data";
  int64_t n = 1;
  bool verbose = false;
  FlagSet flags("vigil x", "test");
  flags.String("data", &data, "dir");
  flags.Int("n", &n, "count");
  flags.Bool("verbose", &verbose, "more output");
  ASSERT_TRUE(flags.Parse({"--data", "/tmp/d", "--n=5", "--verbose"}).ok());
  EXPECT_EQ(data, "/tmp/d");
  EXPECT_EQ(n, 5);
  EXPECT_TRUE(verbose);
  EXPECT_TRUE(flags.WasSet("n"));
}

TEST(FlagsTest, UnknownFlagAndBadNumberAreNamed) {
  int64_t n = 1;
  FlagSet flags("vigil x", "test");
  flags.Int("n", &n, "count");
  Status st = flags.Parse({"--nope"});
  EXPECT_NE(st.message().find("--nope"), std::string::npos);
  FlagSet flags2("vigil x", "test");
  flags2.Int("n", &n, "count");
  st = flags2.Parse({"--n", "abc"});
  EXPECT_NE(st.message().find("--n"), std::string::npos);
  EXPECT_NE(st.message().find("abc"), std::string::npos);
}

TEST(FlagsTest, HelpIsRecognizedAndUsageListsFlags) {
  std::string data;
  FlagSet flags("vigil serve [flags]", "Runs the server.");
  flags.String("data", &data, "data directory");
  ASSERT_TRUE(flags.Parse({"--help"}).ok());
  EXPECT_TRUE(flags.help_requested());
  EXPECT_NE(flags.Usage().find("--data"), std::string::npos);
}

}  // namespace
}  // namespace vigil
