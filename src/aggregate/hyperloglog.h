// HyperLogLog: mergeable unique counts (users per bucket, DAU, MAU, crashed users).
//
// A HyperLogLog++-style sketch (Heule, Nunkesser, Hall, "HyperLogLog in Practice", 2013) over
// 64-bit XXH3 hashes, in three representations that a sketch moves through as it grows:
//
//   exact   up to kExactLimit distinct hashes: the count is exact (64-bit hashes collide with
//           probability ~n²/2^65, nil at this size).
//   sparse  up to kSparseLimit entries at precision 25, each a u32 (index << 6 | rank); the count
//           is linear counting over 2^25 buckets, well under 0.1 % off at these sizes.
//   dense   2^14 six-bit registers (relative standard error 1.04/√16384 ≈ 0.81 %). The estimate
//           is Ertl's improved raw estimator ("New cardinality estimation algorithms for
//           HyperLogLog sketches", 2017): it corrects the small- and large-range bias of the
//           classic estimator analytically, so no empirical bias tables and no switch to linear
//           counting are needed.
//
// The sparse index is the first 25 bits of the hash and its rank counts from bit 26; a dense
// register is the first 14 bits, so a sparse entry converts to exactly the register value the
// hash would have set directly, and merging sketches of any representations is lossless up to the
// coarser one.
//
// Serialized form (AppendTo/Decode), little-endian:
//   'H' version(1) representation(0 exact|1 sparse|2 dense) precision(14)
//   exact:  varint n, then n strictly increasing u64 hashes as varint deltas
//   sparse: varint n, then n strictly increasing u32 entries as varint deltas
//   dense:  16384 registers of 6 bits, packed little-endian into 12288 bytes
// Decode checks every byte (outside bytes: a damaged store must not crash the server).
//
// Not thread-safe; a sketch is a value (copyable, movable).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/hash.h"
#include "common/status.h"

namespace vigil::aggregate {

class HyperLogLog {
 public:
  static constexpr int kPrecision = 14;
  static constexpr uint32_t kRegisters = 1u << kPrecision;
  static constexpr int kSparsePrecision = 25;
  static constexpr size_t kExactLimit = 256;
  static constexpr size_t kSparseLimit = 3072;  // 12 KiB of entries, the size of dense registers
  static constexpr uint8_t kVersion = 1;

  enum class Representation : uint8_t { kExact = 0, kSparse = 1, kDense = 2 };

  // The hash every caller uses for a key (XXH3-64, seed 0).
  static uint64_t Hash(std::string_view key) { return Hash64(key); }

  void Add(std::string_view key) { AddHash(Hash(key)); }
  void AddHash(uint64_t hash);
  // AddHash of each, with the same result (whatever the order and duplicates). A run that
  // sets more than kSparseLimit registers on its own makes the sketch dense wherever it stands,
  // so such a run is written into registers in one tight loop, without the exact and sparse
  // tables an add at a time passes through (the batch layer adds a context's users this way).
  void AddHashes(std::span<const uint64_t> hashes);
  // Union: afterwards this sketch counts every key either sketch saw.
  void Merge(const HyperLogLog& other);
  // For an exact sketch, appends its hashes to `out` (merging it is AddHash of each) and
  // returns true; false, appending nothing, for sparse and dense. A caller merging many small
  // sketches into one gathers their hashes for one AddHashes, which may skip the tables.
  bool AppendExactHashes(std::vector<uint64_t>* out) const;
  // Estimated number of distinct keys added (exact in the exact representation).
  uint64_t Estimate() const;

  Representation representation() const { return rep_; }
  bool empty() const { return rep_ == Representation::kExact && size_ == 0; }

  void AppendTo(std::string* out) const;
  std::string Serialize() const {
    std::string s;
    AppendTo(&s);
    return s;
  }
  // 128 bits that differ, but for ~2^-128 odds on data nobody crafted, whenever the serialized
  // form would: the content hashed, without the sort or packing AppendTo does (the batch layer
  // compares a day's cells with what it stored by such fingerprints).
  void AppendFingerprintTo(std::string* out) const;
  // Corruption if `bytes` is not exactly one well-formed sketch of this version.
  static Status Decode(std::string_view bytes, HyperLogLog* out);

 private:
  // Adds a sparse entry (sparse representation), or sets the register it stands for (dense).
  void AddSparseEntry(uint32_t entry);
  void SetRegisterOf(uint32_t entry);
  void ToSparse();
  void ToDense();
  void SetRegister(uint32_t index, uint8_t rank) {
    if (registers_[index] < rank) registers_[index] = rank;
  }
  // The exact hashes or sparse entries, sorted: what AppendTo writes.
  std::vector<uint64_t> SortedExact() const;
  std::vector<uint32_t> SortedSparse() const;

  // The exact and sparse representations are open-addressing tables (linear probing, at most
  // 3/4 full, 0 marks an empty slot), so an add is one probe, not a sorted insert or a sort:
  // a batch run adds every event's user to a sketch, and sorted vectors made that a fifth of
  // its time. A hash's slot is its low bits, a sparse entry's its index's (both are uniform).
  // A representation is a function of the set of hashes added, whatever their order: exact
  // while at most kExactLimit distinct hashes, then sparse while at most kSparseLimit distinct
  // indexes, then dense.
  Representation rep_ = Representation::kExact;
  std::vector<uint64_t> exact_;  // table of the hashes; the hash 0 is exact_zero_
  bool exact_zero_ = false;
  std::vector<uint32_t> sparse_;    // table of entries (index << 6 | rank), the highest per index
  size_t size_ = 0;                 // distinct hashes (exact) or indexes (sparse) in the table
  std::vector<uint8_t> registers_;  // kRegisters values 0..51 when dense
};

}  // namespace vigil::aggregate
