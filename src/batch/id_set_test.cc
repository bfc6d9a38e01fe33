// IdSet against a std::unordered_set of the same ids: single inserts, batched inserts with
// repeats inside one batch, and growth across Reserve.
#include "batch/id_set.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_set>
#include <vector>

namespace vigil::batch {
namespace {

std::vector<std::string> RandomIds(size_t n, uint64_t universe, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back("evt-" + std::to_string(rng() % universe));
  return ids;
}

TEST(IdSetTest, InsertReportsFirstSightingOnly) {
  IdSet set(4);
  EXPECT_TRUE(set.Insert("a"));
  EXPECT_FALSE(set.Insert("a"));
  EXPECT_TRUE(set.Insert("b"));
  EXPECT_TRUE(set.Insert(""));
  EXPECT_FALSE(set.Insert(""));
  EXPECT_EQ(set.size(), 3u);
}

TEST(IdSetTest, InsertAllMatchesAnExactSetInOrder) {
  // 200k draws from 120k values: many repeats, several inside one InsertAll call.
  std::vector<std::string> ids = RandomIds(200000, 120000, 7);
  IdSet set(16);  // starts small: InsertAll must reserve before probing
  std::unordered_set<std::string> exact;
  size_t expected_fresh = 0, got_fresh = 0;
  for (size_t start = 0; start < ids.size(); start += 5000) {
    size_t n = std::min<size_t>(5000, ids.size() - start);
    std::vector<IdSet::Key> keys;
    for (size_t i = 0; i < n; ++i) keys.push_back(IdSet::HashOf(ids[start + i]));
    std::vector<uint8_t> fresh(n);
    set.InsertAll(keys.data(), n, fresh.data());
    for (size_t i = 0; i < n; ++i) {
      bool first = exact.insert(ids[start + i]).second;
      ASSERT_EQ(fresh[i] == 1, first) << "row " << start + i << " id " << ids[start + i];
      expected_fresh += first;
      got_fresh += fresh[i];
    }
  }
  EXPECT_EQ(got_fresh, expected_fresh);
  EXPECT_EQ(set.size(), exact.size());
}

TEST(IdSetTest, ReserveAndResetKeepTheContract) {
  IdSet set(2);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(set.Insert("id" + std::to_string(i)));
  set.Reserve(1 << 20);  // rehash keeps every id
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(set.Insert("id" + std::to_string(i)));
  EXPECT_EQ(set.size(), 1000u);
  set.Reset(10);
  EXPECT_EQ(set.size(), 0u);
  EXPECT_TRUE(set.Insert("id1"));
}

TEST(IdSetTest, ResetAfterReleaseForgetsEveryIdWhateverTheKernelKept) {
  // Sized so that Reset() keeps the same mapping (the case where old slots may survive).
  IdSet set(100000);
  for (int i = 0; i < 50000; ++i) ASSERT_TRUE(set.Insert("id" + std::to_string(i)));
  set.Release();
  set.Reset(100000);
  EXPECT_EQ(set.size(), 0u);
  for (int i = 0; i < 50000; ++i) ASSERT_TRUE(set.Insert("id" + std::to_string(i))) << i;
  // And a Release() right after a Reset() to another size.
  set.Release();
  set.Reset(10);
  EXPECT_TRUE(set.Insert("id1"));
  EXPECT_FALSE(set.Insert("id1"));
}

}  // namespace
}  // namespace vigil::batch
