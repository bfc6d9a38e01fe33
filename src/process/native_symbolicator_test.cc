// Native symbolication of crash reports against real symbol fixtures.
#include "process/native_symbolicator.h"

#include <gtest/gtest.h>

#include <map>

#include "common/file_util.h"
#include "process/apple_ips_parser.h"
#include "symbols/breakpad_reader.h"

namespace vigil::process {
namespace {

class MapSource : public SymbolSource {
 public:
  void Add(const std::string& sym_fixture) {
    Result<std::string> text = ReadFile(std::string(VIGIL_FIXTURES_DIR) + "/" + sym_fixture);
    ASSERT_TRUE(text.ok());
    symbols::BreakpadModule m;
    Result<std::string> bytes = symbols::BuildSymCacheFromBreakpad(*text, &m);
    ASSERT_TRUE(bytes.ok());
    Result<symbols::SymCache> cache = symbols::SymCache::FromBytes(std::move(*bytes));
    ASSERT_TRUE(cache.ok());
    auto shared = std::make_shared<const symbols::SymCache>(std::move(*cache));
    by_debug_id_[m.debug_id.ToString()] = shared;
    by_code_id_[m.code_id] = shared;
  }
  std::shared_ptr<const symbols::SymCache> FindByDebugId(const symbols::DebugId& id) override {
    auto it = by_debug_id_.find(id.ToString());
    return it == by_debug_id_.end() ? nullptr : it->second;
  }
  std::shared_ptr<const symbols::SymCache> FindByCodeId(std::string_view code_id) override {
    auto it = by_code_id_.find(std::string(code_id));
    return it == by_code_id_.end() ? nullptr : it->second;
  }

 private:
  std::map<std::string, std::shared_ptr<const symbols::SymCache>> by_debug_id_, by_code_id_;
};

constexpr uint64_t kBase = 0x7f0000000000;

CrashReport NativeReport() {
  CrashReport r;
  r.exception_type = "SIGSEGV";
  CrashImage app;
  app.addr = kBase;
  app.size = 0x100000;
  app.name = "liblinux_inline.so";
  app.uuid = "BBA6FA10B8AAB33D00000000000000000";  // Breakpad form: parsed, not compared as text
  r.images.push_back(app);
  CrashImage other;
  other.addr = 0x7f1000000000;
  other.size = 0x1000;
  other.name = "libother.so";
  other.uuid = "00112233-4455-6677-8899-aabbccddeeff";
  r.images.push_back(other);
  CrashThread t;
  t.crashed = true;
  CrashFrame f0, f1, f2;
  f0.instruction_addr = kBase + 0x161b6;  // frame 0: looked up as is
  f1.instruction_addr = kBase + 0x161b7;  // a return address: looked up at 0x161b6
  f2.instruction_addr = 0x7f1000000010;   // an image whose symbols are not uploaded
  t.frames = {f0, f1, f2};
  r.threads.push_back(t);
  return r;
}

TEST(NativeSymbolicatorTest, ExpandsInlineFramesAndAppliesTheCallerRule) {
  MapSource source;
  source.Add("breakpad/linux_inline.new.sym");
  SymbolicatedStack s = SymbolicateCrashedThread(NativeReport(), &source);
  ASSERT_EQ(s.frames.size(), 4u + 4u + 1u);
  const char* chain[] = {"func()", "bar()", "foo()", "main"};
  for (int frame = 0; frame < 2; ++frame) {
    for (int k = 0; k < 4; ++k) {
      const SymbolicatedFrame& f = s.frames[frame * 4 + k];
      EXPECT_EQ(f.function, chain[k]);
      EXPECT_EQ(f.module_addr, 0x161b6u);
      EXPECT_EQ(f.inlined, k < 3);
      EXPECT_TRUE(f.symbolicated);
      EXPECT_TRUE(f.in_app);
    }
  }
  EXPECT_EQ(s.frames[0].file, "linux_inline.cpp");
  EXPECT_EQ(s.frames[0].line, 27u);
  EXPECT_EQ(s.frames[3].file, "a.cpp");
  EXPECT_EQ(s.frames[3].line, 42u);
  const SymbolicatedFrame& last = s.frames.back();
  EXPECT_TRUE(last.symbols_missing);
  EXPECT_FALSE(last.symbolicated);
  EXPECT_EQ(s.missing, std::vector<std::string>{"debug_id:00112233-4455-6677-8899-aabbccddeeff"});
  EXPECT_FALSE(s.complete);  // libother.so counts as the app's own
}

TEST(NativeSymbolicatorTest, TombstoneFramesFindSymbolsByBuildId) {
  MapSource source;
  source.Add("breakpad/linux_inline.new.sym");
  CrashReport r;
  CrashThread t;
  CrashFrame f;
  f.addr_is_relative = true;
  f.instruction_addr = 0x161b6;  // already adjusted by the unwinder: not decremented
  f.module = "/data/app/~~x==/com.example-y==/lib/arm64/liblinux_inline.so";
  f.build_id = "10faa6bbaab83db3";
  CrashFrame g = f;
  t.frames = {f, g};
  r.threads.push_back(t);
  SymbolicatedStack s = SymbolicateCrashedThread(r, &source);
  ASSERT_EQ(s.frames.size(), 8u);
  EXPECT_EQ(s.frames[4].function, "func()");
  EXPECT_EQ(s.frames[4].module_addr, 0x161b6u);
  EXPECT_TRUE(s.frames[4].in_app);
  EXPECT_TRUE(s.complete);
  EXPECT_TRUE(s.missing.empty());
}

TEST(NativeSymbolicatorTest, AppleReportWithoutSymbolsNamesTheMissingUuid) {
  Result<std::string> text =
      ReadFile(std::string(VIGIL_FIXTURES_DIR) + "/apple/ips/multithread-test.ips");
  ASSERT_TRUE(text.ok());
  Result<CrashReport> report = ParseAppleIpsReport(*text);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  MapSource none;
  SymbolicatedStack s = SymbolicateCrashedThread(*report, &none);
  ASSERT_FALSE(s.frames.empty());
  // Thread 2 crashed in bar(int); the report's own names are kept, marked missing.
  EXPECT_EQ(s.frames[0].function, "bar(int)");
  EXPECT_TRUE(s.frames[0].in_app);
  EXPECT_TRUE(s.frames[0].symbols_missing);
  EXPECT_FALSE(s.complete);
  // Only the app's image is named: libsystem_* and libc++ symbols are not the user's to upload.
  EXPECT_EQ(s.missing, std::vector<std::string>{"debug_id:ab9b94f9-6cdf-3b8e-b140-fae3cb13d327"});
}

TEST(NativeSymbolicatorTest, SystemImagesAreNotInApp) {
  CrashImage libc;
  libc.path = "/apex/com.android.runtime/lib64/bionic/libc.so";
  EXPECT_FALSE(IsAppImage(libc));
  CrashImage kernel;
  kernel.path = "/usr/lib/system/libsystem_kernel.dylib";
  EXPECT_FALSE(IsAppImage(kernel));
  CrashImage bare;
  bare.name = "libc.so";
  EXPECT_FALSE(IsAppImage(bare));
  CrashImage app;
  app.path = "/data/app/~~x==/com.example-y==/lib/arm64/libgame.so";
  EXPECT_TRUE(IsAppImage(app));
  CrashImage ios;
  ios.path = "/private/var/containers/Bundle/Application/X/MyApp.app/MyApp";
  EXPECT_TRUE(IsAppImage(ios));
}

}  // namespace
}  // namespace vigil::process
