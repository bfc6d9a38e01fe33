// IdSet: the event ids of one app-day already seen by the batch layer, as 128-bit XXH3 hashes in
// an open-addressing table — a collision between two different ids needs ~2^64 ids, so dedup
// by hash is exact in practice, at a fraction of the memory and time of a set of strings.
//
// A day of a busy app holds millions of ids, so the table is far larger than the caches and
// almost every probe misses them. InsertAll() takes the hashes of a whole run of rows and
// prefetches the slot of the row kPrefetchDistance ahead while probing the current one, so the
// misses overlap instead of queueing; the answers are exactly those of Insert() in order.
//
// Not thread-safe.
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace vigil::batch {

class IdSet {
 public:
  struct Key {
    uint64_t low = 0, high = 0;  // high != 0 marks a used slot
  };

  explicit IdSet(size_t expected = 1024) { Reset(expected); }

  static Key HashOf(std::string_view id) {
    XXH128_hash_t h = XXH3_128bits(id.data(), id.size());
    return Key{h.low64, h.high64 | 1};
  }

  // Empties the set, sized for `expected` ids without growing.
  void Reset(size_t expected) {
    slots_.assign(CapacityFor(expected), Key{});
    size_ = 0;
  }

  // Grows, if needed, so that `expected` ids in all fit without growing again.
  void Reserve(size_t expected) {
    if (CapacityFor(expected) > slots_.size()) Rehash(CapacityFor(expected));
  }

  // True if `id` was not in the set (it is now).
  bool Insert(std::string_view id) {
    Reserve(size_ + 1);
    return InsertKey(HashOf(id));
  }

  // Inserts keys[0..n) in order; fresh[i] = 1 if keys[i] was not in the set before (counting
  // the keys before it in this call), else 0.
  void InsertAll(const Key* keys, size_t n, uint8_t* fresh) {
    Reserve(size_ + n);
    const size_t mask = slots_.size() - 1;
    for (size_t i = 0; i < n; ++i) {
      if (i + kPrefetchDistance < n) {
        __builtin_prefetch(&slots_[keys[i + kPrefetchDistance].low & mask], 1, 0);
      }
      fresh[i] = InsertKey(keys[i]) ? 1 : 0;
    }
  }

  size_t size() const { return size_; }

 private:
  static constexpr size_t kPrefetchDistance = 16;

  // Power of two, at most 70 % full with `expected` ids.
  static size_t CapacityFor(size_t expected) {
    size_t cap = 16;
    while (cap * 7 < expected * 10) cap <<= 1;
    return cap;
  }

  bool InsertKey(const Key& k) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = k.low & mask;; i = (i + 1) & mask) {
      Key& t = slots_[i];
      if (t.high == 0) {
        t = k;
        ++size_;
        return true;
      }
      if (t.low == k.low && t.high == k.high) return false;
    }
  }

  void Rehash(size_t capacity) {
    std::vector<Key> old;
    old.swap(slots_);
    slots_.assign(capacity, Key{});
    size_ = 0;
    for (const Key& k : old) {
      if (k.high != 0) InsertKey(k);
    }
  }

  std::vector<Key> slots_;
  size_t size_ = 0;
};

}  // namespace vigil::batch
