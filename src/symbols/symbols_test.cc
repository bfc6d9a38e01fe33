// Debug ids, Breakpad .sym lookups and symcache validation, held against tests/fixtures.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "common/file_util.h"
#include "symbols/breakpad_reader.h"
#include "symbols/debug_id.h"
#include "symbols/symbol_file.h"
#include "symbols/symcache.h"

namespace vigil::symbols {
namespace {

std::string Fixture(const std::string& rel) {
  Result<std::string> data = ReadFile(std::string(VIGIL_FIXTURES_DIR) + "/" + rel);
  EXPECT_TRUE(data.ok()) << rel;
  return data.ok() ? *data : std::string();
}

SymCache CacheOf(const std::string& sym_fixture) {
  Result<std::string> bytes = BuildSymCacheFromBreakpad(Fixture(sym_fixture), nullptr);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  Result<SymCache> cache = SymCache::FromBytes(std::move(*bytes));
  EXPECT_TRUE(cache.ok()) << cache.status().ToString();
  return std::move(*cache);
}

std::vector<SymbolFrame> Lookup(const SymCache& c, uint64_t addr) {
  std::vector<SymbolFrame> frames;
  c.Lookup(addr, &frames);
  return frames;
}

std::vector<uint8_t> Bytes(const std::string& hex) {
  Result<std::string> raw = HexDecode(hex);
  EXPECT_TRUE(raw.ok()) << hex;
  return std::vector<uint8_t>(raw->begin(), raw->end());
}

TEST(DebugIdTest, ElfBuildIdsFromTheMinidumpSnapshot) {
  // Every (code_id, debug_id) pair of the rust-minidump module list.
  std::string snap = Fixture("native/build_ids/rust-minidump_linux_json_pretty.snap");
  // std::regex trips GCC 12's -Wmaybe-uninitialized under ASan: scan by hand.
  int pairs = 0;
  size_t pos = 0;
  auto value_after = [&](const std::string& key, size_t from, size_t* at) {
    size_t k = snap.find("\"" + key + "\": \"", from);
    if (k == std::string::npos) return std::string();
    size_t start = k + key.size() + 5;
    *at = snap.find('"', start);
    return snap.substr(start, *at - start);
  };
  for (;;) {
    size_t at = 0;
    std::string code_id = value_after("code_id", pos, &at);
    if (code_id.empty()) break;
    std::string debug_id = value_after("debug_id", at, &pos);
    EXPECT_EQ(DebugId::FromElfBuildId(Bytes(code_id)).ToBreakpad(), debug_id) << code_id;
    ++pairs;
  }
  EXPECT_EQ(pairs, 8);
}

TEST(DebugIdTest, LinuxSymFilesModuleIdMatchesTheirCodeId) {
  for (const char* f : {"breakpad/linux_crash.sym", "breakpad/linux_inline.new.sym",
                        "breakpad/linux_inline.old.sym", "breakpad/linux_large_symbol.sym",
                        "breakpad/linux_libgallium_dri.sym"}) {
    Result<BreakpadModule> m = ReadBreakpadModule(Fixture(f));
    ASSERT_TRUE(m.ok()) << f;
    ASSERT_FALSE(m->code_id.empty()) << f;
    EXPECT_EQ(DebugId::FromElfBuildId(Bytes(m->code_id)), m->debug_id) << f;
  }
}

TEST(DebugIdTest, ParsesBothFormsAndFormatsBoth) {
  Result<DebugId> a = DebugId::Parse("33221100554477668899AABBCCDDEEFF0");
  Result<DebugId> b = DebugId::Parse("33221100-5544-7766-8899-aabbccddeeff");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(a->ToString(), "33221100-5544-7766-8899-aabbccddeeff");
  Result<DebugId> aged = DebugId::Parse("3249D99D0C4049318610F4E4FB0B69361");
  ASSERT_TRUE(aged.ok());
  EXPECT_EQ(aged->age, 1u);
  EXPECT_EQ(aged->ToString(), "3249d99d-0c40-4931-8610-f4e4fb0b6936-1");
  EXPECT_EQ(aged->ToBreakpad(), "3249D99D0C4049318610F4E4FB0B69361");
  EXPECT_EQ(DebugId::Parse(aged->ToString())->ToBreakpad(), aged->ToBreakpad());
  // The ELF rule of docs/symbols.md, and zero-padding of short build ids.
  EXPECT_EQ(DebugId::FromElfBuildId(Bytes("00112233445566778899aabbccddeeff01234567")).ToString(),
            "33221100-5544-7766-8899-aabbccddeeff");
  EXPECT_EQ(DebugId::FromElfBuildId(Bytes("10FAA6BBAAB83DB3")).ToBreakpad(),
            "BBA6FA10B8AAB33D00000000000000000");
  for (const char* bad : {"", "xyz", "3322110055447766", "33221100-5544-7766-8899",
                          "33221100554477668899AABBCCDDEEFF0123456789"}) {
    EXPECT_FALSE(DebugId::Parse(bad).ok()) << bad;
  }
}

void ExpectFrame(const SymbolFrame& f, std::string_view function, std::string_view file,
                 uint32_t line) {
  EXPECT_EQ(f.function, function);
  EXPECT_EQ(f.file, file);
  EXPECT_EQ(f.line, line);
}

TEST(BreakpadTest, NewInlineSyntax) {
  SymCache c = CacheOf("breakpad/linux_inline.new.sym");
  std::vector<SymbolFrame> f = Lookup(c, 0x161b6);
  ASSERT_EQ(f.size(), 4u);
  ExpectFrame(f[0], "func()", "linux_inline.cpp", 27);
  ExpectFrame(f[1], "bar()", "c.cpp", 32);
  ExpectFrame(f[2], "foo()", "b.cpp", 39);
  ExpectFrame(f[3], "main", "a.cpp", 42);
  EXPECT_EQ(f[3].function_addr, 0x15b30u);
  EXPECT_EQ(f[0].function_addr, 0x15b83u);
  EXPECT_EQ(f[1].function_addr, 0x15b72u);
  EXPECT_EQ(f[2].function_addr, 0x15b45u);
}

TEST(BreakpadTest, LegacyInlineSyntaxKeepsTheLineRecordsFile) {
  SymCache c = CacheOf("breakpad/linux_inline.old.sym");
  std::vector<SymbolFrame> f = Lookup(c, 0x161b6);
  ASSERT_EQ(f.size(), 4u);
  ExpectFrame(f[0], "func()", "linux_inline.cpp", 27);
  ExpectFrame(f[1], "bar()", "linux_inline.cpp", 32);
  ExpectFrame(f[2], "foo()", "linux_inline.cpp", 39);
  ExpectFrame(f[3], "main", "linux_inline.cpp", 42);
}

TEST(BreakpadTest, MacosAndWindowsLookups) {
  SymCache mac = CacheOf("breakpad/macos_crash.sym");
  std::vector<SymbolFrame> f = Lookup(mac, 0x1a2a);
  ASSERT_EQ(f.size(), 1u);
  ExpectFrame(f[0], "google_breakpad::MinidumpFileWriter::Copy(unsigned int, void const*, long)",
              "/Users/travis/build/getsentry/breakpad-tools/deps/breakpad/src/client/"
              "minidump_file_writer.cc",
              312);
  SymCache win = CacheOf("breakpad/windows_crash.sym");
  f = Lookup(win, 0x2112);
  ASSERT_EQ(f.size(), 1u);
  ExpectFrame(f[0],
              "google_breakpad::ExceptionHandler::WriteMinidumpWithException(unsigned long,_"
              "EXCEPTION_POINTERS *,MDRawAssertionInfo *)",
              "c:\\projects\\breakpad-tools\\deps\\breakpad\\src\\client\\windows\\handler\\"
              "exception_handler.cc",
              846);
  EXPECT_EQ(win.address_bits(), 32u);
  EXPECT_EQ(win.code_id(), "5ab380779000");
  EXPECT_EQ(win.debug_id().ToString(), "3249d99d-0c40-4931-8610-f4e4fb0b6936-1");
  EXPECT_EQ(win.name(), "crash.pdb");
  EXPECT_EQ(win.arch(), "x86");
}

TEST(BreakpadTest, PublicSymbolCoversUpToTheNextSymbol) {
  SymCache c = CacheOf("breakpad/linux_crash.sym");
  std::vector<SymbolFrame> f = Lookup(c, 0x1d72);
  ASSERT_EQ(f.size(), 1u);
  ExpectFrame(f[0], "main", "", 0);
  EXPECT_EQ(f[0].function_addr, 0x1c70u);  // main + 0x102
}

TEST(BreakpadTest, MinidumpStackwalkFramesWithTheCallerRule) {
  // minidump2.stackwalk.out: frame 0 as is, caller frames at return address - 1.
  SymCache c = CacheOf("breakpad/windows_test_app.sym");
  std::string walk = Fixture("native/breakpad_stackwalk/minidump2.stackwalk.out");
  // Frame lines: "<n>  test_app.exe!<function> [<file> : <line> + 0x<off>]", then "eip = 0x..".
  std::istringstream in(walk);
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    size_t bang = line.find("test_app.exe!");
    size_t bracket = line.rfind(" [");
    if (bang == std::string::npos || bracket == std::string::npos) continue;
    int index = std::stoi(line.substr(0, bang));
    std::string function = line.substr(bang + 13, bracket - bang - 13);
    std::string where = line.substr(bracket + 2);  // "test_app.cc : 58 + 0x3]"
    std::string file = where.substr(0, where.find(" : "));
    uint32_t lno = static_cast<uint32_t>(std::stoul(where.substr(where.find(" : ") + 3)));
    std::string regs;
    std::getline(in, regs);
    uint64_t eip = std::stoull(regs.substr(regs.find("eip = 0x") + 8), nullptr, 16);
    uint64_t rva = eip - 0x400000;
    std::vector<SymbolFrame> f = Lookup(c, index == 0 ? rva : rva - 1);
    ASSERT_FALSE(f.empty()) << line;
    EXPECT_EQ(f.back().function, function);
    EXPECT_TRUE(f[0].file.ends_with(file)) << f[0].file;
    EXPECT_EQ(f[0].line, lno) << line;
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

// symbolic's test_macos_all: every line record resolves to its FUNC, file and line. The
// expected values come from parsing the file here, independently of the reader.
TEST(BreakpadTest, EveryLineRecordOfMacosCrashResolvesToItself) {
  std::string text = Fixture("breakpad/macos_crash.sym");
  SymCache c = CacheOf("breakpad/macos_crash.sym");
  std::map<std::string, std::string> files;
  std::istringstream in(text);
  std::string line, func;
  int checked = 0;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string kw;
    ls >> kw;
    if (kw == "FILE") {
      std::string id, name;
      ls >> id;
      std::getline(ls, name);
      files[id] = name.substr(1);
    } else if (kw == "FUNC") {
      std::string addr, size, param;
      ls >> addr >> size >> param;
      std::getline(ls, func);
      func = func.substr(1);
    } else if (!kw.empty() && std::isxdigit(static_cast<unsigned char>(kw[0])) && kw != "PUBLIC" &&
               kw != "STACK" && kw != "MODULE") {
      std::string size, lno, file;
      ls >> size >> lno >> file;
      uint64_t addr = std::stoull(kw, nullptr, 16);
      std::vector<SymbolFrame> f = Lookup(c, addr);
      ASSERT_EQ(f.size(), 1u) << line;
      EXPECT_EQ(f[0].function, func);
      EXPECT_EQ(f[0].line, std::stoul(lno)) << line;
      // The reader cleans "dir/../" out of paths; compare the last component.
      std::string want = files[file];
      EXPECT_EQ(std::string(f[0].file.substr(f[0].file.rfind('/') + 1)),
                want.substr(want.rfind('/') + 1));
      ++checked;
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST(BreakpadTest, EveryFixtureLoadsIncludingCrlfAndHugeNames) {
  for (const char* f :
       {"android_mips_crash_example.sym", "linux_crash.sym", "linux_inline.new.sym",
        "linux_inline.old.sym", "linux_large_symbol.sym", "linux_libgallium_dri.sym",
        "macos_crash.inlines.sym", "macos_crash.sym", "windows_crash.sym",
        "windows_pe_only_symbol_test.sym", "windows_test_app.sym",
        "windows_x64_CrashWithException.pdb.sym", "windows_xul2.sym"}) {
    std::string data = Fixture(std::string("breakpad/") + f);
    BreakpadModule m;
    Result<std::string> bytes = BuildSymCacheFromBreakpad(data, &m);
    ASSERT_TRUE(bytes.ok()) << f << ": " << bytes.status().ToString();
    EXPECT_TRUE(SymCache::FromBytes(std::move(*bytes)).ok()) << f;
  }
  // CRLF file: the INFO line's code id has no stray '\r'.
  Result<BreakpadModule> pe =
      ReadBreakpadModule(Fixture("breakpad/windows_pe_only_symbol_test.sym"));
  ASSERT_TRUE(pe.ok());
  EXPECT_EQ(pe->code_id, "5c8ad05f12000");
  EXPECT_EQ(pe->name, "pe_only_symbol_test.pdb");
  // The 155 KB function name survives whole.
  SymCache large = CacheOf("breakpad/linux_large_symbol.sym");
  size_t longest = 0;
  for (uint64_t a = 0; a < 0x100000; a += 0x10) {
    std::vector<SymbolFrame> f = Lookup(large, a);
    if (!f.empty()) longest = std::max(longest, f[0].function.size());
  }
  EXPECT_GT(longest, 150000u);
}

TEST(BreakpadTest, BrokenFilesGiveErrorsNamingTheLine) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& c : std::vector<Case>{
           {"", "empty"},
           {"hello\n", "first line must be 'MODULE"},
           {"MODULE Linux x86_64 nothex name\n", "bad debug id"},
           {"MODULE Linux x86_64 33221100554477668899AABBCCDDEEFF0 a\nFUNC zz 10 0 f\n", "line 2"},
           {"MODULE Linux x86_64 33221100554477668899AABBCCDDEEFF0 a\n1000 10 3 0\n",
            "line record before any FUNC"},
           {"MODULE Linux x86_64 33221100554477668899AABBCCDDEEFF0 a\nFUNC 10 10 0 f\nbogus\n",
            "line 3"},
           {"MODULE Linux x86_64 33221100554477668899AABBCCDDEEFF0 a\nINLINE 0 1 0 0 10 2\n",
            "INLINE record before any FUNC"},
       }) {
    Result<std::string> r = BuildSymCacheFromBreakpad(c.text, nullptr);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.status().message().find(c.error), std::string::npos) << r.status().message();
  }
}

TEST(BreakpadTest, TruncatedFilesNeverCrash) {
  std::string data = Fixture("breakpad/linux_inline.new.sym");
  for (size_t cut = 0; cut < data.size(); cut += 7) {
    Result<std::string> r = BuildSymCacheFromBreakpad(data.substr(0, cut), nullptr);
    if (r.ok()) {
      Result<SymCache> c = SymCache::FromBytes(std::move(*r));
      ASSERT_TRUE(c.ok());
      Lookup(*c, 0x161b6);
    }
  }
}

TEST(SymCacheTest, CorruptBytesAreRejectedOrHarmless) {
  Result<std::string> bytes =
      BuildSymCacheFromBreakpad(Fixture("breakpad/linux_inline.new.sym"), nullptr);
  ASSERT_TRUE(bytes.ok());
  std::mt19937 rng(7);
  int rejected = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string copy = *bytes;
    size_t pos = rng() % copy.size();
    copy[pos] = static_cast<char>(rng());
    if (round % 10 == 0) copy.resize(rng() % copy.size());
    Result<SymCache> c = SymCache::FromBytes(std::move(copy));
    if (!c.ok()) {
      ++rejected;
      continue;
    }
    for (uint64_t a : {0x0ull, 0x15b30ull, 0x161b6ull, 0x20000ull}) Lookup(*c, a);
  }
  EXPECT_GT(rejected, 100);
  Result<SymCache> wrong_version = SymCache::FromBytes([&] {
    std::string v = *bytes;
    v[8] = 9;
    return v;
  }());
  ASSERT_FALSE(wrong_version.ok());
  EXPECT_NE(wrong_version.status().message().find("rebuild it"), std::string::npos);
}

TEST(SymbolFileTest, DetectsKindsByContent) {
  EXPECT_EQ(DetectSymbolFileKind("MODULE Linux x86 00 a"), SymbolFileKind::kBreakpad);
  EXPECT_EQ(DetectSymbolFileKind(std::string("\x7f"
                                             "ELF\x02\x01\x01",
                                             7)),
            SymbolFileKind::kObject);
  EXPECT_EQ(DetectSymbolFileKind("# compiler: R8\n"), SymbolFileKind::kUnknown);
  Result<std::vector<BuiltSymCache>> bad = BuildSymCaches(
      "\x7f"
      "ELF garbage",
      "x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not a readable object file"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace vigil::symbols
