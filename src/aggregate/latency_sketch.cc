// DDSketch buckets, merging, quantiles and the serialized form. See latency_sketch.h.
#include "aggregate/latency_sketch.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "common/coding.h"

namespace vigil::aggregate {

namespace {

constexpr char kMagic = 'D';
const double kGamma =
    (1 + LatencySketch::kRelativeAccuracy) / (1 - LatencySketch::kRelativeAccuracy);
const double kLogGamma = std::log(kGamma);
// Indexes of values the sketch can hold (1e-9 .. 1e300): keeps decoded offsets sane.
constexpr int32_t kMinIndex = -2000;
constexpr int32_t kMaxIndex = 40000;

void PutDouble(std::string* out, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  PutFixed64(out, bits);
}

bool GetDouble(const char*& p, const char* end, double* v) {
  if (end - p < 8) return false;
  uint64_t bits = DecodeFixed64(p);
  std::memcpy(v, &bits, 8);
  p += 8;
  return true;
}

}  // namespace

int32_t LatencySketch::BucketIndex(double value) {
  // Most latencies are whole milliseconds: theirs come from a table of this same formula.
  if (value < kWholeIndexes) {
    const uint32_t whole = static_cast<uint32_t>(value);
    if (static_cast<double>(whole) == value) return WholeIndexes()[whole];
  }
  return ComputedIndex(value);
}

int32_t LatencySketch::ComputedIndex(double value) {
  double i = std::ceil(std::log(value) / kLogGamma);
  return static_cast<int32_t>(
      std::clamp(i, static_cast<double>(kMinIndex), static_cast<double>(kMaxIndex)));
}

const int16_t* LatencySketch::WholeIndexes() {
  static const std::array<int16_t, kWholeIndexes> table = [] {
    std::array<int16_t, kWholeIndexes> t{};
    t[0] = 0;  // unused: zero is counted apart before an index is needed
    for (uint32_t v = 1; v < kWholeIndexes; ++v) {
      t[v] = static_cast<int16_t>(ComputedIndex(static_cast<double>(v)));
    }
    return t;
  }();
  return table.data();
}

double LatencySketch::BucketValue(int32_t index) {
  return 2 * std::pow(kGamma, index) / (kGamma + 1);
}

void LatencySketch::Add(double value, uint64_t times) {
  if (times == 0) return;
  if (!(value > 0)) value = 0;  // also NaN
  if (count_ == 0) {
    min_ = max_ = value;
  } else {
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  count_ += times;
  sum_ += value * static_cast<double>(times);
  if (value <= kMinValue) {
    zero_count_ += times;
    return;
  }
  const int32_t index = BucketIndex(value);
  // Almost every add lands inside the buckets already spanned: no call, no growth checks.
  const size_t at = static_cast<size_t>(static_cast<int64_t>(index) - offset_);
  if (at < buckets_.size()) {
    buckets_[at] += times;
    return;
  }
  AddToBucket(index, times);
}

void LatencySketch::AddToBucket(int32_t index, uint64_t times) {
  if (buckets_.empty()) {
    offset_ = index;
    buckets_.assign(1, times);
    return;
  }
  if (index < offset_) {
    // Below the lowest bucket: if the array is already full, it belongs to the collapsed one.
    if (buckets_.size() >= kMaxBuckets) {
      buckets_[0] += times;
      return;
    }
    buckets_.insert(buckets_.begin(), static_cast<size_t>(offset_ - index), 0);
    offset_ = index;
  } else if (index >= offset_ + static_cast<int32_t>(buckets_.size())) {
    buckets_.resize(static_cast<size_t>(index - offset_) + 1, 0);
  }
  buckets_[static_cast<size_t>(index - offset_)] += times;
  if (buckets_.size() > kMaxBuckets) CollapseLowest();
}

void LatencySketch::CollapseLowest() {
  size_t excess = buckets_.size() - kMaxBuckets;
  uint64_t folded = 0;
  for (size_t i = 0; i <= excess; ++i) folded += buckets_[i];
  buckets_.erase(buckets_.begin(), buckets_.begin() + static_cast<std::ptrdiff_t>(excess));
  buckets_[0] = folded;
  offset_ += static_cast<int32_t>(excess);
}

void LatencySketch::Merge(const LatencySketch& other) {
  if (other.count_ == 0) return;
  if (count_ == 0) {
    *this = other;
    return;
  }
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  zero_count_ += other.zero_count_;
  sum_ += other.sum_;
  for (size_t i = 0; i < other.buckets_.size(); ++i) {
    if (other.buckets_[i] != 0) {
      AddToBucket(other.offset_ + static_cast<int32_t>(i), other.buckets_[i]);
    }
  }
}

double LatencySketch::Quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1));
  if (rank < zero_count_) return 0;
  uint64_t seen = zero_count_;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen > rank) {
      return std::clamp(BucketValue(offset_ + static_cast<int32_t>(i)), min_, max_);
    }
  }
  return max_;
}

void LatencySketch::AppendTo(std::string* out) const {
  out->push_back(kMagic);
  out->push_back(static_cast<char>(kVersion));
  PutVarint64(out, count_);
  PutVarint64(out, zero_count_);
  PutDouble(out, min_);
  PutDouble(out, max_);
  PutDouble(out, sum_);
  PutVarsint64(out, offset_);
  PutVarint64(out, buckets_.size());
  for (uint64_t c : buckets_) PutVarint64(out, c);
}

Status LatencySketch::Decode(std::string_view bytes, LatencySketch* out) {
  auto corrupt = [](const char* what) {
    return Status::Corruption(std::string("latency sketch: ") + what);
  };
  if (bytes.size() < 2 || bytes[0] != kMagic) return corrupt("bad magic");
  if (static_cast<uint8_t>(bytes[1]) != kVersion) return corrupt("unknown version");
  const char* p = bytes.data() + 2;
  const char* end = bytes.data() + bytes.size();
  LatencySketch s;
  int64_t offset = 0;
  uint64_t n = 0;
  if (!GetVarint64(p, end, &s.count_) || !GetVarint64(p, end, &s.zero_count_) ||
      !GetDouble(p, end, &s.min_) || !GetDouble(p, end, &s.max_) || !GetDouble(p, end, &s.sum_) ||
      !GetVarsint64(p, end, &offset) || !GetVarint64(p, end, &n)) {
    return corrupt("truncated header");
  }
  if (n > kMaxBuckets) return corrupt("too many buckets");
  if (offset < kMinIndex || offset > kMaxIndex ||
      offset + static_cast<int64_t>(n) > kMaxIndex + 1) {
    return corrupt("bucket index out of range");
  }
  if (!(s.min_ >= 0) || !(s.max_ >= s.min_) || !(s.sum_ >= 0)) return corrupt("bad min/max/sum");
  s.offset_ = static_cast<int32_t>(offset);
  s.buckets_.resize(n);
  uint64_t total = s.zero_count_;
  for (uint64_t i = 0; i < n; ++i) {
    if (!GetVarint64(p, end, &s.buckets_[i])) return corrupt("truncated buckets");
    if (s.buckets_[i] > s.count_ || total + s.buckets_[i] < total) return corrupt("bad bucket");
    total += s.buckets_[i];
  }
  if (total != s.count_) return corrupt("bucket counts do not add up");
  if (n > 0 && (s.buckets_.front() == 0 || s.buckets_.back() == 0)) {
    return corrupt("empty edge bucket");
  }
  if (p != end) return corrupt("trailing bytes");
  *out = std::move(s);
  return Status::Ok();
}

}  // namespace vigil::aggregate
