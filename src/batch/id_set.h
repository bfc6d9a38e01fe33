// IdSet: the event ids of one app-day the batch layer has seen, exactly, in a table small enough
// to stay in the CPU's last-level cache.
//
// Ids are compared by their 128-bit XXH3 hashes: two different ids collide only after ~2^64
// ids, so dedup by hash is exact in practice, at a fraction of the memory and time of a set of
// strings. The set keeps two things:
//   - the log: every hash added, in the order added (16 bytes per id, written sequentially);
//   - the filter: an open-addressing table of one-byte fingerprints of those hashes, at most
//     70 % full. A day of a million-user app (3.3M ids) needs 8 MiB of it, where a table of
//     whole hashes needed 128 MiB and all but every probe missed the caches for DRAM.
// Adding an id probes the filter: meeting no slot with its fingerprint proves it new; meeting
// one means it may have been seen — a repeat, or (for ~0.3 % of a day's ids, measured) another
// id with the same fingerprint. Settle() then answers those maybes exactly, with one pass over
// the log: a maybe repeats an earlier id iff its hash is in the log before it.
//
// AddAll() and AddKeys() prefetch the slot of the id kPrefetchDistance ahead while probing the
// current one, so the misses overlap instead of queueing. The prefetch goes to every cache level: a
// non-temporal one (locality 0) left a quarter of the probe loop's samples waiting on the load. The
// filter and log are anonymous mappings advised to use transparent huge pages; Reset() to the same
// size reuses them in place, and Release() lets the kernel take the pages back lazily between batch
// runs (MADV_FREE), instead of the next run faulting in and zeroing fresh memory.
//
// Not thread-safe.
#pragma once

#include <sys/mman.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>
#include <vector>

#include "common/hash.h"  // XXH3, inline

namespace vigil::batch {

class IdSet {
 public:
  using Key = Hash128;  // an id's XXH3_128bits

  explicit IdSet(size_t expected = 1024) { Reset(expected); }
  ~IdSet() {
    Unmap(&filter_, FilterBytes(filter_capacity_));
    Unmap(&log_, log_capacity_ * sizeof(Key));
  }
  IdSet(const IdSet&) = delete;
  IdSet& operator=(const IdSet&) = delete;

  static Key HashOf(std::string_view id) {
    Key k;
    StoreHash128(id, &k);  // inline: common/hash.h
    return k;
  }

  // Empties the set, sized for `expected` ids without growing.
  void Reset(size_t expected) {
    const bool used = size_ != 0;
    size_ = 0;
    maybes_.clear();
    const size_t capacity = FilterCapacityFor(expected);
    if (capacity == filter_capacity_) {
      if (used) std::memset(filter_, 0, FilterBytes(filter_capacity_));
    } else {
      Unmap(&filter_, FilterBytes(filter_capacity_));
      filter_ = static_cast<uint8_t*>(Map(FilterBytes(capacity)));  // zero-filled by the kernel
      filter_capacity_ = capacity;
    }
    if (expected > log_capacity_ || expected < log_capacity_ / 4) ResizeLog(expected);
  }

  // Gives the memory back to the kernel lazily: it reclaims pages only under memory pressure.
  // Reset() before the next use (it clears whatever the kernel left).
  void Release() {
    ::madvise(filter_, FilterBytes(filter_capacity_), MADV_FREE);  // hints: fine if refused
    ::madvise(log_, log_capacity_ * sizeof(Key), MADV_FREE);
  }

  // Adds the next `n` ids, id_at(0) … id_at(n - 1) (each a std::string_view), in that order.
  // fresh[i] = 1 if id_at(i) was certainly not added before (counting the ids before it in this
  // call), 0 if it may have been: Settle() tells which of those were.
  template <typename IdAt>
  void AddAll(size_t n, IdAt id_at, uint8_t* fresh) {
    AddKeys(
        n, [&](size_t i) { return HashOf(id_at(i)); }, fresh);
  }
  // AddAll() of ids given as their hashes, HashOf(id): key_at(i) for i < n.
  template <typename KeyAt>
  void AddKeys(size_t n, KeyAt key_at, uint8_t* fresh) {
    Reserve(size_ + n);
    Key* keys = log_ + size_;
    for (size_t i = 0; i < n; ++i) keys[i] = key_at(i);
    const size_t mask = filter_capacity_ - 1;
    for (size_t i = 0; i < n; ++i) {
      if (i + kPrefetchDistance < n) {
        const uint8_t* run = &filter_[keys[i + kPrefetchDistance].low & mask];
        __builtin_prefetch(run, 1, 3);
        __builtin_prefetch(run + kRunBytes - 1, 1, 3);  // the run may cross a cache line
      }
      fresh[i] = Probe(keys[i]) ? 1 : 0;
      if (fresh[i] == 0) maybes_.push_back(size_ + i);
    }
    size_ += n;
  }

  // How many ids AddAll() and AddKeys() marked as maybe seen since Reset().
  size_t maybes() const { return maybes_.size(); }

  // For each id AddAll() or AddKeys() marked as maybe seen, in the order added: 1 if it repeats an
  // id added before it, 0 if it is new (its fingerprint matched another id's).
  std::vector<uint8_t> Settle() const;

  size_t size() const { return size_; }  // ids added, repeats included

 private:
  // Far enough ahead for DRAM: the filters of two workers and the columns streaming through
  // share the last-level cache, and at 32 ids ahead a third of the day loop's samples still
  // waited on the filter load (A/B over the bench archive: 32 → 96 → 192, each a few % faster).
  static constexpr size_t kPrefetchDistance = 192;
  static constexpr size_t kRunBytes = 16;  // slots a probe compares at once
  static constexpr size_t kTail = 4096;    // slots past the last home slot (>= kRunBytes)

  // Power of two, at most 70 % full with `expected` ids.
  static size_t FilterCapacityFor(size_t expected) {
    size_t cap = 64;
    while (cap * 7 < expected * 10) cap <<= 1;
    return cap;
  }
  // The key's fingerprint, never 0 (an empty slot).
  static uint8_t Fingerprint(const Key& k) {
    const uint8_t f = static_cast<uint8_t>(k.high >> 56);
    return f == 0 ? 1 : f;
  }

  // Bytes of a filter of `capacity` home slots: probe runs from the last home slots spill into
  // kTail more slots before they wrap around to slot 0.
  static size_t FilterBytes(size_t capacity) { return capacity == 0 ? 0 : capacity + kTail; }

  // Marks `k` in the filter; true if no slot of its probe run held its fingerprint. A run is
  // the slots from the key's home up to the first empty one, wrapping at the filter's end.
  // A byte-at-a-time probe mispredicted whether the home slot was empty for two ids in five;
  // comparing the kRunBytes slots from home at once, only a run longer than that (rare below
  // 70 % full) takes the byte loop.
  bool Probe(const Key& k) {
    const size_t home = k.low & (filter_capacity_ - 1);
    const uint8_t f = Fingerprint(k);
#if defined(__SSE2__)
    const __m128i run = _mm_loadu_si128(reinterpret_cast<const __m128i*>(filter_ + home));
    const uint32_t empty =
        static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(run, _mm_setzero_si128())));
    if (empty != 0) [[likely]] {
      const int first_empty = __builtin_ctz(empty);
      const uint32_t same = static_cast<uint32_t>(
          _mm_movemask_epi8(_mm_cmpeq_epi8(run, _mm_set1_epi8(static_cast<char>(f)))));
      filter_[home + static_cast<size_t>(first_empty)] = f;
      return (same & ((1u << first_empty) - 1)) == 0;
    }
#endif
    const size_t slots = FilterBytes(filter_capacity_);
    bool fresh = true;
    for (size_t i = home;; i = i + 1 == slots ? 0 : i + 1) {
      const uint8_t t = filter_[i];
      if (t == 0) {
        filter_[i] = f;
        return fresh;
      }
      if (t == f) fresh = false;
    }
  }

  // Grows, if needed, so that `expected` ids in all fit: the filter is rebuilt from the log.
  void Reserve(size_t expected) {
    if (expected > log_capacity_) ResizeLog(std::max(expected, log_capacity_ * 2));
    if (FilterCapacityFor(expected) > filter_capacity_) {
      Unmap(&filter_, FilterBytes(filter_capacity_));
      filter_capacity_ = FilterCapacityFor(std::max(expected, log_capacity_));
      filter_ = static_cast<uint8_t*>(Map(FilterBytes(filter_capacity_)));
      for (size_t i = 0; i < size_; ++i) (void)Probe(log_[i]);
    }
  }

  void ResizeLog(size_t capacity) {
    capacity = std::max<size_t>(capacity, 64);
    Key* log = static_cast<Key*>(Map(capacity * sizeof(Key)));
    if (size_ != 0) std::memcpy(static_cast<void*>(log), log_, size_ * sizeof(Key));
    Unmap(&log_, log_capacity_ * sizeof(Key));
    log_ = log;
    log_capacity_ = capacity;
  }

  static void* Map(size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    ::madvise(p, bytes, MADV_HUGEPAGE);  // a hint: fine if refused
    return p;
  }
  template <typename T>
  static void Unmap(T** p, size_t bytes) {
    if (*p != nullptr) ::munmap(*p, bytes);
    *p = nullptr;
  }

  uint8_t* filter_ = nullptr;  // FilterBytes(filter_capacity_) fingerprints; 0 is empty
  size_t filter_capacity_ = 0;
  Key* log_ = nullptr;  // log_capacity_ slots, the first size_ of them added
  size_t log_capacity_ = 0;
  size_t size_ = 0;
  std::vector<uint64_t> maybes_;  // log positions of the ids marked maybe seen, ascending
};

}  // namespace vigil::batch
