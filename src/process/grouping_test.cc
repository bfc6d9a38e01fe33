// Grouping rules: same bug across builds and lines groups together, different bugs apart, and
// unsymbolicated crashes go to their version's sentinel group.
#include "process/grouping.h"

#include <gtest/gtest.h>

namespace vigil::process {
namespace {

GroupingFrame F(std::string fn, bool in_app, std::string file = "") {
  GroupingFrame f;
  f.function = std::move(fn);
  f.in_app = in_app;
  f.file = std::move(file);
  return f;
}

GroupingInput Crash(std::string type, std::vector<GroupingFrame> frames,
                    std::string version = "1.0") {
  GroupingInput in;
  in.exception_type = std::move(type);
  in.frames = std::move(frames);
  in.app_version = std::move(version);
  return in;
}

TEST(GroupingTest, SameBugInTwoBuildsGroupsTogether) {
  // Build 1.0 and 1.1: different system frames on top, same in-app functions.
  Grouping a = GroupCrash(Crash("SIGSEGV",
                                {F("__memcpy_avx", false), F("Parse(char const*)", true, "p.cc"),
                                 F("Load()", true), F("main", true), F("Extra()", true)},
                                "1.0"));
  Grouping b = GroupCrash(Crash("SIGSEGV",
                                {F("memcpy", false), F("Parse(char const*)", true, "p.cc"),
                                 F("Load()", true), F("main", true), F("Other()", true)},
                                "1.1"));
  EXPECT_EQ(a.group_id, b.group_id);
  EXPECT_EQ(a.fingerprint, "SIGSEGV|Parse(char const*)|Load()|main");
  EXPECT_EQ(a.title, "SIGSEGV: Parse(char const*)");
  EXPECT_EQ(a.culprit, "Parse(char const*) (p.cc)");
  EXPECT_FALSE(a.sentinel);
  EXPECT_EQ(a.group_id.size(), 16u);
}

TEST(GroupingTest, DifferentBugsGroupApart) {
  Grouping a = GroupCrash(Crash("SIGSEGV", {F("Parse(char const*)", true), F("main", true)}));
  Grouping b = GroupCrash(Crash("SIGSEGV", {F("Render()", true), F("main", true)}));
  Grouping c = GroupCrash(Crash("SIGABRT", {F("Parse(char const*)", true), F("main", true)}));
  EXPECT_NE(a.group_id, b.group_id);
  EXPECT_NE(a.group_id, c.group_id);
}

TEST(GroupingTest, CloneSuffixesAndLambdaCountersDoNotSplitGroups) {
  Grouping a = GroupCrash(Crash("E", {F("Parse(char const*) [clone .isra.0]", true)}));
  Grouping b = GroupCrash(Crash("E", {F("Parse(char const*)", true)}));
  EXPECT_EQ(a.group_id, b.group_id);
  EXPECT_EQ(NormalizeFunctionName("com.example.Main.lambda$onClick$0"),
            "com.example.Main.lambda$onClick$");
  EXPECT_EQ(NormalizeFunctionName("helper.cold"), "helper");
  EXPECT_EQ(NormalizeFunctionName("foo(int) [clone .constprop.0] [clone .cold]"), "foo(int)");
  EXPECT_EQ(NormalizeFunctionName("operator()"), "operator()");
}

TEST(GroupingTest, MissingSymbolsGoToTheVersionSentinel) {
  GroupingInput in = Crash("SIGSEGV", {F("", true), F("main", true)}, "2.3.1");
  in.frames[0].symbols_missing = true;
  Grouping s = GroupCrash(in);
  EXPECT_TRUE(s.sentinel);
  EXPECT_EQ(s.fingerprint, "sentinel|2.3.1|SIGSEGV");
  EXPECT_EQ(s.title, "SIGSEGV (unsymbolicated, 2.3.1)");
  // Another unsymbolicated crash of that version and type: the same sentinel.
  GroupingInput other = Crash("SIGSEGV", {F("", true)}, "2.3.1");
  other.frames[0].symbols_missing = true;
  EXPECT_EQ(GroupCrash(other).group_id, s.group_id);
  // A system library without symbols does not make a sentinel.
  GroupingInput sys = Crash("SIGSEGV", {F("", false), F("main", true)}, "2.3.1");
  sys.frames[0].symbols_missing = true;
  EXPECT_FALSE(GroupCrash(sys).sentinel);
}

TEST(GroupingTest, NoFramesGroupsByTypeAlone) {
  Grouping a = GroupCrash(Crash("java.lang.OutOfMemoryError", {}));
  EXPECT_EQ(a.fingerprint, "java.lang.OutOfMemoryError");
  EXPECT_EQ(a.title, "java.lang.OutOfMemoryError");
  EXPECT_EQ(a.culprit, "");
  // Only system frames: they decide.
  Grouping b = GroupCrash(Crash("SIGABRT", {F("abort", false), F("raise", false)}));
  EXPECT_EQ(b.fingerprint, "SIGABRT|abort|raise");
}

}  // namespace
}  // namespace vigil::process
