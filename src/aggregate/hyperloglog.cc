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
constexpr int kQ = 64 - HyperLogLog::kPrecision;  // hash bits left for the rank: 50
constexpr uint32_t kSparseRankBits = 6;
constexpr uint32_t kSparseRankMask = (1u << kSparseRankBits) - 1;
constexpr int kSparseQ = 64 - HyperLogLog::kSparsePrecision;  // 39
constexpr size_t kPackedDenseBytes = HyperLogLog::kRegisters * 6 / 8;
// The sparse table's slots, from the start: it never grows (a rehash of its half-empty slots
// mispredicted a branch per slot), and kSparseLimit + 1 entries, the most it holds before the
// sketch turns dense, fill it to 3/4. 16 KiB, as dense registers take.
constexpr size_t kSparseSlots = 4096;
static_assert(kSparseSlots * 3 / 4 >= HyperLogLog::kSparseLimit);

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

// Raises each of kRegisters `to` registers to `from`'s. Written as an unconditional max over raw
// pointers, the loop vectorizes (a byte at a time with a conditional store, it was a tenth of a
// batch run).
void MaxRegisters(const uint8_t* from, uint8_t* to) {
  for (uint32_t i = 0; i < HyperLogLog::kRegisters; ++i) to[i] = std::max(to[i], from[i]);
}

// Sets the dense registers `to` as AddHash of each hash would.
void SetRegistersOf(std::span<const uint64_t> hashes, uint8_t* to) {
  for (uint64_t h : hashes) {
    const uint32_t index = static_cast<uint32_t>(h >> kQ);
    to[index] = std::max(to[index], DenseRank(h));
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

namespace {

// Open-addressing tables of nonzero values (0 is an empty slot) whose slot is slot_key(value)'s
// low bits. Two values of the same slot key are one: the table keeps the larger (for sparse
// entries, the key is the index and the larger entry has the higher rank). True if the key was
// new. The table must have an empty slot.
template <typename T, typename SlotKey>
bool TableInsert(std::vector<T>* table, T value, SlotKey slot_key) {
  const size_t mask = table->size() - 1;
  const uint64_t key = slot_key(value);
  for (size_t i = key & mask;; i = (i + 1) & mask) {
    T& slot = (*table)[i];
    if (slot == 0) {
      slot = value;
      return true;
    }
    if (slot_key(slot) == key) {
      if (slot < value) slot = value;
      return false;
    }
  }
}

// Inserts `value`; true if its key was new. Grows the table (first to kInitialSlots) so that
// `*size` keys stay within half of it: probe runs stay short.
template <typename T, typename SlotKey>
bool TableAdd(std::vector<T>* table, size_t* size, T value, SlotKey slot_key) {
  constexpr size_t kInitialSlots = 16;
  if ((*size + 1) * 2 > table->size()) {
    std::vector<T> old(std::max(kInitialSlots, table->size() * 2), 0);
    old.swap(*table);
    for (T v : old) {
      if (v != 0) TableInsert(table, v, slot_key);
    }
  }
  if (!TableInsert(table, value, slot_key)) return false;
  ++*size;
  return true;
}

uint64_t ExactSlotKey(uint64_t hash) { return hash; }
uint64_t SparseSlotKey(uint32_t entry) { return SparseIndex(entry); }

}  // namespace

void HyperLogLog::AddHash(uint64_t hash) {
  switch (rep_) {
    case Representation::kExact: {
      if (hash == 0) {
        if (exact_zero_) return;
        exact_zero_ = true;
        ++size_;
      } else if (!TableAdd(&exact_, &size_, hash, ExactSlotKey)) {
        return;
      }
      if (size_ > kExactLimit) ToSparse();
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

void HyperLogLog::AddHashes(std::span<const uint64_t> hashes) {
  if (rep_ == Representation::kDense) {
    SetRegistersOf(hashes, registers_.data());
    return;
  }
  if (hashes.size() > kSparseLimit) {
    // Each set register stands for at least one distinct sparse index, so past kSparseLimit
    // set registers the union is dense, and its registers are the maximum of both sides'.
    std::vector<uint8_t> run(kRegisters, 0);
    SetRegistersOf(hashes, run.data());
    if (kRegisters - static_cast<size_t>(std::count(run.begin(), run.end(), 0)) > kSparseLimit) {
      ToDense();
      MaxRegisters(run.data(), registers_.data());
      return;
    }
  }
  for (uint64_t h : hashes) AddHash(h);
}

void HyperLogLog::AddSparseEntry(uint32_t entry) {
  if (rep_ == Representation::kDense) {
    SetRegisterOf(entry);
    return;
  }
  if (!TableInsert(&sparse_, entry, SparseSlotKey)) return;
  if (++size_ > kSparseLimit) ToDense();
}

void HyperLogLog::SetRegisterOf(uint32_t entry) {
  uint32_t reg;
  uint8_t rank;
  SparseToDense(entry, &reg, &rank);
  SetRegister(reg, rank);
}

void HyperLogLog::ToSparse() {
  std::vector<uint64_t> exact;
  exact.swap(exact_);
  const bool zero = exact_zero_;
  exact_zero_ = false;
  rep_ = Representation::kSparse;
  size_ = 0;
  sparse_.assign(kSparseSlots, 0);
  if (zero) AddSparseEntry(SparseEntry(0));
  for (uint64_t h : exact) {  // kExactLimit + 1 hashes: far from dense
    if (h != 0) AddSparseEntry(SparseEntry(h));
  }
}

void HyperLogLog::ToDense() {
  registers_.assign(kRegisters, 0);
  if (exact_zero_) SetRegister(0, DenseRank(0));
  for (uint64_t h : exact_) {
    if (h != 0) SetRegister(static_cast<uint32_t>(h >> kQ), DenseRank(h));
  }
  for (uint32_t e : sparse_) {
    if (e != 0) SetRegisterOf(e);
  }
  std::vector<uint64_t>().swap(exact_);
  std::vector<uint32_t>().swap(sparse_);
  exact_zero_ = false;
  size_ = 0;
  rep_ = Representation::kDense;
}

namespace {
// Murmur3's 64-bit finalizer: a bijection that spreads every input bit over the output.
uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}
}  // namespace

void HyperLogLog::AppendFingerprintTo(std::string* out) const {
  out->push_back(static_cast<char>(rep_));
  if (rep_ == Representation::kDense) {
    const XXH128_hash_t h = XXH3_128bits(registers_.data(), registers_.size());
    PutFixed64(out, h.low64);
    PutFixed64(out, h.high64);
    return;
  }
  // A set in a table: a sum of each value's two mixes does not depend on where, or in which
  // order, the values are.
  uint64_t a = 0, b = 0;
  auto add = [&](uint64_t v) {
    a += Mix64(v);
    b += Mix64(v ^ 0x9e3779b97f4a7c15ull);
  };
  if (rep_ == Representation::kExact) {
    if (exact_zero_) add(0);
    for (uint64_t h : exact_) {
      if (h != 0) add(h);
    }
  } else {
    for (uint32_t e : sparse_) {
      if (e != 0) add(e);
    }
  }
  PutVarint64(out, size_);
  PutFixed64(out, a);
  PutFixed64(out, b);
}

std::vector<uint64_t> HyperLogLog::SortedExact() const {
  std::vector<uint64_t> out;
  out.reserve(size_);
  if (exact_zero_) out.push_back(0);
  for (uint64_t h : exact_) {
    if (h != 0) out.push_back(h);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint32_t> HyperLogLog::SortedSparse() const {
  std::vector<uint32_t> out;
  out.reserve(size_);
  for (uint32_t e : sparse_) {
    if (e != 0) out.push_back(e);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void HyperLogLog::Merge(const HyperLogLog& other) {
  if (other.empty()) return;
  if (&other == this) return;  // the union of a set with itself
  if (empty()) {
    // The union is the other set: its tables as they are (slot order is not content).
    *this = other;
    return;
  }
  if (other.rep_ == Representation::kDense) {
    if (rep_ != Representation::kDense) ToDense();
    MaxRegisters(other.registers_.data(), registers_.data());
    return;
  }
  if (other.rep_ == Representation::kExact) {
    if (other.exact_zero_) AddHash(0);
    for (uint64_t h : other.exact_) {
      if (h != 0) AddHash(h);
    }
    return;
  }
  // other is sparse: this becomes sparse (other holds more hashes than exact can) or is dense.
  if (rep_ == Representation::kExact) ToSparse();
  for (uint32_t e : other.sparse_) {
    if (e != 0) AddSparseEntry(e);
  }
}

bool HyperLogLog::AppendExactHashes(std::vector<uint64_t>* out) const {
  if (rep_ != Representation::kExact) return false;
  if (exact_zero_) out->push_back(0);
  for (uint64_t h : exact_) {
    if (h != 0) out->push_back(h);
  }
  return true;
}

uint64_t HyperLogLog::Estimate() const {
  switch (rep_) {
    case Representation::kExact:
      return size_;
    case Representation::kSparse: {
      const double m = static_cast<double>(1u << kSparsePrecision);
      const double empty = m - static_cast<double>(size_);
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
      PutSortedDeltas(out, SortedExact());
      return;
    case Representation::kSparse:
      PutSortedDeltas(out, SortedSparse());
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
      uint64_t value = 0;
      for (uint64_t i = 0; i < n; ++i) {
        uint64_t delta;
        if (!GetVarint64(p, end, &delta)) return corrupt("truncated exact hashes");
        if (i > 0 && (delta == 0 || value + delta < value)) return corrupt("unsorted hashes");
        value += delta;
        h.AddHash(value);  // distinct and at most kExactLimit: stays exact
      }
      break;
    }
    case static_cast<uint8_t>(Representation::kSparse): {
      h.rep_ = Representation::kSparse;
      // This code writes at most kSparseLimit entries, but earlier versions could write more
      // (they merged additions in batches): any count the bytes can hold (an entry takes at
      // least one) is read, and a sketch past kSparseLimit turns dense as it is read.
      uint64_t n;
      if (!GetVarint64(p, end, &n) || n == 0 || n > static_cast<uint64_t>(end - p) ||
          n > (uint64_t{1} << kSparsePrecision)) {
        return corrupt("bad sparse count");
      }
      h.sparse_.assign(kSparseSlots, 0);
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
        h.AddSparseEntry(e);
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
  *out = std::move(h);
  return Status::Ok();
}

}  // namespace vigil::aggregate
