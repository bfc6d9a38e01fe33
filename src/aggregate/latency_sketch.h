// LatencySketch: mergeable percentiles (network latency per endpoint, user-flow durations).
//
// A DDSketch (Masson, Rim, Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with
// Relative-Error Guarantees", VLDB 2019) with 1 % relative accuracy: a value x > 0 goes to bucket
// i = ceil(log_γ x) with γ = (1 + α) / (1 − α), α = 0.01, and a quantile is answered with the
// bucket's midpoint 2γ^i / (γ + 1), which is within 1 % of the true value of that rank. Values at
// or below kMinValue (zero durations) are counted apart and answered as 0. Buckets are a
// contiguous array of counts from the lowest used index; past kMaxBuckets (from 1 µs to 10^8 ms
// needs ~1,270) the lowest buckets collapse into one, so the highest percentiles — the ones a
// latency dashboard shows — keep their guarantee.
//
// Serialized form (AppendTo/Decode): 'D' version(1), varint count, varint zero_count, f64 min,
// f64 max, f64 sum (little-endian IEEE-754), zigzag varint first bucket index, varint bucket
// count, then a varint count per bucket. Decode checks that counts add up.
//
// Not thread-safe; a sketch is a value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vigil::aggregate {

class LatencySketch {
 public:
  static constexpr double kRelativeAccuracy = 0.01;
  static constexpr double kMinValue = 1e-9;
  static constexpr size_t kMaxBuckets = 2048;
  static constexpr uint8_t kVersion = 1;

  // Negative and NaN values count as 0; the validator rejects them before they get here.
  void Add(double value, uint64_t times = 1);
  void Merge(const LatencySketch& other);
  // The value at quantile q in [0, 1] (rank q·(count−1), rounded down), within 1 % relative
  // error; clamped to [min, max]. 0 when empty.
  double Quantile(double q) const;

  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  double min() const { return count_ == 0 ? 0 : min_; }
  double max() const { return count_ == 0 ? 0 : max_; }

  // The bucket of a value above kMinValue: ceil(log_γ value), clamped to the sketch's range.
  // Whole values below kWholeIndexes (most latencies are whole milliseconds) take it from a
  // table of the same formula instead of computing a log.
  static constexpr uint32_t kWholeIndexes = 16384;
  static int32_t BucketIndex(double value);

  void AppendTo(std::string* out) const;
  std::string Serialize() const {
    std::string s;
    AppendTo(&s);
    return s;
  }
  // Corruption if `bytes` is not exactly one well-formed sketch of this version.
  static Status Decode(std::string_view bytes, LatencySketch* out);

 private:
  static int32_t ComputedIndex(double value);
  static const int16_t* WholeIndexes();  // [kWholeIndexes], ComputedIndex of each
  static double BucketValue(int32_t index);
  void AddToBucket(int32_t index, uint64_t times);
  void CollapseLowest();

  uint64_t count_ = 0;
  uint64_t zero_count_ = 0;
  double min_ = 0;
  double max_ = 0;
  double sum_ = 0;
  int32_t offset_ = 0;             // bucket index of buckets_[0]
  std::vector<uint64_t> buckets_;  // empty, or first and last non-zero
};

}  // namespace vigil::aggregate
