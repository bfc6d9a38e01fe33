// IdSet: the event ids of one app-day already seen by the batch layer, as 128-bit XXH3 hashes in
// an open-addressing table — a collision between two different ids needs ~2^64 ids, so dedup
// by hash is exact in practice, at a fraction of the memory and time of a set of strings.
//
// A day of a busy app holds millions of ids, so the table is far larger than the caches and
// almost every probe misses them. InsertAll() takes the hashes of a whole run of rows and
// prefetches the slot of the row kPrefetchDistance ahead while probing the current one, so the
// misses overlap instead of queueing; the answers are exactly those of Insert() in order.
//
// The slots are one anonymous mapping advised to use transparent huge pages: with 4 KiB pages a
// random probe into tens of MB also misses the TLB. Reset() to the same size refills the
// mapping in place, so a batch worker reusing one set day after day does not fault it in again.
// Between batch runs, Release() lets the kernel take the pages back if it needs memory
// (MADV_FREE) while keeping them mapped: a run an hour later usually finds them still there,
// instead of having the kernel fault in and zero a fresh mapping (~4 % of a 30-day run here).
//
// Not thread-safe.
#pragma once

#include <sys/mman.h>
#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

namespace vigil::batch {

class IdSet {
 public:
  struct Key {
    uint64_t low = 0, high = 0;  // high != 0 marks a used slot
  };

  explicit IdSet(size_t expected = 1024) { Reset(expected); }
  ~IdSet() { Unmap(); }
  IdSet(const IdSet&) = delete;
  IdSet& operator=(const IdSet&) = delete;

  static Key HashOf(std::string_view id) {
    XXH128_hash_t h = XXH3_128bits(id.data(), id.size());
    return Key{h.low64, h.high64 | 1};
  }

  // Empties the set, sized for `expected` ids without growing.
  void Reset(size_t expected) {
    const size_t capacity = CapacityFor(expected);
    if (capacity == capacity_) {
      if (size_ != 0) std::memset(static_cast<void*>(slots_), 0, capacity_ * sizeof(Key));
    } else {
      Unmap();
      Map(capacity);  // zero-filled by the kernel
    }
    size_ = 0;
  }

  // Gives the slots' memory back to the kernel lazily: it reclaims pages only under memory
  // pressure. A reclaimed page reads as zeros, a kept one as before, so the set's contents are
  // unchanged but for ids it may forget: Reset() it before use (it clears whatever is left).
  void Release() {
    ::madvise(slots_, capacity_ * sizeof(Key), MADV_FREE);  // a hint: fine if refused
  }

  // Grows, if needed, so that `expected` ids in all fit without growing again.
  void Reserve(size_t expected) {
    if (CapacityFor(expected) > capacity_) Rehash(CapacityFor(expected));
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
    const size_t mask = capacity_ - 1;
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
    const size_t mask = capacity_ - 1;
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

  void Map(size_t capacity) {
    void* p = ::mmap(nullptr, capacity * sizeof(Key), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    ::madvise(p, capacity * sizeof(Key), MADV_HUGEPAGE);  // a hint: fine if refused
    slots_ = static_cast<Key*>(p);
    capacity_ = capacity;
  }

  void Unmap() {
    if (slots_ != nullptr) ::munmap(slots_, capacity_ * sizeof(Key));
    slots_ = nullptr;
    capacity_ = 0;
  }

  void Rehash(size_t capacity) {
    Key* old = std::exchange(slots_, nullptr);
    const size_t old_capacity = std::exchange(capacity_, 0);
    Map(capacity);
    size_ = 0;
    for (size_t i = 0; i < old_capacity; ++i) {
      if (old[i].high != 0) InsertKey(old[i]);
    }
    ::munmap(old, old_capacity * sizeof(Key));
  }

  Key* slots_ = nullptr;  // capacity_ slots, a power of two
  size_t capacity_ = 0;
  size_t size_ = 0;
};

}  // namespace vigil::batch
