// HyperLogLog representations, merging, estimation and the serialized form. See hyperloglog.h.
#include "aggregate/hyperloglog.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "common/coding.h"

namespace vigil::aggregate {

namespace {

constexpr char kMagic = 'H';
constexpr size_t kPendingLimit = 256;
constexpr int kQ = 64 - HyperLogLog::kPrecision;  // hash bits left for the rank: 50
constexpr uint32_t kSparseRankBits = 6;
constexpr uint32_t kSparseRankMask = (1u << kSparseRankBits) - 1;
constexpr int kSparseQ = 64 - HyperLogLog::kSparsePrecision;  // 39
constexpr size_t kPackedDenseBytes = HyperLogLog::kRegisters * 6 / 8;

uint8_t DenseRank(uint64_t hash) {
  uint64_t w = hash << HyperLogLog::kPrecision;
  return w == 0 ? kQ + 1 : static_cast<uint8_t>(std::countl_zero(w) + 1);
}

uint32_t SparseEntry(uint64_t hash) {
  uint32_t index = static_cast<uint32_t>(hash >> kSparseQ);
  uint64_t w = hash << HyperLogLog::kSparsePrecision;
  uint32_t rank = w == 0 ? kSparseQ + 1 : static_cast<uint32_t>(std::countl_zero(w) + 1);
  return index << kSparseRankBits | rank;
}

uint32_t SparseIndex(uint32_t entry) { return entry >> kSparseRankBits; }

// The dense register and value a sparse entry stands for.
void SparseToDense(uint32_t entry, uint32_t* reg, uint8_t* rank) {
  constexpr int kExtra = HyperLogLog::kSparsePrecision - HyperLogLog::kPrecision;  // 11
  uint32_t index = SparseIndex(entry);
  *reg = index >> kExtra;
  uint32_t low = index & ((1u << kExtra) - 1);
  if (low != 0) {
    *rank = static_cast<uint8_t>(std::countl_zero(low) - (32 - kExtra) + 1);
  } else {
    *rank = static_cast<uint8_t>(kExtra + (entry & kSparseRankMask));
  }
}

// varint n, then n sorted values as varint deltas (the first from 0).
template <typename T>
void PutSortedDeltas(std::string* out, const std::vector<T>& sorted) {
  PutVarint64(out, sorted.size());
  T previous = 0;
  for (T v : sorted) {
    PutVarint64(out, v - previous);
    previous = v;
  }
}

// Ertl 2017, algorithm 6: sigma and tau of the improved raw estimator.
double Sigma(double x) {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0, z = x, previous;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (z != previous);
  return z;
}

double Tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0, z = 1.0 - x, previous;
  do {
    x = std::sqrt(x);
    previous = z;
    y *= 0.5;
    z -= (1.0 - x) * (1.0 - x) * y;
  } while (z != previous);
  return z / 3.0;
}

}  // namespace

uint64_t HyperLogLog::Hash(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

void HyperLogLog::AddHash(uint64_t hash) {
  switch (rep_) {
    case Representation::kExact: {
      auto it = std::lower_bound(exact_.begin(), exact_.end(), hash);
      if (it != exact_.end() && *it == hash) return;
      exact_.insert(it, hash);
      if (exact_.size() > kExactLimit) ToSparse();
      return;
    }
    case Representation::kSparse:
      AddSparseEntry(SparseEntry(hash));
      return;
    case Representation::kDense:
      SetRegister(static_cast<uint32_t>(hash >> kQ), DenseRank(hash));
      return;
  }
}

void HyperLogLog::AddSparseEntry(uint32_t entry) {
  pending_.push_back(entry);
  // A flush costs the size of sparse_, so pending_ may grow as large as sparse_ is (each entry
  // is then merged a bounded number of times), but no further than kSparseLimit in all: the
  // sketch turns dense on time, and a serialized sparse sketch never holds more than
  // kSparseLimit + kPendingLimit entries. A const flush (AppendTo, Estimate) may have taken
  // sparse_ past kSparseLimit: then it turns dense now, before it can grow on.
  const size_t room = kSparseLimit > sparse_.size() ? kSparseLimit - sparse_.size() : 0;
  if (pending_.size() < std::max(kPendingLimit, std::min(sparse_.size(), room)) &&
      sparse_.size() <= kSparseLimit) {
    return;
  }
  FlushPending();
  if (sparse_.size() > kSparseLimit) ToDense();
}

void HyperLogLog::FlushPending() const {
  if (pending_.empty()) return;
  // Merging another sketch's sparse entries appends them already sorted: skip the sort then.
  if (!std::is_sorted(pending_.begin(), pending_.end())) {
    std::sort(pending_.begin(), pending_.end());
  }
  // Merged in place from the back, then entries of one index (sorted by rank) keep the last,
  // highest one.
  size_t i = sparse_.size(), j = pending_.size(), k = i + j;
  sparse_.resize(k);
  while (j > 0) {
    if (i > 0 && sparse_[i - 1] > pending_[j - 1]) {
      sparse_[--k] = sparse_[--i];
    } else {
      sparse_[--k] = pending_[--j];
    }
  }
  size_t out = 0;
  const size_t n = sparse_.size();
  for (size_t e = 0; e < n; ++e) {
    if (e + 1 < n && SparseIndex(sparse_[e + 1]) == SparseIndex(sparse_[e])) continue;
    sparse_[out++] = sparse_[e];
  }
  sparse_.resize(out);
  pending_.clear();
}

void HyperLogLog::ToSparse() {
  rep_ = Representation::kSparse;
  for (uint64_t h : exact_) pending_.push_back(SparseEntry(h));
  exact_.clear();
  exact_.shrink_to_fit();
  FlushPending();
  if (sparse_.size() > kSparseLimit) ToDense();
}

void HyperLogLog::ToDense() {
  FlushPending();
  registers_.assign(kRegisters, 0);
  for (uint64_t h : exact_) SetRegister(static_cast<uint32_t>(h >> kQ), DenseRank(h));
  for (uint32_t e : sparse_) {
    uint32_t reg;
    uint8_t rank;
    SparseToDense(e, &reg, &rank);
    SetRegister(reg, rank);
  }
  exact_.clear();
  exact_.shrink_to_fit();
  sparse_.clear();
  sparse_.shrink_to_fit();
  pending_.clear();
  pending_.shrink_to_fit();
  rep_ = Representation::kDense;
}

void HyperLogLog::Merge(const HyperLogLog& other) {
  if (other.empty()) return;
  if (other.rep_ == Representation::kDense) {
    if (rep_ != Representation::kDense) ToDense();
    // Written as an unconditional max over raw pointers, the loop vectorizes (a byte at a time
    // with a conditional store, it was a tenth of a batch run).
    uint8_t* to = registers_.data();
    const uint8_t* from = other.registers_.data();
    for (uint32_t i = 0; i < kRegisters; ++i) to[i] = std::max(to[i], from[i]);
    return;
  }
  other.FlushPending();
  if (rep_ == Representation::kDense) {
    for (uint64_t h : other.exact_) AddHash(h);
    for (uint32_t e : other.sparse_) {
      uint32_t reg;
      uint8_t rank;
      SparseToDense(e, &reg, &rank);
      SetRegister(reg, rank);
    }
    return;
  }
  if (rep_ == Representation::kExact && other.rep_ == Representation::kExact) {
    std::vector<uint64_t> merged;
    merged.reserve(exact_.size() + other.exact_.size());
    std::set_union(exact_.begin(), exact_.end(), other.exact_.begin(), other.exact_.end(),
                   std::back_inserter(merged));
    exact_.swap(merged);
    if (exact_.size() > kExactLimit) ToSparse();
    return;
  }
  if (rep_ == Representation::kExact) ToSparse();
  if (rep_ == Representation::kDense) {  // ToSparse can go straight on to dense
    Merge(other);
    return;
  }
  for (uint64_t h : other.exact_) pending_.push_back(SparseEntry(h));
  pending_.insert(pending_.end(), other.sparse_.begin(), other.sparse_.end());
  FlushPending();
  if (sparse_.size() > kSparseLimit) ToDense();
}

uint64_t HyperLogLog::Estimate() const {
  switch (rep_) {
    case Representation::kExact:
      return exact_.size();
    case Representation::kSparse: {
      FlushPending();
      const double m = static_cast<double>(1u << kSparsePrecision);
      const double empty = m - static_cast<double>(sparse_.size());
      return static_cast<uint64_t>(std::llround(m * std::log(m / empty)));
    }
    case Representation::kDense: {
      uint32_t histogram[kQ + 2] = {};
      for (uint8_t r : registers_) ++histogram[r];
      const double m = kRegisters;
      double z = m * Tau(1.0 - histogram[kQ + 1] / m);
      for (int k = kQ; k >= 1; --k) z = 0.5 * (z + histogram[k]);
      z += m * Sigma(histogram[0] / m);
      const double alpha_inf = 0.5 / std::log(2.0);
      return static_cast<uint64_t>(std::llround(alpha_inf * m * m / z));
    }
  }
  return 0;
}

void HyperLogLog::AppendTo(std::string* out) const {
  out->push_back(kMagic);
  out->push_back(static_cast<char>(kVersion));
  out->push_back(static_cast<char>(rep_));
  out->push_back(static_cast<char>(kPrecision));
  switch (rep_) {
    case Representation::kExact:
      PutSortedDeltas(out, exact_);
      return;
    case Representation::kSparse:
      FlushPending();
      PutSortedDeltas(out, sparse_);
      return;
    case Representation::kDense: {
      size_t at = out->size();
      out->resize(at + kPackedDenseBytes);
      char* p = out->data() + at;
      for (uint32_t i = 0; i < kRegisters; i += 4) {
        uint32_t v = registers_[i] | registers_[i + 1] << 6 | registers_[i + 2] << 12 |
                     registers_[i + 3] << 18;
        *p++ = static_cast<char>(v);
        *p++ = static_cast<char>(v >> 8);
        *p++ = static_cast<char>(v >> 16);
      }
      return;
    }
  }
}

Status HyperLogLog::Decode(std::string_view bytes, HyperLogLog* out) {
  auto corrupt = [](const char* what) { return Status::Corruption(std::string("hll: ") + what); };
  if (bytes.size() < 4 || bytes[0] != kMagic) return corrupt("bad magic");
  if (static_cast<uint8_t>(bytes[1]) != kVersion) return corrupt("unknown version");
  if (static_cast<uint8_t>(bytes[3]) != kPrecision) return corrupt("unsupported precision");
  const char* p = bytes.data() + 4;
  const char* end = bytes.data() + bytes.size();
  HyperLogLog h;
  switch (static_cast<uint8_t>(bytes[2])) {
    case static_cast<uint8_t>(Representation::kExact): {
      uint64_t n;
      if (!GetVarint64(p, end, &n) || n > kExactLimit) return corrupt("bad exact count");
      h.exact_.reserve(n);
      uint64_t value = 0;
      for (uint64_t i = 0; i < n; ++i) {
        uint64_t delta;
        if (!GetVarint64(p, end, &delta)) return corrupt("truncated exact hashes");
        if (i > 0 && (delta == 0 || value + delta < value)) return corrupt("unsorted hashes");
        value += delta;
        h.exact_.push_back(value);
      }
      break;
    }
    case static_cast<uint8_t>(Representation::kSparse): {
      h.rep_ = Representation::kSparse;
      // This code writes at most kSparseLimit + kPendingLimit entries, but earlier versions
      // could write more (see AddSparseEntry): any count the bytes can hold (an entry takes at
      // least one) is read, and a sketch past what this code writes turns dense below.
      uint64_t n;
      if (!GetVarint64(p, end, &n) || n == 0 || n > static_cast<uint64_t>(end - p) ||
          n > (uint64_t{1} << kSparsePrecision)) {
        return corrupt("bad sparse count");
      }
      h.sparse_.reserve(n);
      uint64_t value = 0;
      for (uint64_t i = 0; i < n; ++i) {
        uint64_t delta;
        if (!GetVarint64(p, end, &delta)) return corrupt("truncated sparse entries");
        uint64_t next = value + delta;
        if (next >= (uint64_t{1} << (kSparsePrecision + kSparseRankBits))) {
          return corrupt("sparse index out of range");
        }
        uint32_t e = static_cast<uint32_t>(next);
        uint32_t rank = e & kSparseRankMask;
        if (rank == 0 || rank > kSparseQ + 1) return corrupt("sparse rank out of range");
        if (i > 0 && SparseIndex(e) <= SparseIndex(static_cast<uint32_t>(value))) {
          return corrupt("unsorted sparse entries");
        }
        value = next;
        h.sparse_.push_back(e);
      }
      break;
    }
    case static_cast<uint8_t>(Representation::kDense): {
      if (static_cast<size_t>(end - p) < kPackedDenseBytes) return corrupt("truncated registers");
      h.rep_ = Representation::kDense;
      h.registers_.resize(kRegisters);
      for (uint32_t i = 0; i < kRegisters; i += 4) {
        uint32_t v = static_cast<uint8_t>(p[0]) | static_cast<uint8_t>(p[1]) << 8 |
                     static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 16;
        p += 3;
        for (uint32_t k = 0; k < 4; ++k) {
          uint8_t r = (v >> (6 * k)) & 63;
          if (r > kQ + 1) return corrupt("register out of range");
          h.registers_[i + k] = r;
        }
      }
      break;
    }
    default:
      return corrupt("unknown representation");
  }
  if (p != end) return corrupt("trailing bytes");
  if (h.rep_ == Representation::kSparse && h.sparse_.size() > kSparseLimit + kPendingLimit) {
    h.ToDense();
  }
  *out = std::move(h);
  return Status::Ok();
}

}  // namespace vigil::aggregate
