// AppRegistry: creation, lookups, disable/enable, persistence and hashed tokens.
#include "ingest/app_registry.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
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

TEST_F(AppRegistryTest, QuotasSurviveReopenAndFilesWithoutThemStillLoad) {
  std::string id, plain;
  {
    auto reg = AppRegistry::Open(dir_, &clock_);
    ASSERT_TRUE(reg.ok());
    id = (*reg)->Create("limited")->app.id;
    plain = (*reg)->Create("plain")->app.id;
    ASSERT_TRUE((*reg)->SetQuota(id, {250, 1000}).ok());
    // A quota without a rate is no quota: its burst is dropped too.
    ASSERT_TRUE((*reg)->SetQuota(plain, {0, 77}).ok());
    EXPECT_EQ((*reg)->SetQuota("nope", {1, 1}).code(), StatusCode::kNotFound);
    EXPECT_EQ((*reg)->SetQuota(id, {AppQuota::kMaxEventsPerSecond + 1, 0}).code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ((*reg)->SetQuota(id, {1, AppQuota::kMaxBurstEvents + 1}).code(),
              StatusCode::kInvalidArgument);
  }
  std::string file = *ReadFile(dir_ + "/apps.json");
  EXPECT_NE(file.find("\"quota\":{\"events_per_second\":250,\"burst_events\":1000}"),
            std::string::npos)
      << file;
  EXPECT_EQ(file.find("\"burst_events\":77"), std::string::npos);  // none written for "plain"
  auto reg = AppRegistry::Open(dir_, &clock_);
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ((*reg)->FindById(id)->quota, (AppQuota{250, 1000}));
  EXPECT_FALSE((*reg)->FindById(plain)->quota.limited());
  EXPECT_EQ((*reg)->FindById(plain)->quota, AppQuota{});
  // A quota missing a field is a damaged file, named as such.
  size_t at = file.find("\"burst_events\":1000");
  ASSERT_NE(at, std::string::npos);
  file.replace(at, std::string("\"burst_events\":1000").size(), "\"burst\":1000");
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/apps.json", file).ok());
  auto damaged = AppRegistry::Open(dir_, &clock_);
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.status().message().find("quota is missing a field"), std::string::npos);
  // A quota past the bounds SetQuota keeps (a hand edit) is refused, not taken.
  file.replace(file.find("\"burst\":1000"), std::string("\"burst\":1000").size(),
               "\"burst_events\":1000000000001");
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/apps.json", file).ok());
  damaged = AppRegistry::Open(dir_, &clock_);
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.status().message().find("quota is out of range"), std::string::npos);
}

TEST_F(AppRegistryTest, DropRulesSurviveReopenAndDamagedOnesAreNamed) {
  std::string id;
  const std::string canonical = R"({"drop":[{"app_version":"*-debug"},{"type":"custom"}]})";
  {
    auto reg = AppRegistry::Open(dir_, &clock_);
    ASSERT_TRUE(reg.ok());
    id = (*reg)->Create("rules")->app.id;
    auto rules = DropRules::Parse(R"({"drop": [{"app_version": "*-debug"}, {"type": "custom"}]})");
    ASSERT_TRUE(rules.ok());
    ASSERT_TRUE((*reg)->SetDropRules(id, *rules).ok());
    EXPECT_EQ((*reg)->SetDropRules("nope", *rules).code(), StatusCode::kNotFound);
  }
  {
    auto reg = AppRegistry::Open(dir_, &clock_);
    ASSERT_TRUE(reg.ok());
    ASSERT_NE((*reg)->FindById(id)->drop_rules, nullptr);
    EXPECT_EQ((*reg)->FindById(id)->drop_rules->ToJson(), canonical);
    // Empty rules are none.
    ASSERT_TRUE((*reg)->SetDropRules(id, *DropRules::Parse(R"({"drop": []})")).ok());
    EXPECT_EQ((*reg)->FindById(id)->drop_rules, nullptr);
    EXPECT_EQ(ReadFile(dir_ + "/apps.json")->find("drop_rules"), std::string::npos);
    ASSERT_TRUE((*reg)->SetDropRules(id, *DropRules::Parse(canonical)).ok());
  }
  std::string file = *ReadFile(dir_ + "/apps.json");
  const size_t at = file.find("\"type\":\"custom\"");
  ASSERT_NE(at, std::string::npos) << file;
  file.replace(at, std::string("\"type\":\"custom\"").size(), "\"type\":\"teleport\"");
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/apps.json", file).ok());
  auto damaged = AppRegistry::Open(dir_, &clock_);
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), StatusCode::kCorruption);
  EXPECT_NE(damaged.status().message().find("the drop rules of app " + id +
                                            " are invalid (rule 1: "
                                            "type must be one of"),
            std::string::npos)
      << damaged.status().ToString();
}

TEST_F(AppRegistryTest, ARotatedApiTokenReplacesTheOldOneAcrossReopen) {
  std::string id, old_token, new_token;
  {
    auto reg = AppRegistry::Open(dir_, &clock_);
    ASSERT_TRUE(reg.ok());
    auto created = (*reg)->Create("rotating");
    id = created->app.id;
    old_token = created->api_token;
    Result<std::string> rotated = (*reg)->RotateApiToken(id);
    ASSERT_TRUE(rotated.ok());
    new_token = *rotated;
    EXPECT_NE(new_token, old_token);
    EXPECT_EQ((*reg)->FindByApiToken(old_token), nullptr);
    EXPECT_EQ((*reg)->FindByApiToken(new_token)->id, id);
    EXPECT_EQ((*reg)->FindById(id)->ingest_key, created->app.ingest_key);  // unchanged
    EXPECT_EQ((*reg)->RotateApiToken("nope").status().code(), StatusCode::kNotFound);
  }
  auto reg = AppRegistry::Open(dir_, &clock_);
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ((*reg)->FindByApiToken(old_token), nullptr);
  EXPECT_EQ((*reg)->FindByApiToken(new_token)->id, id);
  EXPECT_EQ(ReadFile(dir_ + "/apps.json")->find(new_token), std::string::npos);  // hashed
}

TEST_F(AppRegistryTest, ARotatedIngestKeyKeepsThePreviousOnesUntilRevoked) {
  std::string id, first, second, third;
  {
    auto reg = AppRegistry::Open(dir_, &clock_);
    ASSERT_TRUE(reg.ok());
    auto created = (*reg)->Create("shipping");
    id = created->app.id;
    first = created->app.ingest_key;
    auto other = (*reg)->Create("other");
    clock_.SetMs(1700000001000);
    second = (*reg)->RotateIngestKey(id).value();
    clock_.SetMs(1700000002000);
    third = (*reg)->RotateIngestKey(id).value();
    EXPECT_NE(first, second);
    EXPECT_NE(second, third);
    for (const std::string& key : {first, second, third}) {
      ASSERT_NE((*reg)->FindByIngestKey(key), nullptr) << key;
      EXPECT_EQ((*reg)->FindByIngestKey(key)->id, id);
    }
    EXPECT_EQ((*reg)->FindByIngestKey(other->app.ingest_key)->id, other->app.id);
    std::shared_ptr<const App> app = (*reg)->FindById(id);
    EXPECT_EQ(app->ingest_key, third);
    ASSERT_EQ(app->previous_ingest_keys.size(), 2u);
    EXPECT_EQ(app->previous_ingest_keys[0].key, first);
    EXPECT_EQ(app->previous_ingest_keys[0].retired_ms, 1700000001000);
    EXPECT_EQ(app->previous_ingest_keys[1].key, second);
    EXPECT_EQ(app->previous_ingest_keys[1].retired_ms, 1700000002000);
    // The current key cannot be revoked, nor a key the app never had, nor another app's.
    EXPECT_EQ((*reg)->RevokeIngestKey(id, third).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ((*reg)->RevokeIngestKey(id, "vik_nope").code(), StatusCode::kNotFound);
    EXPECT_EQ((*reg)->RevokeIngestKey(id, other->app.ingest_key).code(), StatusCode::kNotFound);
    EXPECT_EQ((*reg)->RevokeIngestKey("nope", first).code(), StatusCode::kNotFound);
    EXPECT_EQ((*reg)->RotateIngestKey("nope").status().code(), StatusCode::kNotFound);
    ASSERT_TRUE((*reg)->RevokeIngestKey(id, first).ok());
    EXPECT_EQ((*reg)->FindByIngestKey(first), nullptr);
    EXPECT_EQ((*reg)->FindByIngestKey(second)->id, id);
  }
  auto reg = AppRegistry::Open(dir_, &clock_);
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ((*reg)->FindByIngestKey(first), nullptr);
  EXPECT_EQ((*reg)->FindByIngestKey(second)->id, id);
  EXPECT_EQ((*reg)->FindByIngestKey(third)->id, id);
  std::shared_ptr<const App> app = (*reg)->FindById(id);
  ASSERT_EQ(app->previous_ingest_keys.size(), 1u);
  EXPECT_EQ(app->previous_ingest_keys[0].key, second);
  EXPECT_EQ(app->previous_ingest_keys[0].retired_ms, 1700000002000);
}

TEST_F(AppRegistryTest, WhenAPreviousIngestKeyWasLastUsedSurvivesReopen) {
  auto reg = AppRegistry::Open(dir_, &clock_);
  ASSERT_TRUE(reg.ok());
  std::string id = (*reg)->Create("rotating").value().app.id;
  const std::string old_key = (*reg)->FindById(id)->ingest_key;
  ASSERT_TRUE((*reg)->RotateIngestKey(id).ok());
  auto last_used_on_disk = [&]() -> int64_t {
    auto reopened = AppRegistry::Open(dir_, &clock_);
    EXPECT_TRUE(reopened.ok());
    return (*reopened)->FindById(id)->previous_ingest_keys.at(0).use->last_ms.load();
  };
  EXPECT_EQ(last_used_on_disk(), 0);
  // A save replaces apps.json (a new inode): with nothing to save, none happens.
  auto inode = [&] {
    struct stat st {};
    EXPECT_EQ(::stat((dir_ + "/apps.json").c_str(), &st), 0);
    return st.st_ino;
  };
  const ino_t before = inode();
  EXPECT_TRUE((*reg)->SaveKeyUse(0).ok());
  EXPECT_EQ(inode(), before);

  std::shared_ptr<const App> app = (*reg)->FindByIngestKey(old_key);
  const PreviousIngestKey& previous = app->previous_ingest_keys.at(0);
  const int64_t t1 = 1700000100000;
  previous.NoteUse(t1);
  ASSERT_TRUE((*reg)->SaveKeyUse(AppRegistry::kKeyUseSaveMs).ok());  // first use: saved at once
  EXPECT_EQ(last_used_on_disk(), t1);

  // A use less than kKeyUseSaveMs after the saved one waits for a later save or for shutdown.
  previous.NoteUse(t1 + 60'000);
  const ino_t saved = inode();
  ASSERT_TRUE((*reg)->SaveKeyUse(AppRegistry::kKeyUseSaveMs).ok());
  EXPECT_EQ(inode(), saved);
  EXPECT_EQ(last_used_on_disk(), t1);
  previous.NoteUse(t1 + AppRegistry::kKeyUseSaveMs);
  ASSERT_TRUE((*reg)->SaveKeyUse(AppRegistry::kKeyUseSaveMs).ok());
  EXPECT_EQ(last_used_on_disk(), t1 + AppRegistry::kKeyUseSaveMs);
  previous.NoteUse(t1 + AppRegistry::kKeyUseSaveMs + 5);
  ASSERT_TRUE((*reg)->SaveKeyUse(0).ok());
  EXPECT_EQ(last_used_on_disk(), t1 + AppRegistry::kKeyUseSaveMs + 5);

  // Any other change of the registry writes it too, and a reopened registry goes on from it.
  previous.NoteUse(t1 + AppRegistry::kKeyUseSaveMs + 9);
  ASSERT_TRUE((*reg)->SetDisabled(id, true).ok());
  EXPECT_EQ(last_used_on_disk(), t1 + AppRegistry::kKeyUseSaveMs + 9);
  reg->reset();
  auto reopened = AppRegistry::Open(dir_, &clock_);
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE((*reopened)->SaveKeyUse(0).ok());  // what it loaded counts as saved
  std::shared_ptr<const App> loaded_app = (*reopened)->FindById(id);
  const PreviousIngestKey& loaded = loaded_app->previous_ingest_keys.at(0);
  EXPECT_EQ(loaded.use->last_ms.load(), t1 + AppRegistry::kKeyUseSaveMs + 9);
  EXPECT_EQ(loaded.use->batches.load(), 0u);  // the count is per process, as its metric says
}

TEST_F(AppRegistryTest, AnAppKeepsAtMostEightPreviousIngestKeys) {
  auto reg = AppRegistry::Open(dir_, &clock_);
  ASSERT_TRUE(reg.ok());
  std::string id = (*reg)->Create("churning").value().app.id;
  for (size_t i = 0; i < App::kMaxPreviousIngestKeys; ++i) {
    ASSERT_TRUE((*reg)->RotateIngestKey(id).ok()) << i;
  }
  const std::string current = (*reg)->FindById(id)->ingest_key;
  Result<std::string> refused = (*reg)->RotateIngestKey(id);
  EXPECT_EQ(refused.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ((*reg)->FindById(id)->ingest_key, current);  // unchanged
  const std::string oldest = (*reg)->FindById(id)->previous_ingest_keys.front().key;
  ASSERT_TRUE((*reg)->RevokeIngestKey(id, oldest).ok());
  EXPECT_TRUE((*reg)->RotateIngestKey(id).ok());
}

TEST_F(AppRegistryTest, CorruptFileIsReported) {
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/apps.json", "{not json").ok());
  auto reg = AppRegistry::Open(dir_, &clock_);
  EXPECT_EQ(reg.status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace vigil::ingest
