// SymbolUploads: chunks written at their offsets, the refusals that keep a file whole, expiry
// with a fake clock, uploads that go on after a reopen (leftovers of none deleted), and the
// answers kept of finished ones.
#include "ingest/symbol_uploads.h"

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/temp_dir.h"

namespace vigil::ingest {
namespace {

class SymbolUploadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<SymbolUploads>> u = SymbolUploads::Open(dir_.path() + "/up", &clock_);
    ASSERT_TRUE(u.ok()) << u.status().ToString();
    uploads_ = std::move(*u);
  }

  std::string Contents(const std::string& path) {
    Result<std::string> data = ReadFile(path);
    EXPECT_TRUE(data.ok()) << data.status().ToString();
    return data.ok() ? *data : "";
  }

  TempDir dir_;
  FakeClock clock_{1700000000000};
  std::unique_ptr<SymbolUploads> uploads_;
};

TEST_F(SymbolUploadsTest, ChunksAtTheirOffsetsMakeTheFile) {
  Result<SymbolUploadState> up = uploads_->Create("app1", 10);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->received, 0u);
  ASSERT_EQ(uploads_->Write("app1", up->id, 0, "0123").value().received, 4u);
  // Sent again, overlapping what follows: the same bytes in the same place.
  ASSERT_EQ(uploads_->Write("app1", up->id, 2, "23456").value().received, 7u);
  // A late copy of the first chunk does not move `received` back.
  ASSERT_EQ(uploads_->Write("app1", up->id, 0, "01").value().received, 7u);
  ASSERT_EQ(uploads_->Write("app1", up->id, 7, "789").value().received, 10u);
  Result<std::string> path = uploads_->BeginFinish("app1", up->id);
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  EXPECT_EQ(Contents(*path), "0123456789");
  uploads_->EndFinish("app1", up->id, /*keep=*/false, {201, "{\"id\":\"stored\"}"});
  EXPECT_FALSE(FileExists(*path));
  EXPECT_EQ(uploads_->Get("app1", up->id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(uploads_->PendingBytes(), 0u);
}

TEST_F(SymbolUploadsTest, AFinishedUploadsAnswerIsKeptForADayForItsAppOnly) {
  std::string id = uploads_->Create("app1", 2).value().id;
  ASSERT_TRUE(uploads_->Write("app1", id, 0, "ab").ok());
  EXPECT_FALSE(uploads_->FinishedAnswer("app1", id));  // not finished yet
  ASSERT_TRUE(uploads_->BeginFinish("app1", id).ok());
  EXPECT_FALSE(uploads_->FinishedAnswer("app1", id));  // converting
  uploads_->EndFinish("app1", id, /*keep=*/false, {400, "{\"error\":\"not symbols\"}"});
  std::optional<SymbolUploads::Answer> answer = uploads_->FinishedAnswer("app1", id);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 400);
  EXPECT_EQ(answer->body, "{\"error\":\"not symbols\"}");
  EXPECT_EQ(uploads_->BeginFinish("app1", id).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(uploads_->FinishedAnswer("app2", id));
  clock_.AdvanceMs(SymbolUploads::kIdleExpiryMs - 1);
  EXPECT_TRUE(uploads_->FinishedAnswer("app1", id));
  clock_.AdvanceMs(1);
  EXPECT_FALSE(uploads_->FinishedAnswer("app1", id));
}

TEST_F(SymbolUploadsTest, TheOldestFinishedAnswersGoFirst) {
  std::vector<std::string> ids;
  for (size_t i = 0; i <= SymbolUploads::kMaxFinishedKept; ++i) {
    std::string id = uploads_->Create("app1", 1).value().id;
    ASSERT_TRUE(uploads_->Write("app1", id, 0, "x").ok());
    ASSERT_TRUE(uploads_->BeginFinish("app1", id).ok());
    uploads_->EndFinish("app1", id, /*keep=*/false, {201, std::to_string(i)});
    ids.push_back(id);
    clock_.AdvanceMs(1);
  }
  EXPECT_FALSE(uploads_->FinishedAnswer("app1", ids.front()));
  EXPECT_EQ(uploads_->FinishedAnswer("app1", ids[1])->body, "1");
  EXPECT_EQ(uploads_->FinishedAnswer("app1", ids.back())->body,
            std::to_string(SymbolUploads::kMaxFinishedKept));
}

TEST_F(SymbolUploadsTest, RefusesWhatWouldLeaveAHoleOrOverflow) {
  std::string id = uploads_->Create("app1", 10).value().id;
  EXPECT_EQ(uploads_->Write("app1", id, 1, "x").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(uploads_->Write("app1", id, 0, "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(uploads_->Write("app1", id, 0, std::string(11, 'x')).status().code(),
            StatusCode::kTooLarge);
  EXPECT_EQ(uploads_->Write("app1", id, 0, std::string(SymbolUploads::kChunkBytes + 1, 'x'))
                .status()
                .code(),
            StatusCode::kTooLarge);
  ASSERT_TRUE(uploads_->Write("app1", id, 0, "12345").ok());
  EXPECT_EQ(uploads_->PendingBytes(), 5u);  // what it still has to receive
  Result<std::string> early = uploads_->BeginFinish("app1", id);
  EXPECT_EQ(early.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(early.status().message(),
            "the upload has 5 of its 10 bytes: send the rest, from offset 5, then finish");
  // Another app's token never reaches it.
  EXPECT_EQ(uploads_->Get("app2", id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(uploads_->Write("app2", id, 5, "67890").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(uploads_->Remove("app2", id).code(), StatusCode::kNotFound);
  EXPECT_EQ(uploads_->Create("app1", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(uploads_->Create("app1", (size_t{512} << 20) + 1).status().code(),
            StatusCode::kTooLarge);
}

TEST_F(SymbolUploadsTest, AFinishingUploadTakesNoChunksAndCanBeKeptForARetry) {
  std::string id = uploads_->Create("app1", 3).value().id;
  ASSERT_TRUE(uploads_->Write("app1", id, 0, "abc").ok());
  ASSERT_TRUE(uploads_->BeginFinish("app1", id).ok());
  EXPECT_EQ(uploads_->BeginFinish("app1", id).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(uploads_->Write("app1", id, 0, "abc").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(uploads_->Remove("app1", id).code(), StatusCode::kAlreadyExists);
  uploads_->EndFinish("app1", id, /*keep=*/true, {503, "{}"});  // e.g. the disk was full
  EXPECT_FALSE(uploads_->FinishedAnswer("app1", id));           // kept: finished again for real
  Result<std::string> again = uploads_->BeginFinish("app1", id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Contents(*again), "abc");
}

TEST_F(SymbolUploadsTest, AnAppHasABoundedNumberOpen) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < SymbolUploads::kMaxOpenPerApp; ++i) {
    ids.push_back(uploads_->Create("app1", 100).value().id);
  }
  EXPECT_EQ(uploads_->PendingBytes(), 100 * SymbolUploads::kMaxOpenPerApp);
  EXPECT_EQ(uploads_->Create("app1", 1).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(ListDir(dir_.path() + "/up").value().size(), 2 * ids.size());  // refused: no files
  EXPECT_TRUE(uploads_->Create("app2", 1).ok());  // other apps are not held back
  ASSERT_TRUE(uploads_->Remove("app1", ids[0]).ok());
  EXPECT_TRUE(uploads_->Create("app1", 1).ok());
}

TEST_F(SymbolUploadsTest, IdleUploadsExpireAfterADay) {
  std::string idle = uploads_->Create("app1", 10).value().id;
  std::string busy = uploads_->Create("app1", 10).value().id;
  clock_.AdvanceMs(SymbolUploads::kIdleExpiryMs - 1000);
  ASSERT_TRUE(uploads_->Write("app1", busy, 0, "x").ok());  // a chunk keeps it alive
  EXPECT_EQ(uploads_->ExpireIdle(), 0u);
  clock_.AdvanceMs(1000);
  EXPECT_EQ(uploads_->ExpireIdle(), 1u);
  EXPECT_EQ(uploads_->Get("app1", idle).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(uploads_->Get("app1", busy).ok());
  EXPECT_EQ(ListDir(dir_.path() + "/up").value().size(), 2u);  // its part and its state
  // Past its time an upload is not found, chunk or finish, without waiting for a sweep.
  clock_.AdvanceMs(SymbolUploads::kIdleExpiryMs);
  EXPECT_EQ(uploads_->Write("app1", busy, 1, "y").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(uploads_->BeginFinish("app1", busy).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ListDir(dir_.path() + "/up").value().size(), 0u);
}

TEST_F(SymbolUploadsTest, UploadsGoOnAfterAReopen) {
  std::string id = uploads_->Create("app1", 10).value().id;
  std::string empty = uploads_->Create("app1", 4).value().id;
  ASSERT_TRUE(uploads_->Write("app1", id, 0, "abc").ok());
  uploads_.reset();
  clock_.AdvanceMs(60'000);
  Result<std::unique_ptr<SymbolUploads>> reopened =
      SymbolUploads::Open(dir_.path() + "/up", &clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  Result<SymbolUploadState> state = (*reopened)->Get("app1", id);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(state->size, 10u);
  EXPECT_EQ(state->received, 3u);
  EXPECT_EQ((*reopened)->Get("app2", id).status().code(), StatusCode::kNotFound);  // its app's
  EXPECT_EQ((*reopened)->Get("app1", empty).value().received, 0u);
  EXPECT_EQ((*reopened)->PendingBytes(), 7u + 4u);
  // Past what it received, refused as before; from there, it goes on to a whole file.
  EXPECT_EQ((*reopened)->Write("app1", id, 4, "x").status().code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE((*reopened)->Write("app1", id, 3, "defghij").ok());
  Result<std::string> path = (*reopened)->BeginFinish("app1", id);
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  EXPECT_EQ(Contents(*path), "abcdefghij");
  (*reopened)->EndFinish("app1", id, /*keep=*/false, {201, "{}"});
  EXPECT_EQ(ListDir(dir_.path() + "/up").value().size(), 2u);  // the empty upload's two files
}

TEST_F(SymbolUploadsTest, ReopenedUploadsCountTowardsTheLimitAndExpireByTheirLastChunk) {
  std::string id = uploads_->Create("app1", 10).value().id;
  for (size_t i = 1; i < SymbolUploads::kMaxOpenPerApp; ++i) {
    ASSERT_TRUE(uploads_->Create("app1", 10).ok());
  }
  clock_.AdvanceMs(SymbolUploads::kIdleExpiryMs - 1000);
  ASSERT_TRUE(uploads_->Write("app1", id, 0, "a").ok());
  uploads_.reset();
  auto reopened = SymbolUploads::Open(dir_.path() + "/up", &clock_).value();
  EXPECT_EQ(reopened->Create("app1", 10).status().code(), StatusCode::kUnavailable);
  clock_.AdvanceMs(1000);  // a day after the others' creation, a second after id's chunk
  ASSERT_TRUE(reopened->Create("app1", 10).ok());
  EXPECT_TRUE(reopened->Get("app1", id).ok());
  EXPECT_EQ(ListDir(dir_.path() + "/up").value().size(), 4u);  // id's and the new one's files
}

TEST_F(SymbolUploadsTest, OpenDeletesWhatBelongsToNoUpload) {
  std::string kept = uploads_->Create("app1", 10).value().id;
  ASSERT_TRUE(uploads_->Write("app1", kept, 0, "abc").ok());
  std::string garbled = uploads_->Create("app1", 10).value().id;
  std::string short_part = uploads_->Create("app1", 10).value().id;
  ASSERT_TRUE(uploads_->Write("app1", short_part, 0, "abcde").ok());
  std::string future = uploads_->Create("app1", 10).value().id;
  uploads_.reset();
  const std::string up = dir_.path() + "/up/";
  // A state of a version this server does not know (written by a newer one).
  std::string state = Contents(up + future + ".state");
  ASSERT_EQ(state.find("\"version\":1,"), 1u) << state;
  state.replace(1, 12, "\"version\":2,");
  ASSERT_TRUE(WriteFile(up + future + ".state", state).ok());
  ASSERT_TRUE(WriteFile(up + garbled + ".state", "{\"app\": \"app1\", \"size\": ").ok());
  // A state saying more was received than its part holds (a part restored from elsewhere).
  ASSERT_TRUE(WriteFile(up + short_part + ".part", "abc").ok());
  ASSERT_TRUE(WriteFile(up + "up_orphan.part", "xyz").ok());          // its state is gone
  ASSERT_TRUE(WriteFile(up + kept + ".state.tmp", "{\"app\"").ok());  // a save cut short
  ASSERT_TRUE(WriteFile(up + "notes.txt", "?").ok());
  ASSERT_TRUE(WriteFile(up + ".state", "{}").ok());
  auto reopened = SymbolUploads::Open(dir_.path() + "/up", &clock_).value();
  EXPECT_EQ(ListDir(dir_.path() + "/up").value(),
            (std::vector<std::string>{kept + ".part", kept + ".state"}));
  EXPECT_EQ(reopened->Get("app1", kept).value().received, 3u);
  EXPECT_EQ(reopened->Get("app1", garbled).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reopened->Get("app1", short_part).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reopened->Get("app1", future).status().code(), StatusCode::kNotFound);
}

TEST_F(SymbolUploadsTest, WhatExpiredWhileTheServerWasDownIsGoneAtOpen) {
  std::string id = uploads_->Create("app1", 10).value().id;
  ASSERT_TRUE(uploads_->Write("app1", id, 0, "abc").ok());
  uploads_.reset();
  clock_.AdvanceMs(SymbolUploads::kIdleExpiryMs);
  auto reopened = SymbolUploads::Open(dir_.path() + "/up", &clock_).value();
  EXPECT_EQ(reopened->PendingBytes(), 0u);  // not counted against the disk reserve
  EXPECT_EQ(ListDir(dir_.path() + "/up").value().size(), 0u);
}

}  // namespace
}  // namespace vigil::ingest
