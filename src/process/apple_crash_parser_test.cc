// ParseAppleCrashReport against the upstream parser's snapshots (tests/fixtures/apple/crash_text,
// see PROVENANCE.md §3.1), plus the shapes the fixtures do not cover and broken input.
//
// The snapshot comparison renders our CrashReport in the snapshot's YAML shape and compares line
// by line after decoding YAML quoting on both sides. Where upstream's model differs from ours the
// renderer maps ours onto theirs, and each mapping is named in RenderSnapshot:
// - upstream lifts Path and Report Version out of metadata; we keep every header key in
//   metadata, so the renderer lifts them (and drops the keys that have their own field).
// - upstream's incident id defaults to the nil UUID and report_version to 0 when absent.
// - upstream's image size is end - start (one less than the true size we store).
// - upstream keeps PLCrashReporter's arch "(x86_64)" verbatim; we store "x86_64". This is the one
//   place the expected text is adjusted (NormalizeExpectedLine).
// Upstream has no symbol offsets, image in_app flags, thread state for threads other than by id,
// or exception fields beyond metadata; those are checked by the other tests below.
#include "process/apple_crash_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
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

CrashReport MustParse(std::string_view text) {
  Result<CrashReport> r = ParseAppleCrashReport(text);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : CrashReport();
}

// A scalar in one comparable form: '\\' and '\n' escaped, nothing else.
std::string Canonical(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// A YAML scalar as written by the snapshot tool: "double-quoted", 'single-quoted' or plain.
std::string DecodeYamlScalar(std::string_view v) {
  std::string out;
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    v = v.substr(1, v.size() - 2);
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] != '\\' || i + 1 == v.size()) {
        out.push_back(v[i]);
        continue;
      }
      char e = v[++i];
      switch (e) {
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case '0':
          out.push_back('\0');
          break;
        case 'u':
        case 'x': {
          size_t n = e == 'u' ? 4 : 2;
          uint64_t cp = 0;
          EXPECT_TRUE(text::ParseHex(v.substr(i + 1, n), &cp)) << v;
          AppendUtf8(static_cast<uint32_t>(cp), &out);
          i += n;
          break;
        }
        default:  // \" \\ \/
          out.push_back(e);
      }
    }
    return out;
  }
  if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') {
    v = v.substr(1, v.size() - 2);
    for (size_t i = 0; i < v.size(); ++i) {
      out.push_back(v[i]);
      if (v[i] == '\'' && i + 1 < v.size() && v[i + 1] == '\'') ++i;
    }
    return out;
  }
  return std::string(v);
}

// "  - key: value" → the same with the value in Canonical form. Lines without a scalar
// ("threads:") are kept as they are.
std::string NormalizeExpectedLine(std::string_view line) {
  size_t p = line.find_first_not_of(' ');
  if (p == std::string_view::npos) return std::string(line);
  if (line.substr(p, 2) == "- ") p += 2;
  size_t colon = line.find(": ", p);
  if (colon == std::string_view::npos) return std::string(line);
  std::string key(line.substr(0, colon));
  std::string value = DecodeYamlScalar(line.substr(colon + 2));
  // PLCrashReporter's parenthesized arch, which we normalize (see the file comment).
  if (key.ends_with(" arch") && value.size() > 2 && value.front() == '(' && value.back() == ')') {
    value = value.substr(1, value.size() - 2);
  }
  return key + ": " + Canonical(value);
}

// The snapshot's body: everything after the `---` header block.
std::vector<std::string> ExpectedSnapshotLines(const std::string& snap) {
  std::vector<std::string> lines;
  std::istringstream in(snap);
  std::string line;
  int separators = 0;
  while (std::getline(in, line)) {
    if (separators < 2) {
      separators += line == "---";
      continue;
    }
    if (!line.empty()) lines.push_back(NormalizeExpectedLine(line));
  }
  return lines;
}

class SnapshotRenderer {
 public:
  std::vector<std::string> Render(const CrashReport& r);

 private:
  void Line(int indent, bool item, std::string_view key, std::string_view value) {
    std::string l(indent, ' ');
    if (item) l += "- ";
    l += key;
    l += ": ";
    l += Canonical(value);
    lines_.push_back(std::move(l));
  }
  void Heading(int indent, std::string_view key) {
    lines_.push_back(std::string(indent, ' ') + std::string(key) + ":");
  }

  std::vector<std::string> lines_;
};

std::vector<std::string> SnapshotRenderer::Render(const CrashReport& r) {
  auto meta = [&](const std::string& key) {
    auto it = r.metadata.find(key);
    return it == r.metadata.end() ? std::string() : it->second;
  };
  // Upstream: nil UUID when absent.
  Line(0, false, "incident_identifier",
       r.incident_identifier.empty() ? "00000000-0000-0000-0000-000000000000"
                                     : r.incident_identifier);
  if (!r.timestamp.empty()) Line(0, false, "timestamp", r.timestamp);
  if (!r.code_type.empty()) Line(0, false, "code_type", r.code_type);
  if (!meta("Path").empty()) Line(0, false, "path", meta("Path"));
  if (!r.application_specific_information.empty()) {
    Line(0, false, "application_specific_information", r.application_specific_information);
  }
  std::string report_version = meta("Report Version");
  Line(0, false, "report_version", report_version.empty() ? "0" : report_version);

  // Upstream keeps in metadata the header keys it has no field for.
  static const std::set<std::string> kLifted = {
      "Incident Identifier", "Date/Time",      "Code Type",          "Path",
      "Report Version",      "Crashed Thread", "Triggered by Thread"};
  std::vector<std::pair<std::string, std::string>> kept;
  for (const auto& [k, v] : r.metadata) {
    if (!kLifted.count(k)) kept.emplace_back(k, v);
  }
  if (kept.empty()) {
    lines_.push_back("metadata: {}");
  } else {
    Heading(0, "metadata");
    for (const auto& [k, v] : kept) Line(2, false, k, v);
  }

  Heading(0, "threads");
  for (const CrashThread& t : r.threads) {
    Line(2, true, "id", t.id ? std::to_string(*t.id) : "");
    if (!t.name.empty()) Line(4, false, "name", t.name);
    Line(4, false, "crashed", t.crashed ? "true" : "false");
    Heading(4, "frames");
    for (const CrashFrame& f : t.frames) {
      bool first = true;
      auto field = [&](std::string_view key, std::string_view value) {
        Line(first ? 6 : 8, first, key, value);
        first = false;
      };
      if (!f.module.empty()) field("module", f.module);
      if (!f.symbol.empty()) field("symbol", f.symbol);
      if (!f.filename.empty()) field("filename", f.filename);
      if (f.lineno) field("lineno", std::to_string(*f.lineno));
      field("instruction_addr", text::Hex0x(f.instruction_addr));
    }
    if (!t.registers.empty()) {
      Heading(4, "registers");
      auto regs = t.registers;  // upstream: a sorted map
      std::sort(regs.begin(), regs.end());
      for (const auto& [name, value] : regs) Line(6, false, name, text::Hex0x(value));
    }
  }
  Heading(0, "binary_images");
  for (const CrashImage& img : r.images) {
    Line(2, true, "addr", text::Hex0x(img.addr));
    Line(4, false, "size", std::to_string(img.size - 1));  // upstream: end - start
    if (!img.uuid.empty()) Line(4, false, "uuid", img.uuid);
    if (!img.arch.empty()) Line(4, false, "arch", img.arch);
    if (!img.version.empty()) Line(4, false, "version", img.version);
    Line(4, false, "name", img.name);
    if (!img.path.empty()) Line(4, false, "path", img.path);
  }
  return std::move(lines_);
}

class AppleCrashSnapshotTest : public testing::TestWithParam<std::string> {};

TEST_P(AppleCrashSnapshotTest, MatchesUpstreamSnapshot) {
  const std::string name = GetParam();
  CrashReport report = MustParse(ReadFixture("apple/crash_text/" + name + ".crash"));
  std::vector<std::string> expected =
      ExpectedSnapshotLines(ReadFixture("apple/crash_text/expected/" + name + ".snap"));
  std::vector<std::string> actual = SnapshotRenderer().Render(report);
  ASSERT_GT(expected.size(), 10u);
  size_t n = std::min(expected.size(), actual.size());
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(actual[i], expected[i]) << name << ".snap body line " << i + 1;
  }
  EXPECT_EQ(actual.size(), expected.size());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AppleCrashSnapshotTest,
                         testing::Values("handcrafted", "spaces", "XCDYouTubeKit-54", "bruno"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// Brute force: which image holds `pc`.
std::optional<int> ImageContaining(const CrashReport& r, uint64_t pc) {
  for (size_t i = 0; i < r.images.size(); ++i) {
    const CrashImage& img = r.images[i];
    if (pc >= img.addr && pc - img.addr < img.size) return static_cast<int>(i);
  }
  return std::nullopt;
}

TEST(AppleCrashParserTest, FramesAttachToTheImageHoldingTheirAddress) {
  for (const char* name : {"handcrafted", "spaces", "XCDYouTubeKit-54", "bruno"}) {
    CrashReport r = MustParse(ReadFixture(std::string("apple/crash_text/") + name + ".crash"));
    size_t attached = 0;
    for (const CrashThread& t : r.threads) {
      for (const CrashFrame& f : t.frames) {
        EXPECT_EQ(f.image_index, ImageContaining(r, f.instruction_addr))
            << name << " " << text::Hex0x(f.instruction_addr);
        if (f.image_index) {
          ++attached;
          // Frame lines and Binary Images name an image the same way in these reports.
          EXPECT_EQ(r.images[*f.image_index].name, f.module) << name;
        }
      }
    }
    EXPECT_GT(attached, 0u) << name;
  }
}

TEST(AppleCrashParserTest, SymbolOffsetsAndLoadAddressFrames) {
  std::string text = ReadFixture("apple/crash_text/handcrafted.crash");
  CrashReport r = MustParse(text);
  ASSERT_GE(r.threads.size(), 2u);
  // Every frame line's trailing "+ N" is the symbol offset, except after "0xLOAD".
  std::istringstream in(text);
  std::string line;
  size_t frame_lines = 0, checked = 0;
  while (std::getline(in, line)) {
    CrashReport one = MustParse("Thread 0:\n" + line + "\n");
    if (one.threads.empty() || one.threads[0].frames.empty()) continue;
    ++frame_lines;
    const CrashFrame& f = one.threads[0].frames[0];
    size_t plus = line.rfind(" + ");
    bool load_form = line.find(" 0x", line.find("0x") + 2) != std::string::npos;
    if (plus != std::string::npos && !load_form) {
      ASSERT_TRUE(f.symbol_offset.has_value()) << line;
      EXPECT_EQ(std::to_string(*f.symbol_offset), line.substr(plus + 3)) << line;
      ++checked;
    } else {
      EXPECT_FALSE(f.symbol_offset.has_value()) << line;
    }
  }
  EXPECT_EQ(frame_lines, 17u);  // 14 + 3 frame lines in the fixture
  EXPECT_GT(checked, 0u);
}

TEST(AppleCrashParserTest, InAppFollowsThePlusMarker) {
  std::string text = ReadFixture("apple/crash_text/handcrafted.crash");
  CrashReport r = MustParse(text);
  ASSERT_FALSE(r.images.empty());
  for (const CrashImage& img : r.images) {
    EXPECT_EQ(img.in_app, text.find("+" + img.name + " ") != std::string::npos) << img.name;
  }
  EXPECT_TRUE(r.images[0].in_app);
}

TEST(AppleCrashParserTest, CrashedThreadAndHeaderFields) {
  CrashReport r = MustParse(ReadFixture("apple/crash_text/bruno.crash"));
  ASSERT_TRUE(r.crashed_thread.has_value());
  EXPECT_EQ(r.threads[*r.crashed_thread].id, 5u);  // "Thread 5 Crashed:"
  EXPECT_EQ(r.exception_type, "SIGSEGV");
  EXPECT_EQ(r.exception_reason, "SEGV_MAPERR at 0x88");
  EXPECT_EQ(r.os_version, r.metadata["OS Version"]);
  EXPECT_EQ(r.app_version, r.metadata["Version"]);
  // Registers are attached to the thread the state heading names.
  EXPECT_FALSE(r.threads[*r.crashed_thread].registers.empty());

  // handcrafted: the header says thread 5, which does not exist; the heading marks thread 1.
  CrashReport h = MustParse(ReadFixture("apple/crash_text/handcrafted.crash"));
  ASSERT_TRUE(h.crashed_thread.has_value());
  EXPECT_EQ(h.threads[*h.crashed_thread].id, 1u);
}

TEST(AppleCrashParserTest, CrashedThreadFromHeaderWhenNoHeadingSaysSo) {
  CrashReport r = MustParse(
      "Process: A [1]\nTriggered by Thread:  1\n\nThread 0:\n0 A 0x1000 main + 1\n\n"
      "Thread 1:\n0 A 0x1004 f + 2\n");
  ASSERT_TRUE(r.crashed_thread.has_value());
  EXPECT_EQ(*r.crashed_thread, 1u);
  EXPECT_TRUE(r.threads[1].crashed);
  EXPECT_FALSE(r.threads[0].crashed);
}

TEST(AppleCrashParserTest, LldbReportWithDispatchQueuesStateAndPlaceholders) {
  CrashReport r = MustParse(ReadFixture("apple/ips/multithread-test.crash"));
  ASSERT_EQ(r.threads.size(), 3u);
  EXPECT_EQ(r.threads[0].name, "com.apple.main-thread");  // "Thread 0::  Dispatch queue: ..."
  ASSERT_TRUE(r.crashed_thread.has_value());
  EXPECT_EQ(*r.crashed_thread, 2u);
  EXPECT_EQ(r.code_type, "ARM-64");  // "ARM-64 (Native)"
  EXPECT_EQ(r.exception_type, "EXC_BAD_ACCESS");
  // Four fractional digits and a -0700 zone.
  EXPECT_EQ(r.timestamp, "2022-07-28T18:10:19.4194Z");
  // Both "Exception Codes" lines are kept.
  EXPECT_NE(r.metadata["Exception Codes"].find('\n'), std::string::npos);
  // The "???" catch-all line is dropped; bogus.dylib is kept; the blank line inside Binary
  // Images does not end the section.
  ASSERT_EQ(r.images.size(), 7u);
  for (const CrashImage& img : r.images) {
    EXPECT_NE(img.name, "???");
    EXPECT_TRUE(img.version.empty()) << "(*) is not a version";
  }
  EXPECT_EQ(r.images.back().name, "bogus.dylib");
  // The trailer after Binary Images does not leak into metadata.
  EXPECT_EQ(r.metadata.count("ReadOnly portion of Libraries"), 0u);
  // esr's description ends its register line without losing the value.
  const auto& regs = r.threads[2].registers;
  auto esr = std::find_if(regs.begin(), regs.end(), [](auto& p) { return p.first == "esr"; });
  ASSERT_NE(esr, regs.end());
  EXPECT_EQ(esr->second, 0x92000046u);
}

TEST(AppleCrashParserTest, FrameShapesAndLastExceptionBacktrace) {
  CrashReport r = MustParse(
      "Incident Identifier: 0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9\n"
      "Date/Time: 2024-05-01 10:00:00.123 +0200\n"
      "Exception Type:  EXC_CRASH (SIGABRT)\n"
      "Exception Subtype: KERN_INVALID_ADDRESS at 0x10\n"
      "Exception Codes: 0x1, 0x10\n"
      "My Custom Key: kept\n"
      "\n"
      "Application Specific Information:\n"
      "*** Terminating app\n"
      "\n"
      "Last Exception Backtrace:\n"
      "0   CoreFoundation                \t0x00000001a0a58418 __exceptionPreprocess + 176\n"
      "1   My App                        \t0x0000000102a04f10 closure #1 in Foo.bar() (in My App) "
      "+ 36\n"
      "\n"
      "Thread 0 name:  Dispatch queue: com.apple.main-thread\n"
      "Thread 0 Crashed:\n"
      "0   My App                        \t0x0000000102a05000 -[Foo bar:] + 36 (Foo.m:17)\n"
      "1   My App                        \t0x0000000102a05010 main (main.m:16)\n"
      "2   My App                        \t0x0000000102a05020\n"
      "3   ???                           \t0x0000000000001234 0x0 + 4660\n"
      "\n"
      "Thread 1 Crashed:: Worker  Dispatch queue: com.example.q\n"
      "0   libsystem_kernel.dylib        \t0x00000001a1b2c3d4 __pthread_kill + 8\n"
      "\n"
      "Binary Images:\n"
      "       0x102a00000 -        0x102a3ffff +My App arm64  <0a1b2c3d4e5f60718293a4b5c6d7e8f9> "
      "/var/My App.app/My App\n"
      "       0x1a1b00000 -        0x1a1b37fff libsystem_kernel.dylib arm64e (1.2.3) "
      "<0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F0> /usr/lib/system/libsystem_kernel.dylib\n");
  EXPECT_EQ(r.incident_identifier, "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
  EXPECT_EQ(r.timestamp, "2024-05-01T08:00:00.123Z");
  EXPECT_EQ(r.exception_type, "EXC_CRASH");
  EXPECT_EQ(r.exception_reason, "KERN_INVALID_ADDRESS at 0x10");
  EXPECT_EQ(r.metadata["My Custom Key"], "kept");
  EXPECT_EQ(r.application_specific_information, "*** Terminating app");

  ASSERT_EQ(r.extra_stacks.size(), 1u);
  EXPECT_EQ(r.extra_stacks[0].title, "Last Exception Backtrace");
  ASSERT_EQ(r.extra_stacks[0].frames.size(), 2u);
  const CrashFrame& atos = r.extra_stacks[0].frames[1];
  EXPECT_EQ(atos.module, "My App");
  EXPECT_EQ(atos.symbol, "closure #1 in Foo.bar()");
  EXPECT_EQ(atos.symbol_offset, 36u);
  EXPECT_EQ(atos.image_index, 0);

  ASSERT_EQ(r.threads.size(), 2u);
  EXPECT_EQ(r.threads[0].name, "com.apple.main-thread");
  EXPECT_EQ(r.threads[1].name, "Worker");
  EXPECT_TRUE(r.threads[0].crashed);
  EXPECT_TRUE(r.threads[1].crashed);
  EXPECT_EQ(r.crashed_thread, 0u);
  const auto& f = r.threads[0].frames;
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].symbol, "-[Foo bar:]");
  EXPECT_EQ(f[0].symbol_offset, 36u);
  EXPECT_EQ(f[0].filename, "Foo.m");
  EXPECT_EQ(f[0].lineno, 17u);
  EXPECT_EQ(f[1].symbol, "main");
  EXPECT_FALSE(f[1].symbol_offset.has_value());
  EXPECT_EQ(f[1].lineno, 16u);
  EXPECT_EQ(f[2].instruction_addr, 0x102a05020u);
  EXPECT_TRUE(f[2].symbol.empty());
  EXPECT_TRUE(f[3].module.empty());
  EXPECT_FALSE(f[3].image_index.has_value());

  ASSERT_EQ(r.images.size(), 2u);
  EXPECT_EQ(r.images[0].name, "My App");
  EXPECT_EQ(r.images[0].arch, "arm64");
  EXPECT_EQ(r.images[0].path, "/var/My App.app/My App");
  EXPECT_EQ(r.images[0].size, 0x40000u);
  EXPECT_TRUE(r.images[0].in_app);
  EXPECT_EQ(r.images[1].version, "1.2.3");
  EXPECT_EQ(r.images[1].uuid, "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f0");
  EXPECT_EQ(r.threads[1].frames[0].image_index, 1);
}

TEST(AppleCrashParserTest, CompactLastExceptionBacktrace) {
  CrashReport r = MustParse(
      "Last Exception Backtrace:\n(0x1838a6d8c 0x182a605ec 0x18383f750)\n\n"
      "Thread 0 Crashed:\n0 A 0x1 f + 1\n");
  ASSERT_EQ(r.extra_stacks.size(), 1u);
  ASSERT_EQ(r.extra_stacks[0].frames.size(), 3u);
  EXPECT_EQ(r.extra_stacks[0].frames[2].instruction_addr, 0x18383f750u);
}

TEST(AppleCrashParserTest, TimestampsWithZeroThreeOrFourFractionDigits) {
  EXPECT_EQ(text::NormalizeTimestamp("2019-01-09 17:42:22 +0000"), "2019-01-09T17:42:22Z");
  EXPECT_EQ(text::NormalizeTimestamp("2019-01-09 12:44:22.075 +0000"), "2019-01-09T12:44:22.075Z");
  EXPECT_EQ(text::NormalizeTimestamp("2024-05-01 10:00:00.1234 +0200"),
            "2024-05-01T08:00:00.1234Z");
  EXPECT_EQ(text::NormalizeTimestamp("2024-01-01 01:00:00 +0200"), "2023-12-31T23:00:00Z");
  EXPECT_EQ(text::NormalizeTimestamp("2019-10-10 21:15:11+0000"), "2019-10-10T21:15:11Z");
  EXPECT_EQ(text::NormalizeTimestamp("2024-02-28 23:30:00 -01:00"), "2024-02-29T00:30:00Z");
  EXPECT_EQ(text::NormalizeTimestamp("2019-01-09 17:42:22"), std::nullopt);  // no zone
  EXPECT_EQ(text::NormalizeTimestamp("2019-02-30 17:42:22 +0000"), std::nullopt);
  EXPECT_EQ(text::NormalizeTimestamp("yesterday"), std::nullopt);
  // An unparseable Date/Time is kept as printed.
  CrashReport r = MustParse("Date/Time: soon\nThread 0:\n0 A 0x1 f + 1\n");
  EXPECT_EQ(r.timestamp, "soon");
}

// --- Broken input -------------------------------------------------------------------------------

TEST(AppleCrashParserTest, GarbageIsRejectedWithItsLineNumber) {
  Result<CrashReport> r = ParseAppleCrashReport("\n\nhello world\nmore\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("line 3"), std::string::npos) << r.status().message();

  r = ParseAppleCrashReport("");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);

  // A header alone is not a crash report.
  r = ParseAppleCrashReport("Process: A [1]\nVersion: 1\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);

  // .ips JSON handed to the text parser says so.
  r = ParseAppleCrashReport(ReadFixture("apple/ips/multithread-test.ips"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("JSON"), std::string::npos) << r.status().message();
}

TEST(AppleCrashParserTest, BinaryBytesAreRejected) {
  std::string text = "Thread 0:\n0 A 0x1 f + 1\n";
  text.push_back('\0');
  text += "\x01\x02\xff";
  Result<CrashReport> r = ParseAppleCrashReport(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("line 3"), std::string::npos) << r.status().message();
  // High bytes without NUL are text (names may be UTF-8) and do not crash the parser.
  EXPECT_TRUE(ParseAppleCrashReport("Thread 0:\n0 \xc3\xa9\xff 0x1 \xfe + 1\n").ok());
}

TEST(AppleCrashParserTest, OversizedInputIsTooLarge) {
  std::string text(kMaxAppleCrashReportBytes + 1, 'a');
  Result<CrashReport> r = ParseAppleCrashReport(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTooLarge);
}

TEST(AppleCrashParserTest, HugeLinesStayLinear) {
  // Lines at the cap made of the characters the scanners look for.
  for (std::string unit : {"0x", " 0x0", "<", " + ", "(", "Thread 1"}) {
    std::string line;
    while (line.size() + unit.size() < kMaxAppleCrashReportBytes - 64) line += unit;
    for (std::string prefix : {"Thread 0:\n0 A ", "Binary Images:\n0x1 - 0x2 ", ""}) {
      Result<CrashReport> r = ParseAppleCrashReport(prefix + line);
      if (r.ok()) {
        EXPECT_FALSE(r->threads.empty() && r->images.empty());
      }
    }
  }
}

TEST(AppleCrashParserTest, TooManyFramesIsTooLarge) {
  std::string text = "Thread 0:\n";
  for (size_t i = 0; i <= kMaxAppleCrashFrames; ++i) text += "0 A 0x1\n";
  Result<CrashReport> r = ParseAppleCrashReport(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTooLarge);
}

TEST(AppleCrashParserTest, ReportCutInsideBinaryImagesKeepsTheWholeLines) {
  std::string text = ReadFixture("apple/crash_text/bruno.crash");
  CrashReport full = MustParse(text);
  size_t images_at = text.find("Binary Images:");
  ASSERT_NE(images_at, std::string::npos);
  // Cut in the middle of the 11th image line.
  size_t cut = images_at;
  for (int i = 0; i < 11; ++i) cut = text.find('\n', cut + 1);
  cut += 30;
  CrashReport partial = MustParse(std::string_view(text).substr(0, cut));
  EXPECT_EQ(partial.threads.size(), full.threads.size());
  ASSERT_EQ(partial.images.size(), 10u);
  for (size_t i = 0; i < partial.images.size(); ++i) {
    EXPECT_EQ(partial.images[i].name, full.images[i].name);
    EXPECT_EQ(partial.images[i].uuid, full.images[i].uuid);
  }
}

TEST(AppleCrashParserTest, EveryPrefixOfAFixtureParsesOrFailsCleanly) {
  std::string text = ReadFixture("apple/ips/multithread-test.crash");
  for (size_t n = 0; n <= text.size(); n += 7) {
    Result<CrashReport> r = ParseAppleCrashReport(std::string_view(text).substr(0, n));
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << n;
      continue;
    }
    if (r->crashed_thread) {
      EXPECT_LT(*r->crashed_thread, r->threads.size());
    }
    for (const CrashThread& t : r->threads) {
      for (const CrashFrame& f : t.frames) {
        if (f.image_index) {
          EXPECT_LT(static_cast<size_t>(*f.image_index), r->images.size());
        }
      }
    }
  }
}

}  // namespace
}  // namespace vigil::process
