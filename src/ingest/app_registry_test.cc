// AppRegistry: creation, lookups, disable/enable, persistence and hashed tokens.
#include "ingest/app_registry.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/file_util.h"
#include "common/secret.h"
#include "common/temp_dir.h"

namespace vigil::ingest {
namespace {

class AppRegistryTest : public ::testing::Test {
 protected:
  TempDir temp_dir_;
  std::string dir_ = temp_dir_.path();
  FakeClock clock_{1700000000000};
};

TEST_F(AppRegistryTest, CreatedAppsSurviveReopenWithTokenStoredHashed) {
  std::string token, key, id;
  {
    auto reg = AppRegistry::Open(dir_, &clock_);
    ASSERT_TRUE(reg.ok());
    auto created = (*reg)->Create("shop");
    ASSERT_TRUE(created.ok());
    token = created->api_token;
    key = created->app.ingest_key;
    id = created->app.id;
    ASSERT_TRUE((*reg)->SetDisabled(id, true).ok());
  }
  auto reg = AppRegistry::Open(dir_, &clock_);
  ASSERT_TRUE(reg.ok());
  auto app = (*reg)->FindByIngestKey(key);
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->name, "shop");
  EXPECT_TRUE(app->disabled);
  EXPECT_EQ((*reg)->FindByApiToken(token)->id, id);
  EXPECT_EQ((*reg)->FindByApiToken(token + "x"), nullptr);
  std::string file = *ReadFile(dir_ + "/apps.json");
  EXPECT_EQ(file.find(token), std::string::npos);
  EXPECT_NE(file.find(Sha256Hex(token)), std::string::npos);
}

TEST_F(AppRegistryTest, UnknownIdAndBadNamesAreErrors) {
  auto reg = AppRegistry::Open(dir_, &clock_);
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ((*reg)->SetDisabled("nope", true).code(), StatusCode::kNotFound);
  EXPECT_EQ((*reg)->Create("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*reg)->FindByIngestKey("nope"), nullptr);
}

TEST_F(AppRegistryTest, CorruptFileIsReported) {
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/apps.json", "{not json").ok());
  auto reg = AppRegistry::Open(dir_, &clock_);
  EXPECT_EQ(reg.status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace vigil::ingest
