// ParseTombstones against the NDK fixtures (tests/fixtures/native/android_tombstone,
// PROVENANCE.md §4): every frame is checked against ndk-stack's expected output, which this test
// parses on its own (index, pc, module, APK offset, embedded library, symbol+offset, BuildId).
// ndk-stack opens the APK and so can name the library behind a bare "test.apk (offset 0x1000)";
// a line parser cannot, so for those frames the expected module must extend ours with "!lib".
// Plus logcat prefixes, other frame shapes and broken input.
#include "process/tombstone_parser.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "process/report_text.h"

namespace vigil::process {
namespace {

std::string ReadFixture(const std::string& relative) {
  std::ifstream in(std::string(VIGIL_FIXTURES_DIR) + "/" + relative, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << relative;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<CrashReport> MustParse(std::string_view text) {
  Result<std::vector<CrashReport>> r = ParseTombstones(text);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : std::vector<CrashReport>();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// One frame line of ndk-stack's output: "#NN 0xPC MODULE[ (offset 0x..)][ (sym)][ (BuildId: x)]".
struct ExpectedFrame {
  uint64_t index = 0;
  uint64_t pc = 0;
  std::string module;
  std::optional<uint64_t> offset;
  std::string symbol;
  std::optional<uint64_t> symbol_offset;
  std::string build_id;
};

bool ParseExpectedFrame(const std::string& line, ExpectedFrame* e) {
  std::istringstream in(line);
  std::string index, pc;
  if (!(in >> index >> pc) || index.size() < 2 || index[0] != '#' || pc.rfind("0x", 0) != 0) {
    return false;
  }
  e->index = std::stoull(index.substr(1));
  e->pc = std::stoull(pc.substr(2), nullptr, 16);
  in >> e->module;
  std::string tail;
  std::getline(in, tail);
  const std::string kBuildId = " (BuildId: ";
  size_t b = tail.find(kBuildId);
  if (b != std::string::npos) {
    e->build_id = tail.substr(b + kBuildId.size(), tail.size() - b - kBuildId.size() - 1);
    tail.resize(b);
  }
  const std::string kOffset = " (offset 0x";
  if (tail.rfind(kOffset, 0) == 0) {
    size_t close = tail.find(')');
    e->offset = std::stoull(tail.substr(kOffset.size(), close - kOffset.size()), nullptr, 16);
    tail.erase(0, close + 1);
  }
  if (tail.size() > 3 && tail.rfind(" (", 0) == 0 && tail.back() == ')') {
    std::string sym = tail.substr(2, tail.size() - 3);
    size_t plus = sym.rfind('+');
    if (plus != std::string::npos && plus + 1 < sym.size() &&
        sym.find_first_not_of("0123456789", plus + 1) == std::string::npos) {
      e->symbol_offset = std::stoull(sym.substr(plus + 1));
      sym.resize(plus);
    }
    e->symbol = sym;
  }
  return true;
}

// ndk-stack output split per "Crash dump" section.
struct ExpectedDump {
  std::string fingerprint, abort_message;
  std::vector<ExpectedFrame> frames;
};

std::vector<ExpectedDump> ParseExpected(const std::string& text) {
  std::vector<ExpectedDump> dumps;
  for (const std::string& line : Lines(text)) {
    if (line.rfind("********** Crash dump:", 0) == 0) {
      dumps.emplace_back();
      continue;
    }
    if (dumps.empty()) continue;
    auto quoted = [&](const std::string& prefix, std::string* out) {
      if (line.rfind(prefix, 0) != 0) return false;
      *out = line.substr(prefix.size());
      if (!out->empty() && out->back() == '\'') out->pop_back();
      return true;
    };
    if (quoted("Build fingerprint: '", &dumps.back().fingerprint)) continue;
    if (quoted("Abort message: '", &dumps.back().abort_message)) continue;
    ExpectedFrame e;
    if (ParseExpectedFrame(line, &e)) dumps.back().frames.push_back(e);
  }
  return dumps;
}

// All frames of a report in ndk-stack's order: the abort message's stacks, then the backtrace.
std::vector<CrashFrame> AllFrames(const CrashReport& r) {
  std::vector<CrashFrame> out;
  for (const CrashStack& s : r.extra_stacks)
    out.insert(out.end(), s.frames.begin(), s.frames.end());
  for (const CrashThread& t : r.threads) out.insert(out.end(), t.frames.begin(), t.frames.end());
  return out;
}

std::vector<uint64_t> Indexes(const CrashReport& r) {
  std::vector<uint64_t> out;
  for (const CrashStack& s : r.extra_stacks) {
    for (size_t i = 0; i < s.frames.size(); ++i) out.push_back(i);
  }
  for (const CrashThread& t : r.threads) {
    for (size_t i = 0; i < t.frames.size(); ++i) out.push_back(i);
  }
  return out;
}

void ExpectFramesMatch(const CrashReport& r, const std::vector<ExpectedFrame>& expected) {
  std::vector<CrashFrame> frames = AllFrames(r);
  std::vector<uint64_t> indexes = Indexes(r);
  ASSERT_EQ(frames.size(), expected.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    const CrashFrame& f = frames[i];
    const ExpectedFrame& e = expected[i];
    SCOPED_TRACE("frame #" + std::to_string(e.index) + " (" + std::to_string(i) + ")");
    EXPECT_EQ(indexes[i], e.index);
    EXPECT_EQ(f.instruction_addr, e.pc);
    EXPECT_TRUE(f.addr_is_relative);
    if (f.module != e.module) {
      // Only ndk-stack's lookup inside the APK may add the embedded library's name.
      EXPECT_EQ(f.module.find('!'), std::string::npos) << f.module;
      EXPECT_EQ(e.module.rfind(f.module + "!", 0), 0u) << f.module << " vs " << e.module;
    }
    EXPECT_EQ(f.module_offset, e.offset);
    EXPECT_EQ(f.symbol, e.symbol);
    EXPECT_EQ(f.symbol_offset, e.symbol_offset);
    EXPECT_EQ(f.build_id, e.build_id);
  }
}

TEST(TombstoneParserTest, BacktraceFramesMatchNdkStack) {
  std::vector<CrashReport> reports =
      MustParse(ReadFixture("native/android_tombstone/backtrace.txt"));
  std::vector<ExpectedDump> expected =
      ParseExpected(ReadFixture("native/android_tombstone/expected.txt"));
  ASSERT_EQ(reports.size(), 1u);
  ASSERT_EQ(expected.size(), 1u);
  ASSERT_EQ(expected[0].frames.size(), 20u);
  ExpectFramesMatch(reports[0], expected[0].frames);
  // The embedded-library form and the bare-APK form of the same frame.
  const auto& f = reports[0].threads[0].frames;
  EXPECT_EQ(f[1].module, "test.apk!libbase.so");
  EXPECT_EQ(f[0].module, "test.apk");
  EXPECT_EQ(reports[0].crashed_thread, 0u);
}

TEST(TombstoneParserTest, MultipleTombstonesMatchNdkStack) {
  std::string text = ReadFixture("native/android_tombstone/multiple.txt");
  std::vector<CrashReport> reports = MustParse(text);
  std::vector<ExpectedDump> expected =
      ParseExpected(ReadFixture("native/android_tombstone/expected_multiple.txt"));
  ASSERT_EQ(expected.size(), 2u);
  ASSERT_EQ(reports.size(), expected.size());
  for (size_t i = 0; i < reports.size(); ++i) {
    SCOPED_TRACE("tombstone " + std::to_string(i));
    EXPECT_EQ(reports[i].metadata["Build fingerprint"], expected[i].fingerprint);
    EXPECT_EQ(reports[i].os_version, expected[i].fingerprint);
    EXPECT_EQ(reports[i].application_specific_information, expected[i].abort_message);
    ExpectFramesMatch(reports[i], expected[i].frames);
  }
  // The symbol with spaces and parentheses keeps them; the offset is the last "+N".
  EXPECT_EQ(reports[1].threads[0].frames[0].symbol,
            "__sem_timedwait(sem_t*, timespec const*, bool)");

  // Registers: every "name hex" pair of the indented register lines, per tombstone, in order.
  std::vector<std::vector<std::pair<std::string, uint64_t>>> expected_regs;
  for (const std::string& line : Lines(text)) {
    if (line.rfind("*** ***", 0) == 0) expected_regs.emplace_back();
    std::istringstream in(line);
    std::vector<std::string> tokens;
    for (std::string tok; in >> tok;) tokens.push_back(tok);
    bool is_regs = line.rfind("    ", 0) == 0 && !tokens.empty() && tokens.size() % 2 == 0;
    for (size_t k = 0; is_regs && k < tokens.size(); k += 2) {
      is_regs = tokens[k + 1].size() >= 8 &&
                tokens[k + 1].find_first_not_of("0123456789abcdef") == std::string::npos;
    }
    for (size_t k = 0; is_regs && k < tokens.size(); k += 2) {
      expected_regs.back().emplace_back(tokens[k], std::stoull(tokens[k + 1], nullptr, 16));
    }
  }
  ASSERT_EQ(expected_regs.size(), 2u);
  EXPECT_EQ(expected_regs[0].size(), 33u);  // x0..x29, sp, lr, pc
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(reports[i].threads[0].registers, expected_regs[i]);
  }

  // Header fields.
  const CrashReport& arm64 = reports[0];
  EXPECT_EQ(arm64.code_type, "arm64");
  EXPECT_EQ(reports[1].code_type, "arm");
  EXPECT_EQ(arm64.exception_type, "SIGABRT");
  EXPECT_EQ(arm64.exception_reason, expected[0].abort_message);
  EXPECT_EQ(arm64.timestamp, "2019-10-10T21:15:11Z");
  EXPECT_EQ(arm64.threads[0].id, 11305u);
  EXPECT_EQ(arm64.threads[0].name, "bionic-unit-tes");
  EXPECT_EQ(arm64.metadata.at("process"), "/data/nativetest64/bionic-unit-tests/bionic-unit-tests");
  EXPECT_EQ(arm64.metadata.at("Revision"), "rev_a");
  EXPECT_EQ(reports[1].exception_type, "SIGSEGV");
  EXPECT_EQ(reports[1].exception_reason, "code 1 (SEGV_MAPERR), fault addr 0x4");
  EXPECT_EQ(reports[1].metadata.at("Cause"), "null pointer dereference");
}

TEST(TombstoneParserTest, HwasanAbortMessageStacksMatchNdkStack) {
  std::vector<CrashReport> reports = MustParse(ReadFixture("native/android_tombstone/hwasan.txt"));
  std::vector<ExpectedDump> expected =
      ParseExpected(ReadFixture("native/android_tombstone/expected_hwasan.txt"));
  ASSERT_EQ(reports.size(), 1u);
  ASSERT_EQ(expected.size(), 1u);
  ASSERT_EQ(expected[0].frames.size(), 4u);
  ExpectFramesMatch(reports[0], expected[0].frames);
  const CrashReport& r = reports[0];
  ASSERT_EQ(r.extra_stacks.size(), 2u);
  EXPECT_EQ(r.extra_stacks[0].title.rfind("WRITE of size 1", 0), 0u) << r.extra_stacks[0].title;
  EXPECT_EQ(r.extra_stacks[1].title, "allocated here:");
  // ndk-stack prints the abort message's first line; we keep all of it.
  EXPECT_EQ(r.exception_reason, expected[0].abort_message);
  EXPECT_EQ(r.application_specific_information.rfind(expected[0].abort_message, 0), 0u);
  EXPECT_NE(r.application_specific_information.find("allocated here:"), std::string::npos);
  EXPECT_EQ(r.threads.size(), 1u);
  EXPECT_EQ(r.threads[0].frames.size(), 1u);
}

std::string WithPrefix(const std::string& text, const std::string& prefix) {
  std::string out;
  for (const std::string& line : Lines(text)) out += prefix + line + "\n";
  return out;
}

TEST(TombstoneParserTest, LogcatPrefixesAreStripped) {
  std::string text = ReadFixture("native/android_tombstone/multiple.txt");
  std::vector<CrashReport> plain = MustParse(text);
  for (std::string prefix :
       {"01-02 03:04:05.678  1234  1234 F DEBUG   : ",
        "2019-10-10 21:15:11.123  1000  1234  1234 F DEBUG   : ", "F/DEBUG   ( 1234): ",
        "01-02 03:04:05.678 F/DEBUG   ( 1234): ", "F/DEBUG: ", "DEBUG   : "}) {
    SCOPED_TRACE(prefix);
    // Another process's log line in between is not part of the tombstone.
    std::string logcat =
        "01-02 03:04:05.600  999  999 I ActivityManager: Start proc 1234:com.x/u0a1 for:\n" +
        WithPrefix(text, prefix);
    std::vector<CrashReport> parsed = MustParse(logcat);
    ASSERT_EQ(parsed.size(), plain.size());
    for (size_t i = 0; i < parsed.size(); ++i) {
      EXPECT_EQ(parsed[i].metadata, plain[i].metadata);
      EXPECT_EQ(parsed[i].threads[0].registers, plain[i].threads[0].registers);
      std::vector<CrashFrame> a = AllFrames(parsed[i]), b = AllFrames(plain[i]);
      ASSERT_EQ(a.size(), b.size());
      for (size_t k = 0; k < a.size(); ++k) {
        EXPECT_EQ(a[k].instruction_addr, b[k].instruction_addr);
        EXPECT_EQ(a[k].module, b[k].module);
        EXPECT_EQ(a[k].symbol, b[k].symbol);
        EXPECT_EQ(a[k].build_id, b[k].build_id);
      }
    }
  }
  EXPECT_EQ(StripLogcatPrefix("ABI: 'arm64'"), "ABI: 'arm64'");
  EXPECT_EQ(StripLogcatPrefix("F DEBUG   : x"), "F DEBUG   : x");  // no time: not logcat
}

TEST(TombstoneParserTest, OtherFrameShapesAndThreads) {
  std::vector<CrashReport> reports = MustParse(
      "*** *** *** *** *** *** *** *** *** *** *** *** *** *** *** ***\n"
      "pid: 4242, tid: 4243, name: RenderThread  >>> com.example.app <<<\n"
      "signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0000000000000010\n"
      "\n"
      "backtrace:\n"
      "      #00 pc 000000000004a1f0  /data/app/~~x==/com.example.app-y==/lib/arm64/libdemo.so "
      "(Process(int)+48) (BuildId: 00112233445566778899aabbccddeeff01234567)\n"
      "      #01 pc 00000000000b5d2c  /data/app/~~x==/com.example.app-y==/base.apk!libdemo2.so "
      "(offset 0x2c000) (BuildId: abcdef)\n"
      "      #02 pc 000000000003b4c0  [anon:dalvik-classes.dex extracted in memory from "
      "/data/app/base.apk] (com.foo.Bar.baz+40)\n"
      "      #03 pc 0000000000001000  /memfd:jit-cache (deleted) (offset 0x2000000) "
      "(java.lang.Thread.run+160)\n"
      "      #04 pc 00000000000aa3b0  /apex/com.android.runtime/lib64/bionic/libc.so "
      "(operator+(Foo const&, Bar (*)(int))+12)\n"
      "      #05 pc 0000000000001234  <unknown>\n"
      "      NOTE: Function names and BuildId information is missing for some frames.\n"
      "\n"
      "memory near x0:\n"
      "    0000007ff9c2d700 0000000000000000 0000000000000000  ................\n"
      "      #09 pc 0000000000009999  /not/a/frame.so\n"
      "--- --- --- --- --- --- --- --- --- --- --- --- --- --- --- ---\n"
      "pid: 4242, tid: 4250, name: Binder  >>> com.example.app <<<\n"
      "    x0  0000000000000001  x1  0000000000000002\n"
      "backtrace:\n"
      "      #00 pc 00000000000d1234  /apex/com.android.runtime/lib64/bionic/libc.so "
      "(__ioctl+4)\n");
  ASSERT_EQ(reports.size(), 1u);
  const CrashReport& r = reports[0];
  ASSERT_EQ(r.threads.size(), 2u);
  EXPECT_EQ(r.threads[0].id, 4243u);
  EXPECT_EQ(r.threads[0].name, "RenderThread");
  EXPECT_TRUE(r.threads[0].crashed);
  EXPECT_FALSE(r.threads[1].crashed);
  EXPECT_EQ(r.threads[1].id, 4250u);
  EXPECT_EQ(r.threads[1].registers.size(), 2u);
  EXPECT_TRUE(r.threads[0].registers.empty());
  const auto& f = r.threads[0].frames;
  ASSERT_EQ(f.size(), 6u);
  EXPECT_EQ(f[0].symbol, "Process(int)");
  EXPECT_EQ(f[0].symbol_offset, 48u);
  EXPECT_EQ(f[0].build_id, "00112233445566778899aabbccddeeff01234567");
  EXPECT_EQ(f[1].module, "/data/app/~~x==/com.example.app-y==/base.apk!libdemo2.so");
  EXPECT_EQ(f[1].module_offset, 0x2c000u);
  EXPECT_TRUE(f[1].symbol.empty());
  EXPECT_EQ(f[2].module, "[anon:dalvik-classes.dex extracted in memory from /data/app/base.apk]");
  EXPECT_EQ(f[2].symbol, "com.foo.Bar.baz");
  EXPECT_EQ(f[3].module, "/memfd:jit-cache (deleted)");
  EXPECT_EQ(f[3].module_offset, 0x2000000u);
  EXPECT_EQ(f[3].symbol, "java.lang.Thread.run");
  EXPECT_EQ(f[4].symbol, "operator+(Foo const&, Bar (*)(int))");
  EXPECT_EQ(f[4].symbol_offset, 12u);
  EXPECT_EQ(f[5].module, "<unknown>");
  EXPECT_EQ(r.threads[1].frames.size(), 1u);
  EXPECT_EQ(r.exception_type, "SIGSEGV");
}

TEST(TombstoneParserTest, AsanFramesWithSymbolsAndSourceLines) {
  std::vector<CrashReport> reports = MustParse(
      "pid: 1, tid: 1, name: a  >>> a <<<\n"
      "Abort message: '==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x1\n"
      "READ of size 4 at 0x1 thread T0\n"
      "    #0 0x5555 in main /src/a.c:5:3\n"
      "    #1 0x7f00 in __libc_start_main (/lib/libc.so.6+0x21b97) (BuildId: abc123)\n"
      "    #2 0x1234  (<unknown module>)\n"
      "freed by thread T0 here:\n"
      "    #0 0x6666 in free (/lib/libasan.so+0x10)'\n"
      "backtrace:\n"
      "  #00 pc 0000000000001000  /lib/libc.so (abort+4)\n");
  ASSERT_EQ(reports.size(), 1u);
  const CrashReport& r = reports[0];
  ASSERT_EQ(r.extra_stacks.size(), 2u);
  EXPECT_EQ(r.extra_stacks[0].title, "READ of size 4 at 0x1 thread T0");
  const auto& a = r.extra_stacks[0].frames;
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].symbol, "main");
  EXPECT_EQ(a[0].filename, "/src/a.c");
  EXPECT_EQ(a[0].lineno, 5u);
  EXPECT_FALSE(a[0].addr_is_relative);
  EXPECT_EQ(a[0].instruction_addr, 0x5555u);
  EXPECT_EQ(a[1].symbol, "__libc_start_main");
  EXPECT_EQ(a[1].module, "/lib/libc.so.6");
  EXPECT_EQ(a[1].instruction_addr, 0x21b97u);
  EXPECT_TRUE(a[1].addr_is_relative);
  EXPECT_EQ(a[1].build_id, "abc123");
  EXPECT_EQ(a[2].instruction_addr, 0x1234u);
  EXPECT_EQ(r.extra_stacks[1].title, "freed by thread T0 here:");
  ASSERT_EQ(r.extra_stacks[1].frames.size(), 1u);
  EXPECT_EQ(r.extra_stacks[1].frames[0].module, "/lib/libasan.so");
  // The closing quote ends the message; the backtrace still belongs to the thread.
  EXPECT_EQ(r.threads[0].frames.size(), 1u);
  EXPECT_EQ(r.application_specific_information.back(), ')');
}

// --- Broken input -------------------------------------------------------------------------------

TEST(TombstoneParserTest, NotATombstoneIsRejectedWithItsLineNumber) {
  Result<std::vector<CrashReport>> r = ParseTombstones("\nhello\nworld: 1\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("line 2"), std::string::npos) << r.status().message();
  r = ParseTombstones("");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = ParseTombstones(ReadFixture("apple/crash_text/handcrafted.crash"));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(TombstoneParserTest, BinaryAndOversizedInput) {
  std::string text = "*** *** ***\n#00 pc 00001000  /a.so\n";
  text.push_back('\0');
  Result<std::vector<CrashReport>> r = ParseTombstones(text);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("line 3"), std::string::npos) << r.status().message();
  EXPECT_EQ(ParseTombstones(std::string(kMaxTombstoneBytes + 1, '#')).status().code(),
            StatusCode::kTooLarge);
  std::string many = "*** *** ***\n";
  for (size_t i = 0; i <= kMaxTombstoneFrames; ++i) many += "#00 pc 0 a\n";
  EXPECT_EQ(ParseTombstones(many).status().code(), StatusCode::kTooLarge);
}

TEST(TombstoneParserTest, HugeLinesStayLinear) {
  for (std::string unit : {"(", "+1)", " (BuildId: ", "#0 0x1 ", "'", ")"}) {
    std::string line;
    while (line.size() + unit.size() < kMaxTombstoneBytes - 64) line += unit;
    for (std::string prefix : {"#00 pc 1000 /a.so ", "Abort message: '", "    #0 0x1 (", ""}) {
      Result<std::vector<CrashReport>> r = ParseTombstones("*** *** ***\n" + prefix + line);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
    }
  }
}

TEST(TombstoneParserTest, EveryPrefixOfAFixtureParsesOrFailsCleanly) {
  for (const char* name : {"multiple.txt", "hwasan.txt", "backtrace.txt"}) {
    std::string text = ReadFixture(std::string("native/android_tombstone/") + name);
    for (size_t n = 0; n <= text.size(); n += 5) {
      Result<std::vector<CrashReport>> r = ParseTombstones(std::string_view(text).substr(0, n));
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << name << " " << n;
        continue;
      }
      for (const CrashReport& report : *r) {
        ASSERT_FALSE(report.threads.empty());
        EXPECT_EQ(report.crashed_thread, 0u);
      }
    }
  }
}

}  // namespace
}  // namespace vigil::process
