// HyperLogLog: exactness while small, error against exact counts from 1 to 10M, bias across
// independent trials, lossless merges across representations, and the serialized form (round
// trips, and every damaged form rejected).
#include "aggregate/hyperloglog.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "common/coding.h"

namespace vigil::aggregate {
namespace {

using Rep = HyperLogLog::Representation;

// Distinct keys per (trial, i), hashed the way callers hash user ids.
uint64_t KeyHash(uint64_t trial, uint64_t i) {
  uint64_t key[2] = {trial, i};
  return XXH3_64bits(key, sizeof(key));
}

HyperLogLog Sketch(uint64_t trial, uint64_t from, uint64_t to) {
  HyperLogLog h;
  for (uint64_t i = from; i < to; ++i) h.AddHash(KeyHash(trial, i));
  return h;
}

double RelativeError(uint64_t estimate, uint64_t n) {
  return (static_cast<double>(estimate) - static_cast<double>(n)) / static_cast<double>(n);
}

TEST(HyperLogLogTest, EmptySketchCountsZero) {
  HyperLogLog h;
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.Estimate(), 0u);
}

TEST(HyperLogLogTest, CountsAreExactUpToTheExactLimit) {
  HyperLogLog h;
  for (uint64_t n = 1; n <= HyperLogLog::kExactLimit; ++n) {
    h.Add("user-" + std::to_string(n));
    ASSERT_EQ(h.Estimate(), n);
    ASSERT_EQ(h.representation(), Rep::kExact);
  }
  h.Add("user-257");
  EXPECT_EQ(h.representation(), Rep::kSparse);
  EXPECT_EQ(h.Estimate(), 257u);
}

TEST(HyperLogLogTest, RepeatedKeysCountOnce) {
  HyperLogLog h;
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 20000; ++i) h.Add("device-" + std::to_string(i));
  }
  HyperLogLog once;
  for (int i = 0; i < 20000; ++i) once.Add("device-" + std::to_string(i));
  EXPECT_EQ(h.Estimate(), once.Estimate());
  EXPECT_EQ(h.Serialize(), once.Serialize());
}

TEST(HyperLogLogTest, ErrorAgainstExactCountsFromOneToTenMillion) {
  // Dense: 0.81 % standard error, so 2.5 % is about three standard deviations; sparse linear
  // counting over 2^25 buckets is far tighter.
  struct Case {
    uint64_t n;
    double tolerance;
  };
  const Case cases[] = {{1, 0},          {2, 0},           {10, 0},          {100, 0},
                        {256, 0},        {257, 0.001},     {1000, 0.001},    {3000, 0.001},
                        {3500, 0.025},   {5000, 0.025},    {10000, 0.025},   {50000, 0.025},
                        {100000, 0.025}, {1000000, 0.025}, {10000000, 0.025}};
  HyperLogLog h;
  uint64_t added = 0;
  for (const Case& c : cases) {
    for (; added < c.n; ++added) h.AddHash(KeyHash(7, added));
    double err = RelativeError(h.Estimate(), c.n);
    EXPECT_LE(std::fabs(err), c.tolerance) << "n=" << c.n << " estimate=" << h.Estimate();
  }
  EXPECT_EQ(h.representation(), Rep::kDense);
}

TEST(HyperLogLogTest, DenseEstimatesAreUnbiasedAcrossTrials) {
  // Across the range where the classic estimator is biased (n around 2.5·m) and beyond, the mean
  // error over independent sketches stays near zero and the spread near 1.04/√m.
  for (uint64_t n : {4000u, 20000u, 40000u, 200000u}) {
    const int trials = n >= 200000 ? 12 : 40;
    double sum = 0, sum_sq = 0;
    for (int t = 0; t < trials; ++t) {
      double err = RelativeError(Sketch(1000 + t, 0, n).Estimate(), n);
      sum += err;
      sum_sq += err * err;
    }
    double mean = sum / trials, rms = std::sqrt(sum_sq / trials);
    EXPECT_LT(std::fabs(mean), 0.005) << "n=" << n;
    EXPECT_LT(rms, 0.013) << "n=" << n;
  }
}

TEST(HyperLogLogTest, MergeEqualsAddingTheUnion) {
  // Every pair of representations: the merged sketch is byte-identical to one sketch fed the
  // union (the sparse → dense conversion sets the registers the hashes would have set).
  const uint64_t sizes[] = {0, 50, 200, 2000, 30000};
  for (uint64_t a : sizes) {
    for (uint64_t b : sizes) {
      HyperLogLog left = Sketch(3, 0, a);
      HyperLogLog right = Sketch(3, a / 2, a / 2 + b);  // overlaps the left half-way
      HyperLogLog direct = Sketch(3, 0, std::max(a, a / 2 + b));
      left.Merge(right);
      ASSERT_EQ(left.representation(), direct.representation()) << a << "+" << b;
      EXPECT_EQ(left.Serialize(), direct.Serialize()) << a << "+" << b;
      EXPECT_EQ(left.Estimate(), direct.Estimate()) << a << "+" << b;
    }
  }
}

// A sketch is a function of the set of hashes added: the batch layer adds a part's users to a
// sketch in another order than rows arrive, and its cells must not depend on it. Sizes around
// both representation changes, with repeats, in three orders.
TEST(HyperLogLogTest, TheOrderOfAddsChangesNothing) {
  std::mt19937_64 rng(11);
  for (uint64_t n : {1u, 255u, 256u, 257u, 1000u, 3071u, 3072u, 3073u, 3200u, 5000u}) {
    std::vector<uint64_t> hashes;
    for (uint64_t i = 0; i < n; ++i) hashes.push_back(KeyHash(12, i));
    for (uint64_t i = 0; i < n; i += 3) hashes.push_back(KeyHash(12, i));  // repeats
    std::string first;
    for (int order = 0; order < 3; ++order) {
      if (order == 1) std::reverse(hashes.begin(), hashes.end());
      if (order == 2) std::shuffle(hashes.begin(), hashes.end(), rng);
      HyperLogLog h;
      for (uint64_t x : hashes) h.AddHash(x);
      if (order == 0) {
        first = h.Serialize();
        // Exact up to the exact limit; sparse indexes collide so rarely that n > 3072 is dense.
        EXPECT_EQ(h.representation(), n <= HyperLogLog::kExactLimit    ? Rep::kExact
                                      : n <= HyperLogLog::kSparseLimit ? Rep::kSparse
                                                                       : Rep::kDense)
            << n;
      } else {
        EXPECT_EQ(h.Serialize(), first) << n << " order " << order;
      }
    }
  }
}

// AddHashes is AddHash of each: from every representation, with runs below and above the
// sparse limit, runs of many repeats that set few registers, and runs that set just over
// kSparseLimit registers (where the bulk path decides the sketch is dense on its own).
TEST(HyperLogLogTest, AddingARunEqualsAddingItsHashesOneByOne) {
  std::vector<std::vector<uint64_t>> runs;
  for (uint64_t n : {0u, 1u, 256u, 3072u, 3073u, 3500u, 4000u, 20000u}) {
    std::vector<uint64_t> run;
    for (uint64_t i = 0; i < n; ++i) run.push_back(KeyHash(21, i));
    runs.push_back(run);
  }
  {
    std::vector<uint64_t> repeats;  // 50000 hashes of 200 keys: few registers set
    for (uint64_t i = 0; i < 50000; ++i) repeats.push_back(KeyHash(22, i % 200));
    runs.push_back(repeats);
  }
  {
    // Keys whose registers are all distinct, 3072 and 3073 of them: set registers = keys.
    std::vector<uint64_t> spread;
    std::vector<bool> used(HyperLogLog::kRegisters);
    for (uint64_t i = 0; spread.size() < 3073; ++i) {
      uint64_t h = KeyHash(23, i);
      if (used[h >> 50]) continue;
      used[h >> 50] = true;
      spread.push_back(h);
    }
    runs.push_back(spread);
    spread.pop_back();
    runs.push_back(spread);
  }
  for (uint64_t start : {0u, 100u, 1000u, 3000u, 10000u}) {
    for (size_t r = 0; r < runs.size(); ++r) {
      HyperLogLog one = Sketch(24, 0, start), bulk = one;
      for (uint64_t h : runs[r]) one.AddHash(h);
      bulk.AddHashes(runs[r]);
      EXPECT_EQ(bulk.representation(), one.representation()) << start << " run " << r;
      EXPECT_EQ(bulk.Serialize(), one.Serialize()) << start << " run " << r;
    }
  }
}

// What Emit does with a day's small sketches: their hashes gathered (AppendExactHashes), the
// others merged, then one AddHashes — byte-identical to merging every sketch in turn.
TEST(HyperLogLogTest, GatheringExactSketchesEqualsMergingThem) {
  for (uint64_t small : {1u, 10u, 40u, 300u}) {
    std::vector<HyperLogLog> parts;
    for (uint64_t p = 0; p < 240; ++p)
      parts.push_back(Sketch(25, p * small / 2, p * small / 2 + small));
    parts.push_back(Sketch(25, 0, 1000));     // sparse
    parts.push_back(Sketch(25, 500, 40000));  // dense
    HyperLogLog merged, gathered;
    std::vector<uint64_t> hashes;
    for (const HyperLogLog& p : parts) {
      merged.Merge(p);
      const size_t before = hashes.size();
      const bool exact = p.AppendExactHashes(&hashes);
      EXPECT_EQ(exact, p.representation() == Rep::kExact);
      if (exact) {
        EXPECT_EQ(hashes.size() - before, p.Estimate());
      } else {
        EXPECT_EQ(hashes.size(), before);
        gathered.Merge(p);
      }
    }
    gathered.AddHashes(hashes);
    EXPECT_EQ(gathered.Serialize(), merged.Serialize()) << small;
  }
}

// The batch layer tells a changed day by fingerprints: two sketches' fingerprints must be equal
// exactly when their serialized forms are, whatever order filled their tables (a decoded sketch
// fills them in sorted order).
TEST(HyperLogLogTest, FingerprintsAreEqualExactlyWhenSerializedFormsAre) {
  auto fingerprint = [](const HyperLogLog& h) {
    std::string out;
    h.AppendFingerprintTo(&out);
    return out;
  };
  for (uint64_t n : {0u, 1u, 100u, 256u, 257u, 2000u, 3072u, 3073u, 50000u}) {
    const HyperLogLog base = Sketch(13, 0, n);
    HyperLogLog decoded;
    ASSERT_TRUE(HyperLogLog::Decode(base.Serialize(), &decoded).ok());
    EXPECT_EQ(fingerprint(decoded), fingerprint(base)) << n;
    // One more hash: new, or one already there (an exact repeat; in a sparse or dense sketch,
    // often a rank that changes nothing).
    for (uint64_t extra = 0; extra < 200; ++extra) {
      HyperLogLog more = base;
      more.AddHash(KeyHash(13, extra % 2 == 0 ? n + extra : extra));
      ASSERT_EQ(fingerprint(more) == fingerprint(base), more.Serialize() == base.Serialize())
          << n << " + " << extra;
    }
  }
  // Sketches of different sets differ, in every representation (dense: sets apart enough for
  // their registers to differ).
  EXPECT_NE(fingerprint(Sketch(14, 0, 10)), fingerprint(Sketch(14, 1, 11)));
  EXPECT_NE(fingerprint(Sketch(14, 0, 1000)), fingerprint(Sketch(14, 1, 1001)));
  EXPECT_NE(fingerprint(Sketch(14, 0, 100000)), fingerprint(Sketch(15, 0, 100000)));
}

TEST(HyperLogLogTest, MergingASketchIntoItselfChangesNothing) {
  for (uint64_t n : {10u, 1000u, 50000u}) {
    HyperLogLog h = Sketch(4, 0, n);
    std::string before = h.Serialize();
    h.Merge(h);
    EXPECT_EQ(h.Serialize(), before);
  }
}

TEST(HyperLogLogTest, SerializedFormRoundTripsInEveryRepresentation) {
  for (uint64_t n : {0u, 1u, 256u, 257u, 3000u, 100000u}) {
    HyperLogLog h = Sketch(5, 0, n);
    std::string bytes = h.Serialize();
    HyperLogLog back;
    ASSERT_TRUE(HyperLogLog::Decode(bytes, &back).ok()) << n;
    EXPECT_EQ(back.representation(), h.representation());
    EXPECT_EQ(back.Estimate(), h.Estimate());
    EXPECT_EQ(back.Serialize(), bytes);
    // A decoded sketch goes on counting like the original.
    back.AddHash(KeyHash(5, n));
    h.AddHash(KeyHash(5, n));
    EXPECT_EQ(back.Serialize(), h.Serialize());
  }
  EXPECT_EQ(Sketch(5, 0, 100000).Serialize().size(), 4u + 12288u);  // dense: 6 bits a register
}

// At every size on the way to dense, the serialized form must decode (the decoder bounds sparse
// entries) and answer the same count as the sketch, with repeated keys in between.
TEST(HyperLogLogTest, EverySparseSizeOnTheWayToDenseRoundTrips) {
  HyperLogLog h;
  for (uint64_t i = 0; h.representation() != Rep::kDense; ++i) {
    ASSERT_LT(i, 20000u);
    h.AddHash(KeyHash(9, i));
    h.AddHash(KeyHash(9, i / 2));  // seen before
    HyperLogLog back;
    Status st = HyperLogLog::Decode(h.Serialize(), &back);
    ASSERT_TRUE(st.ok()) << i << ": " << st.ToString();
    ASSERT_EQ(back.Estimate(), h.Estimate()) << i;
    ASSERT_EQ(back.representation(), h.representation()) << i;
  }
}

// Earlier versions could store sparse sketches past the limit (see the test above): they must
// still decode, as the dense sketch they would have become.
TEST(HyperLogLogTest, OversizedSparseSketchesFromEarlierVersionsDecodeAsDense) {
  HyperLogLog want;
  std::string bytes = {'H', 1, 1, 14};
  const uint32_t n = 5000;
  PutVarint64(&bytes, n);
  uint32_t previous = 0;
  for (uint32_t i = 0; i < n; ++i) {
    // Index 6700·i + 3 at sparse precision, rank 1 + i % 9: as a hash, those top 25 bits, then
    // i % 9 zero bits and a one.
    const uint64_t hash = (uint64_t{6700} * i + 3) << 39 | (uint64_t{1} << (38 - i % 9));
    want.AddHash(hash);
    const uint32_t entry = (6700 * i + 3) << 6 | (1 + i % 9);
    PutVarint64(&bytes, entry - previous);
    previous = entry;
  }
  HyperLogLog got;
  Status st = HyperLogLog::Decode(bytes, &got);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(got.representation(), Rep::kDense);
  EXPECT_EQ(want.representation(), Rep::kDense);
  EXPECT_EQ(got.Serialize(), want.Serialize());
  // A count the bytes cannot hold is still damage.
  std::string lying = {'H', 1, 1, 14};
  PutVarint64(&lying, 1000000);
  PutVarint64(&lying, 65);
  EXPECT_FALSE(HyperLogLog::Decode(lying, &got).ok());
}

TEST(HyperLogLogTest, EveryTruncationIsRejected) {
  for (uint64_t n : {3u, 300u, 100000u}) {
    std::string bytes = Sketch(6, 0, n).Serialize();
    for (size_t len = 0; len < bytes.size(); ++len) {
      HyperLogLog h;
      Status st = HyperLogLog::Decode(std::string_view(bytes).substr(0, len), &h);
      ASSERT_EQ(st.code(), StatusCode::kCorruption) << "n=" << n << " len=" << len;
    }
  }
}

TEST(HyperLogLogTest, DamagedHeadersAndValuesAreRejected) {
  std::string exact = Sketch(8, 0, 5).Serialize();
  std::string sparse = Sketch(8, 0, 400).Serialize();
  std::string dense = Sketch(8, 0, 100000).Serialize();
  auto rejected = [](std::string bytes, size_t at, char value) {
    bytes[at] = value;
    HyperLogLog h;
    return HyperLogLog::Decode(bytes, &h).code() == StatusCode::kCorruption;
  };
  EXPECT_TRUE(rejected(exact, 0, 'X'));        // magic
  EXPECT_TRUE(rejected(exact, 1, 2));          // version
  EXPECT_TRUE(rejected(exact, 2, 7));          // representation
  EXPECT_TRUE(rejected(exact, 3, 12));         // precision
  EXPECT_TRUE(rejected(dense, 4, '\xff'));     // register 63 > 51
  EXPECT_TRUE(rejected(exact + "x", 0, 'H'));  // trailing byte
  // A repeated exact hash (delta 0 after the first) and a sparse rank of 0.
  std::string twice = std::string("H\x01\x00\x0e", 4) + "\x02\x05\x00";
  HyperLogLog h;
  EXPECT_EQ(HyperLogLog::Decode(twice, &h).code(), StatusCode::kCorruption);
  std::string rank0 = std::string("H\x01\x01\x0e", 4) + "\x01\x40";  // entry 64: index 1, rank 0
  EXPECT_EQ(HyperLogLog::Decode(rank0, &h).code(), StatusCode::kCorruption);
  std::string ok = std::string("H\x01\x01\x0e", 4) + "\x01\x41";
  EXPECT_TRUE(HyperLogLog::Decode(ok, &h).ok());
  EXPECT_EQ(h.Estimate(), 1u);
}

TEST(HyperLogLogTest, FlippedBytesNeverBreakDecoding) {
  // Every byte bent three ways: decoding either fails cleanly or yields a usable sketch.
  for (uint64_t n : {20u, 600u}) {
    std::string bytes = Sketch(9, 0, n).Serialize();
    for (size_t i = 0; i < bytes.size(); ++i) {
      for (char x : {'\x01', '\x80', '\xff'}) {
        std::string bent = bytes;
        bent[i] = static_cast<char>(bent[i] ^ x);
        HyperLogLog h;
        if (HyperLogLog::Decode(bent, &h).ok()) {
          h.AddHash(1);
          h.Merge(Sketch(9, 0, 100));
          (void)h.Estimate();
        }
      }
    }
  }
}

}  // namespace
}  // namespace vigil::aggregate
