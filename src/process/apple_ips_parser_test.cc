// ParseAppleIpsReport against the lldb fixtures (tests/fixtures/apple/ips, PROVENANCE.md §3.2):
// the .ips and the .crash of the same crash must agree frame by frame, image by image and
// register by register, with the expected values computed here from both files (the JSON is
// read independently with simdjson). Plus synthetic shapes and broken input.
#include "process/apple_ips_parser.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "process/apple_crash_parser.h"
#include "process/report_text.h"

namespace vigil::process {
namespace {

namespace dom = simdjson::dom;

std::string ReadFixture(const std::string& relative) {
  std::ifstream in(std::string(VIGIL_FIXTURES_DIR) + "/" + relative, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << relative;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CrashReport MustParseIps(std::string_view text) {
  Result<CrashReport> r = ParseAppleIpsReport(text);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : CrashReport();
}

// The value of a lookup the fixture is known to have.
template <typename T>
T Get(simdjson::simdjson_result<T> r) {
  T value{};
  EXPECT_EQ(std::move(r).get(value), simdjson::SUCCESS);
  return value;
}

// The fixture's body as a DOM, for computing expected values independently of the parser.
class IpsBody {
 public:
  explicit IpsBody(const std::string& ips) {
    std::string body = ips.substr(ips.find('\n') + 1);
    EXPECT_EQ(parser_.parse(body).get(root_), simdjson::SUCCESS);
  }
  dom::element operator[](std::string_view key) { return Get(root_[key]); }

 private:
  dom::parser parser_;
  dom::element root_;
};

struct Pair {
  CrashReport ips;
  CrashReport crash;
  std::string ips_text;
};

Pair LoadMultithread() {
  Pair p;
  p.ips_text = ReadFixture("apple/ips/multithread-test.ips");
  p.ips = MustParseIps(p.ips_text);
  Result<CrashReport> crash =
      ParseAppleCrashReport(ReadFixture("apple/ips/multithread-test.crash"));
  EXPECT_TRUE(crash.ok()) << crash.status().ToString();
  if (crash.ok()) p.crash = std::move(crash).value();
  return p;
}

TEST(AppleIpsParserTest, EveryFrameMatchesTheSameCrashInTextForm) {
  Pair p = LoadMultithread();
  ASSERT_EQ(p.ips.threads.size(), p.crash.threads.size());
  size_t frames = 0;
  for (size_t t = 0; t < p.ips.threads.size(); ++t) {
    const auto& a = p.ips.threads[t].frames;
    const auto& b = p.crash.threads[t].frames;
    ASSERT_EQ(a.size(), b.size()) << "thread " << t;
    for (size_t i = 0; i < a.size(); ++i) {
      SCOPED_TRACE("thread " + std::to_string(t) + " frame " + std::to_string(i));
      EXPECT_EQ(a[i].instruction_addr, b[i].instruction_addr);
      EXPECT_EQ(a[i].module, b[i].module);
      EXPECT_EQ(a[i].symbol, b[i].symbol);
      EXPECT_EQ(a[i].symbol_offset, b[i].symbol_offset);
      EXPECT_EQ(a[i].filename, b[i].filename);
      EXPECT_EQ(a[i].lineno, b[i].lineno);
      ASSERT_TRUE(a[i].image_index.has_value());
      EXPECT_EQ(p.ips.images[*a[i].image_index].name, a[i].module);
      ++frames;
    }
  }
  EXPECT_EQ(frames, 30u);
  // The example PROVENANCE.md spells out.
  const CrashFrame& f = p.ips.threads[2].frames[0];
  EXPECT_EQ(f.instruction_addr, 0x100ec58f4u);
  EXPECT_EQ(f.symbol, "bar(int)");
  EXPECT_EQ(f.symbol_offset, 20u);
  EXPECT_EQ(f.filename, "multithread-test.cpp");
  EXPECT_EQ(f.lineno, 7u);
}

TEST(AppleIpsParserTest, AddressesAreImageBasePlusOffsetFromTheJson) {
  Pair p = LoadMultithread();
  IpsBody body(p.ips_text);
  dom::array used = Get(body["usedImages"].get_array());
  dom::array threads = Get(body["threads"].get_array());
  size_t t = 0;
  for (dom::element thread : threads) {
    size_t i = 0;
    dom::array frames = Get(thread["frames"].get_array());
    for (dom::element frame : frames) {
      uint64_t index = Get(frame["imageIndex"].get_uint64());
      uint64_t offset = Get(frame["imageOffset"].get_uint64());
      uint64_t base = Get(used.at(index)["base"].get_uint64());
      EXPECT_EQ(p.ips.threads[t].frames[i].instruction_addr, base + offset);
      ++i;
    }
    ++t;
  }
  EXPECT_EQ(t, 3u);
}

TEST(AppleIpsParserTest, ImagesMatchBinaryImagesAndPlaceholdersAreDropped) {
  Pair p = LoadMultithread();
  IpsBody body(p.ips_text);
  size_t real = 0;
  dom::array used = Get(body["usedImages"].get_array());
  for (dom::element e : used) {
    std::string_view source = Get(e["source"].get_string());
    if (source != "A") ++real;
  }
  ASSERT_EQ(p.ips.images.size(), real);
  ASSERT_LT(real, used.size());  // one "A" entry
  for (const CrashImage& img : p.ips.images) {
    SCOPED_TRACE(img.name);
    auto it = std::find_if(p.crash.images.begin(), p.crash.images.end(),
                           [&](const CrashImage& c) { return c.uuid == img.uuid; });
    ASSERT_NE(it, p.crash.images.end());
    EXPECT_EQ(it->addr, img.addr);
    EXPECT_EQ(it->name, img.name);
    EXPECT_EQ(it->path, img.path);
    EXPECT_NE(img.uuid, "00000000-0000-0000-0000-000000000000");
  }
  // The header's slice_uuid is the main binary's uuid, and that image is the in-app one.
  std::string slice = p.ips.metadata["slice_uuid"];
  size_t in_app = 0;
  for (const CrashImage& img : p.ips.images) {
    EXPECT_EQ(img.in_app, img.uuid == slice) << img.name;
    in_app += img.in_app;
    if (img.in_app) {
      EXPECT_EQ(img.path, p.ips.metadata["procPath"]);
    }
  }
  EXPECT_EQ(in_app, 1u);
}

TEST(AppleIpsParserTest, FaultingThreadIsAnIndexAndRegistersKeepAll64Bits) {
  Pair p = LoadMultithread();
  IpsBody body(p.ips_text);
  uint64_t faulting = Get(body["faultingThread"].get_uint64());
  ASSERT_TRUE(p.ips.crashed_thread.has_value());
  EXPECT_EQ(*p.ips.crashed_thread, faulting);
  EXPECT_EQ(p.ips.crashed_thread, p.crash.crashed_thread);
  const CrashThread& crashed = p.ips.threads[*p.ips.crashed_thread];
  EXPECT_TRUE(crashed.crashed);
  // The thread id is the kernel's, not the index.
  EXPECT_NE(crashed.id, faulting);
  EXPECT_EQ(crashed.id, Get(body["threads"].at(faulting)["id"].get_uint64()));
  EXPECT_EQ(p.ips.threads[0].name, p.crash.threads[0].name);  // the dispatch queue

  // Every register the text report prints has the same value in the .ips.
  std::map<std::string, uint64_t> ips_regs(crashed.registers.begin(), crashed.registers.end());
  const auto& text_regs = p.crash.threads[*p.crash.crashed_thread].registers;
  ASSERT_GE(text_regs.size(), 34u);
  bool above_2_53 = false;
  for (const auto& [name, value] : text_regs) {
    ASSERT_TRUE(ips_regs.count(name)) << name;
    EXPECT_EQ(ips_regs[name], value) << name;
    above_2_53 |= value > (uint64_t{1} << 53);
  }
  EXPECT_TRUE(above_2_53) << "the fixture's x10 needs all 64 bits";
}

TEST(AppleIpsParserTest, HeaderAndExceptionFieldsAgreeWithTheTextForm) {
  Pair p = LoadMultithread();
  EXPECT_EQ(p.ips.exception_type, p.crash.exception_type);
  EXPECT_EQ(p.ips.exception_reason, p.crash.exception_reason);
  EXPECT_EQ(p.ips.code_type, p.crash.code_type);
  EXPECT_EQ(p.ips.timestamp, p.crash.timestamp);  // captureTime == Date/Time
  EXPECT_EQ(p.ips.incident_identifier,
            text::AsciiLower(p.ips.metadata["incident"]));  // body incident, lower-cased
  EXPECT_EQ(p.ips.metadata["bug_type"], "309");
  EXPECT_EQ(p.ips.metadata["exception.signal"], "SIGSEGV");
  EXPECT_EQ(p.ips.os_version, p.ips.metadata["os_version"]);
}

TEST(AppleIpsParserTest, LastExceptionBacktraceMatchesAsiBacktraces) {
  std::string text = ReadFixture("apple/ips/asi-last-exception-backtrace.ips");
  CrashReport r = MustParseIps(text);
  EXPECT_EQ(r.exception_type, "EXC_CRASH");
  EXPECT_NE(r.application_specific_information.find("NSRangeException"), std::string::npos);
  EXPECT_NE(r.application_specific_information.find("abort() called"), std::string::npos);
  ASSERT_EQ(r.extra_stacks.size(), 1u);
  const auto& leb = r.extra_stacks[0].frames;

  // asiBacktraces is the same stack as text: parse it with the .crash frame parser.
  Result<CrashReport> asi = ParseAppleCrashReport("Thread 0:\n" + r.metadata["asiBacktraces"]);
  ASSERT_TRUE(asi.ok()) << asi.status().ToString();
  const auto& printed = asi->threads[0].frames;
  ASSERT_EQ(leb.size(), printed.size());
  ASSERT_EQ(leb.size(), 7u);
  for (size_t i = 0; i < leb.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(leb[i].symbol, printed[i].symbol);
    EXPECT_EQ(leb[i].module, printed[i].module);
    ASSERT_TRUE(leb[i].symbol_offset && printed[i].symbol_offset);
    // Same function start in both; frame 0 differs by 12 bytes in the source data.
    EXPECT_EQ(leb[i].instruction_addr - *leb[i].symbol_offset,
              printed[i].instruction_addr - *printed[i].symbol_offset);
    if (i > 0) {
      EXPECT_EQ(leb[i].instruction_addr, printed[i].instruction_addr);
    }
  }
  EXPECT_EQ(printed[0].instruction_addr - leb[0].instruction_addr, 12u);
  ASSERT_TRUE(r.crashed_thread.has_value());
  EXPECT_EQ(r.threads[*r.crashed_thread].name, "com.apple.main-thread");
}

constexpr std::string_view kHeader =
    R"({"bug_type":"309","app_name":"A","slice_uuid":"0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"})";

TEST(AppleIpsParserTest, InlineFramesPlaceholdersAndFullWidthRegisters) {
  std::string text = std::string(kHeader) + "\n" + R"json({
    "faultingThread": 0,
    "threads": [{"id": 7, "name": "worker", "queue": "q",
      "frames": [
        {"imageIndex": 1, "imageOffset": 100, "symbol": "inlined()", "symbolLocation": 4,
         "inline": true, "sourceFile": "a.cpp", "sourceLine": 3},
        {"imageIndex": 1, "imageOffset": 100, "symbol": "outer()", "symbolLocation": 12},
        {"imageIndex": 0, "imageOffset": 4096},
        {"imageIndex": 9, "imageOffset": 5},
        {"imageOffset": 6},
        "not a frame"],
      "threadState": {"flavor": "ARM_THREAD_STATE64",
        "pc": {"value": 18446744073709551615}, "lr": {"value": -1},
        "x": [{"value": 1}, {"value": 9007199254740993}]}}],
    "usedImages": [
      {"source": "A", "base": 0, "size": 0, "uuid": "00000000-0000-0000-0000-000000000000"},
      {"source": "P", "base": 4096, "size": 8192, "name": "A", "arch": "arm64",
       "uuid": "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9", "CFBundleShortVersionString": "1.2"}]
  })json";
  CrashReport r = MustParseIps(text);
  ASSERT_EQ(r.images.size(), 1u);
  EXPECT_TRUE(r.images[0].in_app);
  EXPECT_EQ(r.images[0].version, "1.2");
  ASSERT_EQ(r.threads.size(), 1u);
  const CrashThread& t = r.threads[0];
  EXPECT_EQ(t.name, "worker");
  EXPECT_EQ(t.id, 7u);
  ASSERT_EQ(t.frames.size(), 5u);
  EXPECT_TRUE(t.frames[0].inlined);
  EXPECT_FALSE(t.frames[1].inlined);
  EXPECT_EQ(t.frames[0].instruction_addr, t.frames[1].instruction_addr);
  EXPECT_EQ(t.frames[0].instruction_addr, 4196u);
  EXPECT_EQ(t.frames[0].image_index, 0);
  EXPECT_EQ(t.frames[0].lineno, 3u);
  EXPECT_EQ(t.frames[2].instruction_addr, 4096u);  // placeholder image: base 0
  EXPECT_FALSE(t.frames[2].image_index.has_value());
  EXPECT_FALSE(t.frames[3].image_index.has_value());  // index out of range
  EXPECT_EQ(t.frames[4].instruction_addr, 6u);
  std::map<std::string, uint64_t> regs(t.registers.begin(), t.registers.end());
  EXPECT_EQ(regs["pc"], UINT64_MAX);
  EXPECT_EQ(regs["x1"], 9007199254740993u);  // 2^53 + 1: a double would round it
  EXPECT_EQ(regs.count("lr"), 0u);           // negative: not a register value
  EXPECT_EQ(regs.count("flavor"), 0u);
}

TEST(AppleIpsParserTest, LegacyBugType109CarriesTheTextReport) {
  std::string text = R"({"bug_type":"109","app_name":"YetAnotherMac"})" + std::string("\n") +
                     ReadFixture("apple/crash_text/handcrafted.crash");
  CrashReport r = MustParseIps(text);
  EXPECT_EQ(r.metadata["app_name"], "YetAnotherMac");
  EXPECT_EQ(r.threads.size(), 2u);
  EXPECT_EQ(r.images.size(), 5u);
}

// --- Broken input -------------------------------------------------------------------------------

Status ParseStatus(std::string_view text) { return ParseAppleIpsReport(text).status(); }

TEST(AppleIpsParserTest, OtherBugTypesAreUnsupported) {
  Status s = ParseStatus(R"({"bug_type":"288","name":"stackshot"})"
                         "\n{}");
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("288"), std::string::npos) << s.message();
  s = ParseStatus(R"({"bug_type":210})"
                  "\n{}");
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
}

TEST(AppleIpsParserTest, InvalidBodyJsonIsInvalidArgument) {
  std::string text = ReadFixture("apple/ips/multithread-test.ips");
  // Cut the body in half: valid header, invalid body.
  Status s = ParseStatus(std::string_view(text).substr(0, text.size() / 2));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("body"), std::string::npos) << s.message();

  s = ParseStatus(std::string(kHeader) + "\n{\"threads\": [1, 2,]}");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = ParseStatus(std::string(kHeader) + "\n[1, 2]");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = ParseStatus(std::string(kHeader) + "\n   \n");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("line 2"), std::string::npos) << s.message();
  s = ParseStatus(std::string(kHeader));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  // A register over 2^64 - 1 is not silently rounded.
  s = ParseStatus(std::string(kHeader) +
                  "\n{\"threads\":[{\"threadState\":{\"pc\":{\"value\":18446744073709551616}}}]}");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

TEST(AppleIpsParserTest, HeaderThatIsNotJsonNamesLineOne) {
  for (std::string_view text :
       {std::string_view("Incident Identifier: x\nThread 0:\n"), std::string_view("[1]\n{}"),
        std::string_view("{}\n{}"), std::string_view(""), std::string_view("\x01\x02")}) {
    Status s = ParseStatus(text);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << text;
    if (!text.empty()) {
      EXPECT_NE(s.message().find("line 1"), std::string::npos) << s.message();
    }
  }
  std::string nul = std::string(kHeader) + "\n{\"a\":\"";
  nul.push_back('\0');
  nul += "\"}";
  EXPECT_EQ(ParseStatus(nul).code(), StatusCode::kInvalidArgument);
}

TEST(AppleIpsParserTest, OversizedInputIsTooLarge) {
  std::string text(kHeader);
  text += "\n{\"pad\":\"";
  text.append(kMaxAppleIpsReportBytes, 'a');
  text += "\"}";
  EXPECT_EQ(ParseStatus(text).code(), StatusCode::kTooLarge);
}

TEST(AppleIpsParserTest, EveryPrefixOfAFixtureParsesOrFailsCleanly) {
  std::string text = ReadFixture("apple/ips/asi-last-exception-backtrace.ips");
  size_t ok = 0;
  for (size_t n = 0; n <= text.size(); n += 13) {
    Result<CrashReport> r = ParseAppleIpsReport(std::string_view(text).substr(0, n));
    if (r.ok()) ++ok;
  }
  Result<CrashReport> whole = ParseAppleIpsReport(text);
  EXPECT_TRUE(whole.ok());
  EXPECT_LE(ok, 2u);  // only (nearly) the whole file is valid JSON
}

}  // namespace
}  // namespace vigil::process
