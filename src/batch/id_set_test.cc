// IdSet against a std::unordered_set of the same ids: every id the filter calls new is new, and
// after Settle() every id's verdict is exact — repeats inside one AddAll call, fingerprint
// collisions between different ids, growth past the expected size, and reuse after Release.
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

struct Verdicts {
  size_t fresh = 0, maybe = 0, repeated = 0;
};

// Adds `ids` in calls of `chunk`, and checks each verdict against an exact set: fresh ids are
// first sightings; a maybe is a repeat iff Settle() says so.
Verdicts AddAndCheck(IdSet* set, const std::vector<std::string>& ids, size_t chunk) {
  std::unordered_set<std::string> exact;
  std::vector<uint8_t> first_sighting;  // per maybe, in order
  Verdicts v;
  for (size_t start = 0; start < ids.size(); start += chunk) {
    const size_t n = std::min(chunk, ids.size() - start);
    std::vector<uint8_t> fresh(n);
    set->AddAll(
        n, [&](size_t i) { return std::string_view(ids[start + i]); }, fresh.data());
    for (size_t i = 0; i < n; ++i) {
      const bool first = exact.insert(ids[start + i]).second;
      if (fresh[i]) {
        EXPECT_TRUE(first) << "a repeat called new: row " << start + i << " " << ids[start + i];
        v.fresh++;
      } else {
        first_sighting.push_back(first ? 1 : 0);
        v.maybe++;
      }
    }
  }
  EXPECT_EQ(set->maybes(), v.maybe);
  std::vector<uint8_t> repeated = set->Settle();
  EXPECT_EQ(repeated.size(), first_sighting.size());
  for (size_t m = 0; m < std::min(repeated.size(), first_sighting.size()); ++m) {
    EXPECT_EQ(repeated[m] == 1, first_sighting[m] == 0) << "maybe #" << m;
    v.repeated += repeated[m];
  }
  EXPECT_EQ(v.fresh + v.maybe - v.repeated, exact.size());
  EXPECT_EQ(set->size(), ids.size());
  return v;
}

TEST(IdSetTest, VerdictsAreExactAfterSettle) {
  // 300k draws from 200k values: many repeats, several inside one AddAll call.
  std::vector<std::string> ids = RandomIds(300000, 200000, 7);
  IdSet set(ids.size());
  Verdicts v = AddAndCheck(&set, ids, 5000);
  EXPECT_GT(v.repeated, 50000u);
  // Different ids whose fingerprints met: maybes that Settle() cleared.
  EXPECT_GT(v.maybe, v.repeated);
}

TEST(IdSetTest, AFewDistinctIdsAreAllNew) {
  IdSet set(16);
  std::vector<std::string> ids = {"a", "b", "", "c"};
  Verdicts v = AddAndCheck(&set, ids, 4);
  EXPECT_EQ(v.fresh + v.maybe, 4u);
  EXPECT_EQ(v.repeated, 0u);
  EXPECT_TRUE(IdSet(16).Settle().empty());
}

TEST(IdSetTest, RepeatsOfTheEmptyIdAndWithinOneCall) {
  IdSet set(8);
  std::vector<std::string> ids = {"x", "", "x", "", "y", "x"};
  Verdicts v = AddAndCheck(&set, ids, ids.size());
  EXPECT_EQ(v.repeated, 3u);
}

TEST(IdSetTest, GrowsPastTheExpectedSizeWithoutLosingAnId) {
  // Sized for 16, given 100k: the log grows and the filter is rebuilt from it, mid-call too.
  std::vector<std::string> ids = RandomIds(100000, 60000, 11);
  IdSet set(16);
  Verdicts v = AddAndCheck(&set, ids, 30000);
  EXPECT_GT(v.repeated, 20000u);
}

TEST(IdSetTest, IdsSharingOneHomeSlotProbeRunsLongerThanOneCompare) {
  // 40 ids whose hashes pick the same home slot of a 64-slot filter: their probe run grows to
  // 40 slots, past the 16 a probe compares at once, and repeats of the last must still be seen.
  std::vector<std::string> ids;
  for (uint64_t i = 0; ids.size() < 40; ++i) {
    std::string id = "slot0-" + std::to_string(i);
    if ((IdSet::HashOf(id).low & 63) == 0) ids.push_back(id);
  }
  for (int r = 0; r < 4; ++r) ids.push_back(ids[39 - r * 10]);
  IdSet set(ids.size());  // 44 ids: 64 home slots
  Verdicts v = AddAndCheck(&set, ids, 11);
  EXPECT_EQ(v.repeated, 4u);
}

TEST(IdSetTest, ResetAfterReleaseForgetsEveryIdWhateverTheKernelKept) {
  std::vector<std::string> ids = RandomIds(50000, 1ull << 40, 3);
  // Sized so that Reset() keeps the same mappings (the case where old contents may survive).
  IdSet set(100000);
  EXPECT_EQ(AddAndCheck(&set, ids, 10000).repeated, 0u);
  set.Release();
  set.Reset(100000);
  EXPECT_EQ(set.size(), 0u);
  EXPECT_EQ(set.maybes(), 0u);
  EXPECT_EQ(AddAndCheck(&set, ids, 10000).repeated, 0u);
  // And a Release() right after a Reset() to another size.
  set.Release();
  set.Reset(10);
  EXPECT_EQ(AddAndCheck(&set, {"id1", "id1"}, 2).repeated, 1u);
}

}  // namespace
}  // namespace vigil::batch
