// SymbolStore on a real directory: ProGuard mappings are served from their mapped cache, which is
// rebuilt when missing, outdated or damaged; object files go through the object converter.
#include "symbols/symbol_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/file_util.h"
#include "symbols/retrace.h"

namespace vigil::symbols {
namespace {

std::string Fixture(const std::string& rel) {
  Result<std::string> data = ReadFile(std::string(VIGIL_FIXTURES_DIR) + "/" + rel);
  EXPECT_TRUE(data.ok()) << rel;
  return data.ok() ? *data : std::string();
}

class SymbolStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/symbol_store_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
           std::to_string(::getpid());
    Reopen();
  }
  void Reopen() {
    store_.reset();
    Result<std::unique_ptr<SymbolStore>> store = SymbolStore::Open(dir_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }
  // Uploads the R8 fixture mapping; returns its id.
  std::string AddMapping() {
    Result<std::vector<StoredSymbolFile>> stored = store_->Add(
        "app1", Fixture("proguard/mapping-r8-symbolicated_file_names.txt"), "", 1000, "1.0");
    EXPECT_TRUE(stored.ok()) << stored.status().ToString();
    return stored.ok() ? stored->front().id : std::string();
  }
  // What the fixture's expected output says the mapping retraces its input to.
  void ExpectRetracesTheFixture(const ProguardMapping& mapping) {
    Result<std::string> out = RetraceStackTrace(
        mapping, Fixture("proguard/mapping-r8-symbolicated_file_names.input.txt"));
    ASSERT_TRUE(out.ok());
    std::string expected = Fixture("proguard/mapping-r8-symbolicated_file_names.expected.txt");
    auto trim = [](std::string s) {
      while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
      return s;
    };
    EXPECT_EQ(trim(*out), trim(expected));
  }
  std::string CachePath(const std::string& id) const { return dir_ + "/app1/" + id + "/mapcache"; }

  std::string dir_;
  std::unique_ptr<SymbolStore> store_;
};

TEST_F(SymbolStoreTest, MappingIsServedFromItsMappedCache) {
  const std::string id = AddMapping();
  EXPECT_EQ(id, "48ffd94");
  ASSERT_TRUE(FileExists(CachePath(id)));
  Reopen();
  std::shared_ptr<const ProguardMapping> m = store_->FindMapping("app1", id);
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->is_mapped());
  EXPECT_EQ(m->mapping_id(), "48ffd94");
  ExpectRetracesTheFixture(*m);
  EXPECT_EQ(store_->FindMapping("app1", id), m);  // opened once
  EXPECT_EQ(store_->FindMappingForVersion("app1", "1.0"), m);
  EXPECT_EQ(store_->FindMapping("app2", id), nullptr);
}

TEST_F(SymbolStoreTest, MissingOutdatedOrDamagedCacheIsRebuiltFromTheOriginal) {
  const std::string id = AddMapping();
  Result<std::string> good = ReadFile(CachePath(id));
  ASSERT_TRUE(good.ok());
  std::string outdated = *good;
  outdated[8] = static_cast<char>(outdated[8] + 1);  // the version field
  std::string damaged = good->substr(0, good->size() / 2);
  for (const std::string* bytes :
       std::initializer_list<const std::string*>{nullptr, &outdated, &damaged}) {
    if (bytes == nullptr) {
      ASSERT_EQ(::unlink(CachePath(id).c_str()), 0);  // as stored by a Vigil without caches
    } else {
      ASSERT_TRUE(WriteFileAtomically(CachePath(id), *bytes).ok());
    }
    Reopen();
    std::shared_ptr<const ProguardMapping> m = store_->FindMapping("app1", id);
    ASSERT_NE(m, nullptr);
    EXPECT_TRUE(m->is_mapped());
    ExpectRetracesTheFixture(*m);
    Result<std::string> rebuilt = ReadFile(CachePath(id));
    ASSERT_TRUE(rebuilt.ok());
    EXPECT_EQ(*rebuilt, *good);
  }
}

TEST_F(SymbolStoreTest, ObjectFilesGoThroughTheObjectConverterAndBreakpadDoesNot) {
  int calls = 0;
  store_->SetObjectConverter([&calls](std::string_view, std::string_view) {
    ++calls;
    return Result<std::vector<BuiltSymCache>>(
        Status::InvalidArgument("the object file crashed the symbol converter (SIGSEGV)"));
  });
  Result<std::vector<StoredSymbolFile>> elf =
      store_->Add("app1", Fixture("../fuzz/corpus/object_file/liba.so"), "liba.so", 1000);
  ASSERT_FALSE(elf.ok());
  EXPECT_EQ(elf.status().message(), "the object file crashed the symbol converter (SIGSEGV)");
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(store_->List("app1").empty());
  Result<std::vector<StoredSymbolFile>> sym =
      store_->Add("app1", Fixture("breakpad/linux_inline.new.sym"), "", 1000);
  ASSERT_TRUE(sym.ok()) << sym.status().ToString();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(sym->front().kind, "breakpad");
}

}  // namespace
}  // namespace vigil::symbols
