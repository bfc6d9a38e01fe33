// ProcessCrash on every error form, with real symbol and mapping fixtures.
#include "process/crash_processor.h"

#include <gtest/gtest.h>

#include <map>

#include "common/file_util.h"
#include "symbols/breakpad_reader.h"

namespace vigil::process {
namespace {

std::string Fixture(const std::string& rel) {
  Result<std::string> data = ReadFile(std::string(VIGIL_FIXTURES_DIR) + "/" + rel);
  EXPECT_TRUE(data.ok()) << rel;
  return data.ok() ? *data : std::string();
}

class TestSymbols : public CrashSymbols {
 public:
  void AddSym(const std::string& fixture) {
    symbols::BreakpadModule m;
    Result<std::string> bytes = symbols::BuildSymCacheFromBreakpad(Fixture(fixture), &m);
    ASSERT_TRUE(bytes.ok());
    Result<symbols::SymCache> cache = symbols::SymCache::FromBytes(std::move(*bytes));
    ASSERT_TRUE(cache.ok());
    auto shared = std::make_shared<const symbols::SymCache>(std::move(*cache));
    native_[m.debug_id.ToString()] = shared;
    code_[m.code_id] = shared;
  }
  void AddMapping(const std::string& id, const std::string& fixture) {
    Result<symbols::ProguardMapping> m = symbols::ProguardMapping::Parse(Fixture(fixture));
    ASSERT_TRUE(m.ok());
    mappings_[id] = std::make_shared<const symbols::ProguardMapping>(std::move(*m));
  }
  std::shared_ptr<const symbols::SymCache> FindByDebugId(const symbols::DebugId& id) override {
    auto it = native_.find(id.ToString());
    return it == native_.end() ? nullptr : it->second;
  }
  std::shared_ptr<const symbols::SymCache> FindByCodeId(std::string_view id) override {
    auto it = code_.find(std::string(id));
    return it == code_.end() ? nullptr : it->second;
  }
  std::shared_ptr<const symbols::ProguardMapping> FindMapping(std::string_view id) override {
    auto it = mappings_.find(std::string(id));
    return it == mappings_.end() ? nullptr : it->second;
  }
  // Mappings registered under "version:<v>" stand for the app version's mapping.
  std::shared_ptr<const symbols::ProguardMapping> FindMappingForVersion(
      std::string_view version) override {
    return FindMapping("version:" + std::string(version));
  }

 private:
  std::map<std::string, std::shared_ptr<const symbols::SymCache>> native_, code_;
  std::map<std::string, std::shared_ptr<const symbols::ProguardMapping>> mappings_;
};

// An encoded error object: {"format": ..., "type": ..., "text": ..., "mapping_id": ...}.
struct Error {
  std::string bytes;
  BinaryValue value() const { return BinaryValue(bytes); }
};

Error TextError(std::string_view format, std::string_view text, std::string_view mapping_id = {}) {
  Error e;
  BinaryValueWriter w(&e.bytes);
  w.BeginObject();
  w.Key("format");
  w.String(format);
  w.Key("text");
  w.String(text);
  if (!mapping_id.empty()) {
    w.Key("mapping_id");
    w.String(mapping_id);
  }
  w.EndObject();
  return e;
}

// The native form: one crashed thread with `addrs`, one image with `debug_id` at 0x10000000.
Error NativeError(const std::vector<std::string>& addrs, std::string_view debug_id) {
  Error e;
  BinaryValueWriter w(&e.bytes);
  w.BeginObject();
  w.Key("format");
  w.String("native");
  w.Key("type");
  w.String("SIGSEGV");
  w.Key("reason");
  w.String("SEGV_MAPERR at 0x10");
  w.Key("threads");
  w.BeginArray();
  w.BeginObject();
  w.Key("crashed");
  w.Bool(true);
  w.Key("frames");
  w.BeginArray();
  for (const std::string& a : addrs) {
    w.BeginObject();
    w.Key("instruction_addr");
    w.String(a);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndArray();
  w.Key("images");
  w.BeginArray();
  w.BeginObject();
  w.Key("debug_id");
  w.String(debug_id);
  w.Key("name");
  w.String("liblinux_inline.so");
  w.Key("image_addr");
  w.String("0x10000000");
  w.Key("image_size");
  w.Int(0x100000);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return e;
}

TEST(CrashProcessorTest, NativeCrashIsSymbolicatedAndGroupedByInAppFunctions) {
  TestSymbols symbols;
  symbols.AddSym("breakpad/linux_inline.new.sym");
  const std::string id = "bba6fa10-b8aa-b33d-0000-000000000000";
  ProcessedCrash c =
      ProcessCrash(NativeError({"0x100161b6", "0x100161b7"}, id).value(), "1.0", &symbols);
  EXPECT_EQ(c.format, "native");
  EXPECT_EQ(c.exception_type, "SIGSEGV");
  EXPECT_TRUE(c.symbolicated);
  EXPECT_FALSE(c.group.sentinel);
  ASSERT_EQ(c.frames.size(), 8u);
  EXPECT_EQ(c.frames[0].function, "func()");
  EXPECT_EQ(c.group.fingerprint, "SIGSEGV|func()|bar()|foo()");
  EXPECT_EQ(c.group.title, "SIGSEGV: func()");
  EXPECT_EQ(c.group.culprit, "func() (linux_inline.cpp)");
  // The same crash at another line of the same function: same group.
  ProcessedCrash d = ProcessCrash(NativeError({"0x100161b6"}, id).value(), "1.1", &symbols);
  EXPECT_EQ(d.group.group_id, c.group.group_id);
}

TEST(CrashProcessorTest, NativeCrashWithoutSymbolsGoesToTheSentinelNamingTheDebugId) {
  TestSymbols none;
  const std::string id = "bba6fa10-b8aa-b33d-0000-000000000000";
  ProcessedCrash c = ProcessCrash(NativeError({"0x100161b6"}, id).value(), "1.0", &none);
  EXPECT_TRUE(c.group.sentinel);
  EXPECT_FALSE(c.symbolicated);
  EXPECT_EQ(c.missing, std::vector<std::string>{"debug_id:" + id});
  EXPECT_EQ(c.group.fingerprint, "sentinel|1.0|SIGSEGV");
  std::string json = c.ToJson();
  EXPECT_NE(json.find("\"missing\":[\"debug_id:" + id + "\"]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"sentinel\":true"), std::string::npos);
}

TEST(CrashProcessorTest, JavaCrashIsRetracedWithItsMapping) {
  TestSymbols symbols;
  symbols.AddMapping("abc123", "proguard/mapping-inlines.txt");
  ProcessedCrash c = ProcessCrash(
      TextError("java", Fixture("proguard/mapping-inlines.input.txt"), "abc123").value(), "3.1",
      &symbols);
  EXPECT_EQ(c.error, "");
  EXPECT_EQ(c.format, "java");
  EXPECT_EQ(c.exception_type, "java.lang.RuntimeException");
  EXPECT_EQ(c.reason, "Button press caused an exception!");
  ASSERT_GE(c.frames.size(), 3u);
  EXPECT_EQ(c.frames[0].function, "io.sentry.sample.MainActivity.bar");
  EXPECT_EQ(c.frames[0].line, 54u);
  EXPECT_EQ(c.frames[1].function, "io.sentry.sample.MainActivity.foo");
  EXPECT_EQ(c.frames[1].line, 44u);
  EXPECT_EQ(c.frames[2].function, "io.sentry.sample.MainActivity.onClickHandler");
  EXPECT_EQ(c.frames[2].line, 40u);
  EXPECT_TRUE(c.symbolicated);
  EXPECT_FALSE(c.group.sentinel);
  EXPECT_EQ(c.group.title, "java.lang.RuntimeException: io.sentry.sample.MainActivity.bar");
  // Platform frames are not the app's.
  EXPECT_FALSE(c.frames.back().in_app);
}

TEST(CrashProcessorTest, JavaCrashWithAnUnknownMappingIsASentinel) {
  TestSymbols none;
  ProcessedCrash c = ProcessCrash(
      TextError("java", Fixture("proguard/mapping-inlines.input.txt"), "feedbeef").value(), "3.1",
      &none);
  EXPECT_TRUE(c.group.sentinel);
  EXPECT_EQ(c.missing, std::vector<std::string>{"mapping_id:feedbeef"});
}

TEST(CrashProcessorTest, JavaCrashWithoutMappingIdIsRetracedWithItsVersionsMapping) {
  TestSymbols symbols;
  symbols.AddMapping("version:3.1", "proguard/mapping-inlines.txt");
  ProcessedCrash c = ProcessCrash(
      TextError("java", Fixture("proguard/mapping-inlines.input.txt")).value(), "3.1", &symbols);
  EXPECT_TRUE(c.symbolicated);
  EXPECT_TRUE(c.missing.empty());
  EXPECT_EQ(c.group.title, "java.lang.RuntimeException: io.sentry.sample.MainActivity.bar");
  // Another version without a mapping: names as they are, not a sentinel.
  ProcessedCrash other = ProcessCrash(
      TextError("java", Fixture("proguard/mapping-inlines.input.txt")).value(), "3.2", &symbols);
  EXPECT_FALSE(other.group.sentinel);
  EXPECT_NE(other.group.title, c.group.title);
}

TEST(CrashProcessorTest, AppleAndTombstoneTextsAreParsed) {
  TestSymbols none;
  ProcessedCrash ips = ProcessCrash(
      TextError("apple", Fixture("apple/ips/multithread-test.ips")).value(), "1.0", &none);
  EXPECT_EQ(ips.error, "");
  EXPECT_EQ(ips.exception_type, "EXC_BAD_ACCESS");
  EXPECT_EQ(ips.frames.at(0).function, "bar(int)");
  EXPECT_TRUE(ips.group.sentinel);
  ProcessedCrash crash = ProcessCrash(
      TextError("apple", Fixture("apple/ips/multithread-test.crash")).value(), "1.0", &none);
  EXPECT_EQ(crash.error, "");
  EXPECT_EQ(crash.frames.at(0).function, "bar(int)");
  EXPECT_EQ(crash.group.group_id, ips.group.group_id);  // the same crash, two text forms
  ProcessedCrash tomb =
      ProcessCrash(TextError("tombstone", Fixture("native/android_tombstone/multiple.txt")).value(),
                   "1.0", &none);
  EXPECT_EQ(tomb.error, "");
  EXPECT_EQ(tomb.format, "tombstone");
  EXPECT_FALSE(tomb.frames.empty());
}

TEST(CrashProcessorTest, BrokenAndMinimalErrorsStillCount) {
  TestSymbols none;
  ProcessedCrash bad = ProcessCrash(TextError("apple", "not a crash report").value(), "1.0", &none);
  EXPECT_NE(bad.error, "");
  EXPECT_FALSE(bad.group.group_id.empty());
  Error minimal;
  BinaryValueWriter w(&minimal.bytes);
  w.BeginObject();
  w.Key("type");
  w.String("java.lang.OutOfMemoryError");
  w.Key("reason");
  w.String("Failed to allocate");
  w.EndObject();
  ProcessedCrash m = ProcessCrash(minimal.value(), "1.0", &none);
  EXPECT_EQ(m.format, "minimal");
  EXPECT_EQ(m.group.fingerprint, "java.lang.OutOfMemoryError");
  EXPECT_TRUE(m.symbolicated);
}

}  // namespace
}  // namespace vigil::process
