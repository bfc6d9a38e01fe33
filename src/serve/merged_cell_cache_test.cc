// MergedCellCache and LayerMerge's use of it: sealed batch days are reused within one batch
// generation and re-read after the next; speed days are always read fresh; counters-only and
// full merges are kept apart; older generations never overwrite newer ones; memory is bounded.
#include "serve/merged_cell_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/temp_dir.h"
#include "common/time_bucket.h"
#include "serve/layer_merge.h"
#include "serve/rocksdb_store.h"

namespace vigil::serve {
namespace {

using aggregate::RollupCell;
using aggregate::RollupKey;

constexpr int64_t kDay0 = 1700006400000;  // 2023-11-15T00:00:00Z

RollupKey GroupKey(std::string subject, int64_t day) {
  RollupKey k;
  k.app = "app";
  k.metric = "crash_group";
  k.subject = std::move(subject);
  k.version = "";
  k.os = "";
  k.granularity = Granularity::kDay;
  k.bucket_ms = day;
  return k;
}

RollupCell Cell(uint64_t count, std::string user) {
  RollupCell c;
  c.count = count;
  c.users.Add(user);
  return c;
}

class MergedCellCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = RocksDbStore::Open(dir_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  void TearDown() override { store_.reset(); }
  void Put(Layer layer, const std::string& subject, int64_t day, RollupCell cell) {
    WriteSet w;
    w.PutCell(layer, GroupKey(subject, day), cell);
    ASSERT_TRUE(store_->Apply(w, false).ok());
  }
  // Days 0-2 sealed by batch, day 3 speed's; merged over the four days.
  std::map<std::string, RollupCell> Merge(uint64_t generation, bool counters_only) {
    LayerMerge merge(store_.get(), {kDay0, kDay0 + kDayMs, kDay0 + 2 * kDayMs});
    merge.set_cache(&cache_, generation);
    merge.set_counters_only(counters_only);
    std::map<std::string, RollupCell> out;
    EXPECT_TRUE(merge.SubjectsOver(GroupKey("", 0), kDay0, kDay0 + 4 * kDayMs, &out).ok());
    return out;
  }

  TempDir temp_dir_;
  std::string dir_ = temp_dir_.path();
  std::unique_ptr<RocksDbStore> store_;
  MergedCellCache cache_;
};

TEST_F(MergedCellCacheTest, SealedDaysAreReusedUntilTheNextBatchGeneration) {
  for (int d = 0; d < 3; ++d) Put(Layer::kBatch, "g1", kDay0 + d * kDayMs, Cell(10, "u1"));
  Put(Layer::kBatch, "g2", kDay0, Cell(1, "u2"));
  Put(Layer::kSpeed, "g1", kDay0 + 3 * kDayMs, Cell(5, "u3"));
  Put(Layer::kSpeed, "g1", kDay0, Cell(1000, "ignored"));  // sealed day: batch's, not speed's

  auto first = Merge(1, false);
  EXPECT_EQ(first["g1"].count, 35u);
  EXPECT_EQ(first["g1"].users.Estimate(), 2u);
  EXPECT_EQ(first["g2"].count, 1u);

  // Batch cells change in the store but the generation does not: the merged days are reused.
  Put(Layer::kBatch, "g1", kDay0, Cell(20, "u4"));
  // Speed's day is read every time.
  Put(Layer::kSpeed, "g1", kDay0 + 3 * kDayMs, Cell(6, "u3"));
  auto cached = Merge(1, false);
  EXPECT_EQ(cached["g1"].count, 36u);
  EXPECT_EQ(cached["g1"].users.Estimate(), 2u);

  // The next generation reads the batch days again.
  auto next = Merge(2, false);
  EXPECT_EQ(next["g1"].count, 46u);
  EXPECT_EQ(next["g1"].users.Estimate(), 3u);

  // A query that read the older generation (batch wrote meanwhile) does not replace newer cells.
  Put(Layer::kBatch, "g1", kDay0, Cell(30, "u5"));
  auto stale = Merge(1, false);  // misses (generation 2 is current) and is not stored
  EXPECT_EQ(stale["g1"].count, 56u);
  EXPECT_EQ(Merge(2, false)["g1"].count, 46u);  // generation 2's cells, still cached
}

TEST_F(MergedCellCacheTest, CountersOnlyAndFullMergesAreCachedApart) {
  Put(Layer::kBatch, "g1", kDay0, Cell(10, "u1"));
  auto counters = Merge(1, true);
  EXPECT_EQ(counters["g1"].count, 10u);
  EXPECT_EQ(counters["g1"].users.Estimate(), 0u);
  auto full = Merge(1, false);
  EXPECT_EQ(full["g1"].count, 10u);
  EXPECT_EQ(full["g1"].users.Estimate(), 1u);
}

TEST(MergedCellCacheBudgetTest, OverTheBudgetTheCacheStartsOver) {
  MergedCellCache cache(/*max_cells=*/3);
  auto cells = [](int n) {
    auto c = std::make_shared<MergedCellCache::Cells>();
    for (int i = 0; i < n; ++i) (*c)[std::to_string(i)].count = 1;
    return c;
  };
  cache.Put("a", 1, cells(2));
  EXPECT_NE(cache.Find("a", 1), nullptr);
  EXPECT_EQ(cache.Find("a", 2), nullptr);  // another generation never matches
  cache.Put("b", 1, cells(2));             // 4 > 3: "a" goes
  EXPECT_EQ(cache.Find("a", 1), nullptr);
  EXPECT_NE(cache.Find("b", 1), nullptr);
  cache.Put("c", 1, cells(4));  // larger than the whole budget: not kept
  EXPECT_EQ(cache.Find("c", 1), nullptr);
  std::string metrics;
  cache.RenderMetrics(&metrics);
  EXPECT_NE(metrics.find("vigil_query_cache_hits_total 2\n"), std::string::npos) << metrics;
}

}  // namespace
}  // namespace vigil::serve
