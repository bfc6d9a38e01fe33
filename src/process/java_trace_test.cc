// JavaStackTrace: printStackTrace output in all its shapes becomes exceptions with frames; text
// that is not a stack trace is refused by name; formatting parses back to the same trace.
#include "process/java_trace.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace vigil::process {
namespace {

JavaStackTrace MustParse(std::string_view text) {
  Result<JavaStackTrace> r = ParseJavaStackTrace(text);
  EXPECT_TRUE(r.ok()) << r.status().ToString() << "\n" << text;
  return r.ok() ? r.value() : JavaStackTrace{};
}

void ExpectRoundTrip(const JavaStackTrace& trace) {
  std::string text = FormatJavaStackTrace(trace);
  JavaStackTrace again = MustParse(text);
  again.skipped_lines = trace.skipped_lines;
  EXPECT_EQ(again, trace) << text;
}

TEST(JavaTraceTest, ParsesCauseChainSuppressedAndMore) {
  // As printStackTrace prints it (tabs, suppressed one level deeper, causes of suppressed inside).
  JavaStackTrace t = MustParse(
      "java.lang.RuntimeException: outer failure\n"
      "\tat com.example.App.run(App.java:42)\n"
      "\tat com.example.App.main(App.java:10)\n"
      "\tSuppressed: java.io.IOException: close failed\n"
      "\t\tat com.example.Res.close(Res.java:7)\n"
      "\t\t... 1 more\n"
      "\tCaused by: java.io.EOFException\n"
      "\t\tat com.example.Res.flush(Res.java:3)\n"
      "\t\t... 2 more\n"
      "Caused by: java.lang.IllegalStateException: inner\n"
      "\tat com.example.Dao.load(Native Method)\n"
      "\tat com.example.Dao.get(Unknown Source)\n"
      "\t... 2 more\n"
      "Caused by: java.lang.NullPointerException\n"
      "\tat com.example.Dao.parse(Dao.kt:99)\n");
  ASSERT_EQ(t.exceptions.size(), 5u);
  const auto& root = t.exceptions[0];
  EXPECT_EQ(root.type, "java.lang.RuntimeException");
  EXPECT_EQ(root.message, "outer failure");
  EXPECT_TRUE(root.has_message);
  EXPECT_EQ(root.role, JavaExceptionRole::kRoot);
  ASSERT_EQ(root.frames.size(), 2u);
  EXPECT_EQ(root.frames[0].class_name, "com.example.App");
  EXPECT_EQ(root.frames[0].method, "run");
  EXPECT_EQ(root.frames[0].file, "App.java");
  EXPECT_EQ(root.frames[0].line, 42u);

  const auto& suppressed = t.exceptions[1];
  EXPECT_EQ(suppressed.type, "java.io.IOException");
  EXPECT_EQ(suppressed.role, JavaExceptionRole::kSuppressed);
  EXPECT_EQ(suppressed.parent, 0);
  EXPECT_EQ(suppressed.depth, 1u);
  EXPECT_EQ(suppressed.frames_in_common, 1u);

  const auto& suppressed_cause = t.exceptions[2];
  EXPECT_EQ(suppressed_cause.type, "java.io.EOFException");
  EXPECT_FALSE(suppressed_cause.has_message);
  EXPECT_EQ(suppressed_cause.role, JavaExceptionRole::kCause);
  EXPECT_EQ(suppressed_cause.parent, 1);
  EXPECT_EQ(suppressed_cause.depth, 1u);

  const auto& cause = t.exceptions[3];
  EXPECT_EQ(cause.type, "java.lang.IllegalStateException");
  EXPECT_EQ(cause.parent, 0);
  EXPECT_EQ(cause.depth, 0u);
  ASSERT_EQ(cause.frames.size(), 2u);
  EXPECT_TRUE(cause.frames[0].native_method);
  EXPECT_EQ(cause.frames[0].line, std::nullopt);
  EXPECT_TRUE(cause.frames[1].unknown_source);
  EXPECT_EQ(cause.frames[1].file, "");
  EXPECT_EQ(cause.frames_in_common, 2u);

  EXPECT_EQ(t.exceptions[4].parent, 3);
  EXPECT_EQ(t.CauseChain(), (std::vector<uint32_t>{0, 3, 4}));
  EXPECT_EQ(t.skipped_lines, 0u);
  ExpectRoundTrip(t);
}

TEST(JavaTraceTest, FormatReproducesPrintStackTrace) {
  std::string text =
      "Exception in thread \"main\" java.lang.RuntimeException: boom\n"
      "\tat a.B.c(B.java:1)\n"
      "\tSuppressed: java.lang.Exception: s\n"
      "\t\tat a.B.d(B.java:2)\n"
      "\t\t... 1 more\n"
      "Caused by: java.lang.Error\n"
      "\tat a.B.e(Native Method)\n"
      "\t... 1 more\n";
  EXPECT_EQ(FormatJavaStackTrace(MustParse(text)), text);
}

TEST(JavaTraceTest, MessagesSpanLines) {
  JavaStackTrace t = MustParse(
      "java.lang.IllegalArgumentException: first line\n"
      "second: line\n"
      "\n"
      "  fourth line, indented\n"
      "\n"
      "\tat a.B.c(B.java:1)\n"
      "Caused by: a.Err: x\n"
      "y\n");
  ASSERT_EQ(t.exceptions.size(), 2u);
  EXPECT_EQ(t.exceptions[0].message, "first line\nsecond: line\n\n  fourth line, indented");
  EXPECT_EQ(t.exceptions[1].message, "x\ny");
  ExpectRoundTrip(t);
}

TEST(JavaTraceTest, ThreadNameAndEmptyMessage) {
  JavaStackTrace t =
      MustParse("Exception in thread \"pool-1 thread-2\" com.a.B:\n\tat x.Y.z(Y.java)\n");
  EXPECT_EQ(t.thread, "pool-1 thread-2");
  EXPECT_EQ(t.exceptions[0].type, "com.a.B");
  EXPECT_TRUE(t.exceptions[0].has_message);
  EXPECT_EQ(t.exceptions[0].message, "");
  EXPECT_EQ(t.exceptions[0].frames[0].file, "Y.java");
  EXPECT_EQ(t.exceptions[0].frames[0].line, std::nullopt);
  ExpectRoundTrip(t);
}

TEST(JavaTraceTest, FrameShapes) {
  JavaStackTrace t = MustParse(
      "java.lang.Error\r\n"
      "\tat java.base/java.lang.Thread.run(Thread.java:833)\r\n"
      "\tat java.base@17.0.2/jdk.internal.Foo.bar(Foo.java:1)\r\n"
      "\tat app//com.example.Main.main(Main.java:5)\r\n"
      "    at a.b.c(Unknown Source:12)\r\n"
      "        at a.b.d(:7)\r\n"
      "\tat e.a.c.a.onClick\r\n"
      "\tat org.Foo.<init>(Foo.java:3) ~[app.jar:1.0]\r\n"
      "\tat io.Kt.lambda$0(Kt.kt)\r\n"
      "\tat p.Q.r(:foo::bar:)\r\n");
  const auto& f = t.exceptions[0].frames;
  ASSERT_EQ(f.size(), 9u);
  EXPECT_EQ(f[0].module, "java.base");
  EXPECT_EQ(f[0].class_name, "java.lang.Thread");
  EXPECT_EQ(f[1].module, "java.base@17.0.2");
  EXPECT_EQ(f[2].module, "app/");
  EXPECT_EQ(f[2].class_name, "com.example.Main");
  EXPECT_TRUE(f[3].unknown_source);
  EXPECT_EQ(f[3].line, 12u);
  EXPECT_EQ(f[4].file, "");
  EXPECT_EQ(f[4].line, 7u);
  EXPECT_EQ(f[5].class_name, "e.a.c.a");
  EXPECT_EQ(f[5].method, "onClick");
  EXPECT_EQ(f[6].method, "<init>");
  EXPECT_EQ(f[6].line, 3u);
  EXPECT_EQ(f[7].method, "lambda$0");
  EXPECT_EQ(f[8].file, ":foo::bar:");
  EXPECT_EQ(f[8].line, std::nullopt);
  ExpectRoundTrip(t);
}

TEST(JavaTraceTest, CircularReferences) {
  JavaStackTrace t = MustParse(
      "a.A: x\n"
      "\tat a.B.c(B.java:1)\n"
      "Caused by: a.C\n"
      "\tat a.B.d(B.java:2)\n"
      "\tSuppressed: [CIRCULAR REFERENCE: a.A: x]\n");
  ASSERT_EQ(t.exceptions.size(), 3u);
  EXPECT_TRUE(t.exceptions[2].circular);
  EXPECT_EQ(t.exceptions[2].type, "a.A");
  EXPECT_EQ(t.exceptions[2].parent, 1);
  ExpectRoundTrip(t);
}

TEST(JavaTraceTest, SpaceIndentedTracesKeepTheirStructure) {
  // Re-indented with spaces, as log files often show them.
  JavaStackTrace t = MustParse(
      "a.A: x\n"
      "    at a.B.c(B.java:1)\n"
      "    Suppressed: a.S\n"
      "        at a.B.s(B.java:9)\n"
      "    Caused by: a.SC\n"
      "        at a.B.t(B.java:8)\n"
      "Caused by: a.C\n"
      "    at a.B.d(B.java:2)\n");
  ASSERT_EQ(t.exceptions.size(), 4u);
  EXPECT_EQ(t.exceptions[1].parent, 0);
  EXPECT_EQ(t.exceptions[2].parent, 1);
  EXPECT_EQ(t.exceptions[2].depth, 1u);
  EXPECT_EQ(t.exceptions[3].parent, 0);
  EXPECT_EQ(t.exceptions[3].depth, 0u);
  EXPECT_EQ(t.CauseChain(), (std::vector<uint32_t>{0, 3}));
  ExpectRoundTrip(t);
}

TEST(JavaTraceTest, StrayLinesAfterFramesAreCounted) {
  JavaStackTrace t = MustParse(
      "\n\n"
      "a.A\n"
      "\tat a.B.c(B.java:1)\n"
      "12:00:01 INFO something else\n"
      "\tat a.B.d(B.java:2)\n");
  EXPECT_EQ(t.skipped_lines, 1u);
  EXPECT_EQ(t.exceptions[0].frames.size(), 2u);
}

TEST(JavaTraceTest, TextThatIsNotAStackTraceIsRefused) {
  for (std::string_view text :
       {"", "\n \n", "hello world", "\tat a.b.c(D.java:1)\n", "{\"json\": true}", "<html>",
        "Exception in thread \"x\"", "a.B(oops)", "\x01\x02\x03"}) {
    Result<JavaStackTrace> r = ParseJavaStackTrace(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("not a Java stack trace"), std::string::npos);
  }
}

TEST(JavaTraceTest, CapsAreEnforced) {
  EXPECT_EQ(ParseJavaStackTrace(std::string(kMaxJavaTraceBytes + 1, 'a')).status().code(),
            StatusCode::kTooLarge);
  std::string many = "a.A\n";
  for (size_t i = 0; i < kMaxJavaTraceExceptions; ++i) many += "Caused by: a.B\n";
  EXPECT_EQ(ParseJavaStackTrace(many).status().code(), StatusCode::kTooLarge);
  std::string frames = "a.A\n";
  for (size_t i = 0; i <= kMaxJavaTraceFrames; ++i) frames += "\tat a.B.c(D.java:1)\n";
  EXPECT_EQ(ParseJavaStackTrace(frames).status().code(), StatusCode::kTooLarge);
}

TEST(JavaTraceTest, DeepSuppressedNestingIsFlat) {
  std::string text = "a.A\n";
  for (size_t i = 1; i < kMaxJavaTraceExceptions; ++i) {
    text += std::string(i, '\t') + "Suppressed: a.S" + std::to_string(i) + "\n";
  }
  JavaStackTrace t = MustParse(text);
  ASSERT_EQ(t.exceptions.size(), kMaxJavaTraceExceptions);
  EXPECT_EQ(t.exceptions.back().depth, kMaxJavaTraceExceptions - 1);
  EXPECT_EQ(t.exceptions.back().parent, static_cast<int32_t>(kMaxJavaTraceExceptions - 2));
  ExpectRoundTrip(t);
}

// Every obfuscated trace in the proguard fixtures either parses (and formats back) or, if it does
// not start with an exception line, is refused as not a stack trace.
TEST(JavaTraceTest, FixtureInputsParseOrAreRefused) {
  std::string dir = std::string(VIGIL_FIXTURES_DIR) + "/proguard";
  size_t parsed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (!name.ends_with(".input.txt") && !name.ends_with(".expected.txt")) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    Result<JavaStackTrace> r = ParseJavaStackTrace(ss.str());
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << name;
      continue;
    }
    ++parsed;
    EXPECT_FALSE(r->exceptions.empty());
    EXPECT_FALSE(r->exceptions[0].frames.empty()) << name;
    ExpectRoundTrip(r.value());
  }
  EXPECT_GE(parsed, 10u);
}

}  // namespace
}  // namespace vigil::process
