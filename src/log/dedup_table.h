// DedupTable: the dedup keys (hashed batch_ids) a partition appended within its dedup window,
// by which the writer answers a retried batch as a duplicate instead of appending it again.
//
// Memory is what limits the window: every batch of the last 25 hours has a key here. A
// std::unordered_map with an arrival-order queue for pruning took 75.5 bytes a key (680 MB at
// 100 batches/s). This table takes 16 bytes a slot: the key, its append time in seconds and
// the low 32 bits of its record's offset, at 3/8 to 3/4 of its slots used (21-43 bytes a key)
// while the window grows or holds, at least 1/8 once a lap of the sweep has passed (see below).
//
// Open addressing with linear probing and backward-shift deletion (no tombstones); key 0 marks
// an empty slot (dedup keys are never 0). Times are kept to the second: a key counts as within
// the window while any part of its second is, so it is remembered up to a second longer than
// the window, never shorter. A key's offset is exact unless 2^32 records of the partition came
// after it (it is only reported back, never used to decide).
//
// Keys leave by a sweep instead of a queue in arrival order: each Expire call looks at the
// share of the slots due by the time since the last one, so that every slot is looked at once
// per kSweepPeriodMs. A key past the window is never found again (Find checks its time); it
// only takes its slot until the sweep reaches it. Before the table grows, one full sweep runs
// first, so that expired keys never make it grow. Growth doubles the table at 3/4 full in one
// step, on the writer thread (see docs/log_format.md for its cost), as std::unordered_map's
// rehash did; a full window stops growing. After a lap of the sweep, a table under 1/8 full is
// halved (while it stays so), so that the memory a burst's window took is given back once the
// burst has left the window; the rehash is the same kind of step, at most once per lap.
//
// Threads: none of its own; the partition's writer thread (or recovery) only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace vigil::log {

class DedupTable {
 public:
  static constexpr int64_t kSweepPeriodMs = 10 * 60 * 1000;

  DedupTable();

  // Whether `key` was added at or after `since_ms` (to the second); if so, *offset is its
  // record's offset, given that the partition's next offset is `next_offset`.
  bool Find(uint64_t key, int64_t since_ms, uint64_t next_offset, uint64_t* offset) const;
  // Adds `key` (non-zero), or gives it this offset and time if it is there.
  void Add(uint64_t key, uint64_t offset, int64_t time_ms);
  // Removes `key` if it is there (an append that failed).
  void Remove(uint64_t key);
  // Removes keys added before `cutoff_ms` (to the second) from the share of the slots due by
  // `now_ms` (see above); all of them once kSweepPeriodMs has passed since the last call.
  void Expire(int64_t cutoff_ms, int64_t now_ms);

  size_t size() const { return size_; }
  size_t capacity() const { return mask_ + 1; }
  size_t memory_bytes() const { return capacity() * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t key;  // 0: empty
    uint32_t time_s;
    uint32_t offset_low;
  };
  static constexpr size_t kMinCapacity = 64;

  size_t Home(uint64_t key) const;
  // The slot holding `key`, or the empty slot where it would go.
  size_t Probe(uint64_t key) const;
  // Empties slot `i`, moving later slots of its run back so that every key stays reachable.
  void Erase(size_t i);
  // Whether the key in slot `s` was added before `cutoff_s` (its second ended by then).
  static bool Expired(const Slot& s, uint32_t cutoff_s) { return s.time_s < cutoff_s; }
  // Looks at `n` slots from the sweep's cursor, erasing expired keys.
  void Sweep(size_t n);
  // Moves the keys in the window to a table of `new_capacity` slots (a power of two).
  void Rehash(size_t new_capacity);
  // After a lap of the sweep: halves the table while it is under 1/8 full.
  void Shrink();

  std::unique_ptr<Slot[]> slots_;
  size_t mask_;  // capacity - 1 (a power of two)
  int shift_;    // 64 - log2(capacity)
  size_t size_ = 0;
  // The sweep: where it goes on, the cutoff it erases by (the last Expire's), when Expire last
  // ran (0: never), and the fraction of a slot owed between calls.
  size_t cursor_ = 0;
  uint32_t cutoff_s_ = 0;
  int64_t last_expire_ms_ = 0;
  double due_ = 0;
};

}  // namespace vigil::log
