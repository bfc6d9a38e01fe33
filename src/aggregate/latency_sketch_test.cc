// LatencySketch: percentiles within 1 % of exact ones on several latency shapes, zeros, merges,
// collapsing of very wide ranges, and the serialized form.
#include "aggregate/latency_sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace vigil::aggregate {
namespace {

const double kQuantiles[] = {0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1};

// The value of rank floor(q·(n−1)) in the sorted data: what Quantile promises to be within 1 % of.
double ExactQuantile(std::vector<double> sorted, double q) {
  return sorted[static_cast<size_t>(q * static_cast<double>(sorted.size() - 1))];
}

void ExpectWithinOnePercent(const std::vector<double>& values, const LatencySketch& s,
                            const char* shape) {
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (double q : kQuantiles) {
    double exact = ExactQuantile(sorted, q);
    double got = s.Quantile(q);
    EXPECT_LE(std::fabs(got - exact), 0.01 * exact + 1e-12)
        << shape << " q=" << q << " exact=" << exact << " got=" << got;
  }
  EXPECT_EQ(s.count(), values.size());
  EXPECT_DOUBLE_EQ(s.min(), sorted.front());
  EXPECT_DOUBLE_EQ(s.max(), sorted.back());
}

std::vector<double> Draw(const char* shape, size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> v(n);
  std::string s(shape);
  std::uniform_real_distribution<double> uniform(1, 1000);
  std::lognormal_distribution<double> lognormal(4.0, 1.0);
  std::exponential_distribution<double> exponential(1.0 / 200);
  std::uniform_real_distribution<double> unit(0, 1);
  for (double& x : v) {
    if (s == "uniform") {
      x = uniform(rng);
    } else if (s == "lognormal") {
      x = lognormal(rng);
    } else if (s == "exponential") {
      x = exponential(rng);
    } else if (s == "pareto") {
      x = 10.0 / std::pow(1.0 - unit(rng), 1.0 / 1.2);  // heavy tail
    } else {
      x = 42.5;
    }
  }
  return v;
}

TEST(LatencySketchTest, EmptySketchAnswersZero) {
  LatencySketch s;
  EXPECT_EQ(s.count(), 0u);
  EXPECT_EQ(s.Quantile(0.5), 0);
  EXPECT_EQ(s.min(), 0);
  EXPECT_EQ(s.max(), 0);
}

TEST(LatencySketchTest, PercentilesAreWithinOnePercentOfExact) {
  for (const char* shape : {"uniform", "lognormal", "exponential", "pareto", "constant"}) {
    std::vector<double> values = Draw(shape, 100000, 11);
    LatencySketch s;
    for (double v : values) s.Add(v);
    ExpectWithinOnePercent(values, s, shape);
  }
}

// Whole values take their bucket from a table: it must hold exactly ceil(log_γ v), computed
// here on its own, at every whole value it covers and around its edge.
TEST(LatencySketchTest, WholeValueIndexesEqualTheFormula) {
  const double gamma =
      (1 + LatencySketch::kRelativeAccuracy) / (1 - LatencySketch::kRelativeAccuracy);
  auto formula = [&](double v) {
    return static_cast<int32_t>(std::ceil(std::log(v) / std::log(gamma)));
  };
  for (uint32_t v = 1; v < LatencySketch::kWholeIndexes + 10; ++v) {
    ASSERT_EQ(LatencySketch::BucketIndex(v), formula(v)) << v;
  }
  for (double v : {0.5, 1.5, 99.99, 100.0001, 16383.5, 1e-6, 1e7}) {
    EXPECT_EQ(LatencySketch::BucketIndex(v), formula(v)) << v;
  }
}

TEST(LatencySketchTest, ZerosAreCountedApartAndAnsweredAsZero) {
  std::vector<double> values = Draw("lognormal", 10000, 3);
  values.resize(20000, 0.0);
  LatencySketch s;
  for (double v : values) s.Add(v);
  EXPECT_EQ(s.Quantile(0.25), 0);
  ExpectWithinOnePercent(values, s, "half zeros");
}

TEST(LatencySketchTest, AddingTimesEqualsAddingRepeatedly) {
  LatencySketch once, repeated;
  once.Add(12.5, 1000);
  for (int i = 0; i < 1000; ++i) repeated.Add(12.5);
  EXPECT_EQ(once.Serialize(), repeated.Serialize());
}

TEST(LatencySketchTest, MergedPartsAnswerLikeOneSketch) {
  std::vector<double> values = Draw("pareto", 60000, 5);
  LatencySketch whole, parts[3];
  for (size_t i = 0; i < values.size(); ++i) {
    whole.Add(values[i]);
    parts[i % 3].Add(values[i]);
  }
  LatencySketch merged;
  for (const LatencySketch& p : parts) merged.Merge(p);
  EXPECT_EQ(merged.count(), whole.count());
  for (double q : kQuantiles) EXPECT_EQ(merged.Quantile(q), whole.Quantile(q)) << q;
  ExpectWithinOnePercent(values, merged, "merged");
}

TEST(LatencySketchTest, VeryWideRangesKeepTheHighPercentilesAccurate) {
  // 1 ns .. 10^12: more buckets than kMaxBuckets, so the lowest collapse.
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> exponent(-6, 12);
  std::vector<double> values(50000);
  LatencySketch s;
  for (double& v : values) {
    v = std::pow(10.0, exponent(rng));
    s.Add(v);
  }
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (double q : {0.5, 0.9, 0.99, 0.999, 1.0}) {
    double exact = ExactQuantile(sorted, q);
    EXPECT_LE(std::fabs(s.Quantile(q) - exact), 0.01 * exact) << q;
  }
  std::string bytes = s.Serialize();
  LatencySketch back;
  ASSERT_TRUE(LatencySketch::Decode(bytes, &back).ok());
  EXPECT_EQ(back.Serialize(), bytes);
}

TEST(LatencySketchTest, SerializedFormRoundTrips) {
  std::vector<double> values = Draw("exponential", 5000, 2);
  values.push_back(0);
  LatencySketch s;
  for (double v : values) s.Add(v);
  std::string bytes = s.Serialize();
  LatencySketch back;
  ASSERT_TRUE(LatencySketch::Decode(bytes, &back).ok());
  EXPECT_EQ(back.Serialize(), bytes);
  for (double q : kQuantiles) EXPECT_EQ(back.Quantile(q), s.Quantile(q));
  EXPECT_DOUBLE_EQ(back.sum(), s.sum());
  LatencySketch empty;
  ASSERT_TRUE(LatencySketch::Decode(LatencySketch().Serialize(), &empty).ok());
  EXPECT_EQ(empty.count(), 0u);
}

TEST(LatencySketchTest, DamagedBytesAreRejectedOrHarmless) {
  LatencySketch s;
  for (double v : Draw("lognormal", 300, 4)) s.Add(v);
  std::string bytes = s.Serialize();
  for (size_t len = 0; len < bytes.size(); ++len) {
    LatencySketch t;
    ASSERT_EQ(LatencySketch::Decode(std::string_view(bytes).substr(0, len), &t).code(),
              StatusCode::kCorruption)
        << len;
  }
  LatencySketch t;
  EXPECT_EQ(LatencySketch::Decode(bytes + "x", &t).code(), StatusCode::kCorruption);
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (char x : {'\x01', '\x80', '\xff'}) {
      std::string bent = bytes;
      bent[i] = static_cast<char>(bent[i] ^ x);
      LatencySketch u;
      if (LatencySketch::Decode(bent, &u).ok()) {
        u.Merge(s);
        u.Add(5);
        (void)u.Quantile(0.99);
      }
    }
  }
}

}  // namespace
}  // namespace vigil::aggregate
