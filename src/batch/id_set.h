// IdSet: the event ids of one app-day already seen by the batch layer, as 128-bit XXH3 hashes in
// an open-addressing table — a collision between two different ids needs ~2^64 ids, so dedup
// by hash is exact in practice, at a fraction of the memory and time of a set of strings.
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
  explicit IdSet(size_t expected = 1024) { Reset(expected); }

  void Reset(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    slots_.assign(cap, Slot{});
    size_ = 0;
  }

  // True if `id` was not in the set (it is now).
  bool Insert(std::string_view id) {
    XXH128_hash_t h = XXH3_128bits(id.data(), id.size());
    Slot s{h.low64, h.high64 | 1};  // high != 0 marks a used slot
    if ((size_ + 1) * 10 > slots_.size() * 7) Grow();
    return InsertSlot(s);
  }

  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t low = 0, high = 0;
  };

  bool InsertSlot(const Slot& s) {
    size_t mask = slots_.size() - 1;
    for (size_t i = s.low & mask;; i = (i + 1) & mask) {
      Slot& t = slots_[i];
      if (t.high == 0) {
        t = s;
        ++size_;
        return true;
      }
      if (t.low == s.low && t.high == s.high) return false;
    }
  }

  void Grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.size() * 2, Slot{});
    size_ = 0;
    for (const Slot& s : old) {
      if (s.high != 0) InsertSlot(s);
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace vigil::batch
