// DedupTable against a plain std::unordered_map model: random additions, removals, lookups and
// expiry with colliding keys, the window's edges to the second, offsets, and memory per key.
#include "log/dedup_table.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

namespace vigil::log {
namespace {

constexpr int64_t kT0 = 1700000000000;  // on a second boundary

TEST(DedupTableTest, FindsWhatWasAddedWithItsOffset) {
  DedupTable t;
  EXPECT_FALSE(t.Find(5, 0, 100, nullptr));
  t.Add(5, 42, kT0);
  uint64_t offset = 0;
  ASSERT_TRUE(t.Find(5, kT0, 100, &offset));
  EXPECT_EQ(offset, 42u);
  EXPECT_FALSE(t.Find(6, kT0, 100, &offset));
  EXPECT_FALSE(t.Find(0, kT0, 100, &offset));  // 0 is never a key
  t.Add(5, 77, kT0 + 5000);                    // again: the new offset and time
  ASSERT_TRUE(t.Find(5, kT0 + 5000, 100, &offset));
  EXPECT_EQ(offset, 77u);
  EXPECT_EQ(t.size(), 1u);
  t.Remove(5);
  EXPECT_FALSE(t.Find(5, 0, 100, &offset));
  EXPECT_EQ(t.size(), 0u);
}

// Times are kept to the second: a key is found while any part of its second is in the window.
TEST(DedupTableTest, TheWindowEndsWithTheKeysSecond) {
  DedupTable t;
  uint64_t offset;
  t.Add(9, 1, kT0 + 300);
  EXPECT_TRUE(t.Find(9, kT0 + 300, 2, &offset));
  EXPECT_TRUE(t.Find(9, kT0 + 999, 2, &offset));    // the window starts within its second
  EXPECT_FALSE(t.Find(9, kT0 + 1000, 2, &offset));  // the window starts after it
  EXPECT_TRUE(t.Find(9, kT0 - 5000, 2, &offset));
}

// Offsets are kept as their low 32 bits, exact while fewer than 2^32 records follow.
TEST(DedupTableTest, OffsetsBeyond32BitsComeBackExact) {
  DedupTable t;
  const uint64_t big = (uint64_t{7} << 32) + 123;
  t.Add(1, big, kT0);
  t.Add(2, big + 0xfffffff0ull, kT0);  // across a 2^32 boundary
  uint64_t offset;
  ASSERT_TRUE(t.Find(1, kT0, big + 0xfffffff5ull, &offset));
  EXPECT_EQ(offset, big);
  ASSERT_TRUE(t.Find(2, kT0, big + 0xfffffff5ull, &offset));
  EXPECT_EQ(offset, big + 0xfffffff0ull);
}

TEST(DedupTableTest, ExpiredKeysAreSweptWithinAPeriod) {
  DedupTable t;
  for (uint64_t k = 1; k <= 1000; ++k) t.Add(k, k, kT0);
  for (uint64_t k = 1001; k <= 1500; ++k) t.Add(k, k, kT0 + 10000);
  t.Expire(kT0 + 5000, kT0 + 20000);  // the first call only starts the clock
  EXPECT_EQ(t.size(), 1500u);
  // Half a period: about half the slots looked at.
  t.Expire(kT0 + 5000, kT0 + 20000 + DedupTable::kSweepPeriodMs / 2);
  EXPECT_LT(t.size(), 1500u);
  EXPECT_GT(t.size(), 500u);
  uint64_t offset;
  for (uint64_t k = 1; k <= 1000; ++k) EXPECT_FALSE(t.Find(k, kT0 + 5000, 2000, &offset)) << k;
  t.Expire(kT0 + 5000, kT0 + 20000 + DedupTable::kSweepPeriodMs);
  EXPECT_EQ(t.size(), 500u);
  for (uint64_t k = 1001; k <= 1500; ++k) ASSERT_TRUE(t.Find(k, kT0 + 5000, 2000, &offset)) << k;
}

// A full table sweeps before it grows: a window that stays the same size stays in the same
// table however many keys pass through it.
TEST(DedupTableTest, ASteadyWindowDoesNotGrowTheTable) {
  DedupTable t;
  std::mt19937_64 rng(1);
  const int64_t window_s = 6 * 3600;
  const int per_second = 5;  // a 6-hour window of 108,000 keys
  int64_t now = kT0;
  size_t capacity = 0;
  for (int64_t second = 0; second < 3 * window_s; ++second, now += 1000) {
    for (int i = 0; i < per_second; ++i) t.Add(rng() | 1, second * per_second + i, now);
    t.Expire(now - window_s * 1000, now);
    if (second == window_s * 6 / 5) capacity = t.capacity();
  }
  EXPECT_EQ(t.capacity(), capacity);
  const size_t window_keys = window_s * per_second;
  // The window, and at most a sweep period's worth of expired keys.
  EXPECT_GE(t.size(), window_keys);
  EXPECT_LE(t.size(), window_keys + (DedupTable::kSweepPeriodMs / 1000 + 1) * per_second);
  // 16 bytes a slot, at most 8/3 slots a key: std::unordered_map took 75.5 bytes a key.
  EXPECT_LE(t.memory_bytes() / window_keys, 43u);
}

// A burst's window is given back once the burst has left it: after a lap of the sweep the
// table halves while under 1/8 full, and what stays is still found.
TEST(DedupTableTest, TheTableShrinksOnceABurstHasLeftTheWindow) {
  DedupTable t;
  int64_t now = kT0;
  for (uint64_t k = 1; k <= 100000; ++k) t.Add(k, k, now);  // the burst
  const size_t burst_capacity = t.capacity();
  EXPECT_GE(burst_capacity, 131072u);
  t.Expire(now - 60000, now);  // starts the sweep's clock
  now += 1000;
  for (uint64_t k = 200001; k <= 200100; ++k) t.Add(k, k, now);  // the steady trickle
  // A minute later the burst is out of a one-minute window; a whole period later, swept.
  now += DedupTable::kSweepPeriodMs;
  t.Expire(now - DedupTable::kSweepPeriodMs, now);
  EXPECT_EQ(t.size(), 100u);
  EXPECT_EQ(t.capacity(), 512u);  // 100 keys: halved while under 1/8 full
  uint64_t offset;
  for (uint64_t k = 200001; k <= 200100; ++k) {
    ASSERT_TRUE(t.Find(k, now - DedupTable::kSweepPeriodMs, 300000, &offset)) << k;
    EXPECT_EQ(offset, k);
  }
  EXPECT_FALSE(t.Find(5, now - DedupTable::kSweepPeriodMs, 300000, &offset));
}

// The model: every key with its offset and time; a key is in the window while its second is.
TEST(DedupTableTest, MatchesAModelUnderRandomOperations) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    DedupTable t;
    struct Entry {
      uint64_t offset;
      int64_t time_ms;
    };
    std::unordered_map<uint64_t, Entry> model;
    std::mt19937_64 rng(seed);
    int64_t now = kT0;
    uint64_t next_offset = 0;
    const int64_t window = 60 * 1000;
    auto in_window = [&](const Entry& e, int64_t since) {
      return e.time_ms / 1000 >= since / 1000;
    };
    // Keys from a small set, so that they come back, collide and form long runs; a third
    // differ in their top bits only.
    auto random_key = [&]() -> uint64_t {
      const uint64_t r = rng() % 3000;
      return r < 1000 ? (r << 54) | 1 : r * 0x1234567ull + 1;
    };
    for (int op = 0; op < 200000; ++op) {
      const uint64_t key = random_key();
      const int64_t since = now - window;
      switch (rng() % 10) {
        case 0:
        case 1:
        case 2: {
          t.Add(key, next_offset, now);
          model[key] = {next_offset, now};
          ++next_offset;
          break;
        }
        case 3:
          t.Remove(key);
          model.erase(key);
          break;
        case 4:
          now += static_cast<int64_t>(rng() % 3000);
          t.Expire(now - window, now);
          break;
        default: {
          uint64_t offset = 0;
          auto it = model.find(key);
          const bool want = it != model.end() && in_window(it->second, since);
          ASSERT_EQ(t.Find(key, since, next_offset + 1, &offset), want)
              << "seed " << seed << " op " << op << " key " << key;
          if (want) {
            ASSERT_EQ(offset, it->second.offset);
          }
        }
      }
    }
    // After a full period, the table holds exactly the model's keys still in the window.
    now += DedupTable::kSweepPeriodMs;
    t.Expire(now - window - DedupTable::kSweepPeriodMs, now);
    size_t live = 0;
    for (const auto& [key, e] : model) {
      uint64_t offset;
      const bool want = in_window(e, now - window - DedupTable::kSweepPeriodMs);
      live += want;
      EXPECT_EQ(t.Find(key, now - window - DedupTable::kSweepPeriodMs, next_offset, &offset), want);
    }
    EXPECT_EQ(t.size(), live) << "seed " << seed;
  }
}

}  // namespace
}  // namespace vigil::log
