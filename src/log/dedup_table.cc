// The dedup window's open-addressing table. See dedup_table.h.
#include "log/dedup_table.h"

#include <algorithm>
#include <bit>
#include <limits>

namespace vigil::log {

namespace {

// Times are seconds since 2020-01-01 in 32 bits (until 2156).
constexpr int64_t kEpochMs = 1577836800000LL;

uint32_t ToSeconds(int64_t ms) {
  if (ms <= kEpochMs) return 0;
  return static_cast<uint32_t>(
      std::min<int64_t>((ms - kEpochMs) / 1000, std::numeric_limits<uint32_t>::max()));
}

}  // namespace

DedupTable::DedupTable()
    : slots_(new Slot[kMinCapacity]()), mask_(kMinCapacity - 1), shift_(64 - 6) {
  static_assert(kMinCapacity == 64 && sizeof(Slot) == 16);
}

size_t DedupTable::Home(uint64_t key) const {
  return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);  // Fibonacci hashing
}

size_t DedupTable::Probe(uint64_t key) const {
  size_t i = Home(key);
  while (slots_[i].key != 0 && slots_[i].key != key) i = (i + 1) & mask_;
  return i;
}

bool DedupTable::Find(uint64_t key, int64_t since_ms, uint64_t next_offset,
                      uint64_t* offset) const {
  if (key == 0) return false;
  const Slot& s = slots_[Probe(key)];
  if (s.key != key || Expired(s, ToSeconds(since_ms))) return false;
  // The latest offset below next_offset with these low 32 bits.
  *offset = next_offset - static_cast<uint32_t>(static_cast<uint32_t>(next_offset) - s.offset_low);
  return true;
}

void DedupTable::Add(uint64_t key, uint64_t offset, int64_t time_ms) {
  if ((size_ + 1) * 4 > capacity() * 3) {
    // Full to 3/4: expired keys go first; the table grows unless that left it at most 5/8 full
    // (so that the next full sweep is at least capacity/8 additions away).
    Sweep(capacity());
    if (size_ * 8 > capacity() * 5) Rehash(capacity() * 2);
  }
  Slot& s = slots_[Probe(key)];
  if (s.key == 0) {
    s.key = key;
    ++size_;
  }
  s.time_s = ToSeconds(time_ms);
  s.offset_low = static_cast<uint32_t>(offset);
}

void DedupTable::Remove(uint64_t key) {
  if (key == 0) return;
  const size_t i = Probe(key);
  if (slots_[i].key == key) Erase(i);
}

void DedupTable::Erase(size_t i) {
  // Backward shift: a later key of the run moves into the hole unless its home lies
  // (cyclically) after the hole, up to where the key sits.
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask_;
    if (slots_[j].key == 0) break;
    const size_t home = Home(slots_[j].key);
    const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    slots_[i] = slots_[j];
    i = j;
  }
  slots_[i] = Slot{};
  --size_;
}

void DedupTable::Sweep(size_t n) {
  // `n` counts the slots passed; erasing costs at most one look per key, so it is not counted.
  for (size_t k = 0; k < n && size_ > 0;) {
    const Slot& s = slots_[cursor_];
    if (s.key != 0 && Expired(s, cutoff_s_)) {
      Erase(cursor_);  // a later key may have moved here: look at this slot again
      continue;
    }
    cursor_ = (cursor_ + 1) & mask_;
    ++k;
  }
}

void DedupTable::Expire(int64_t cutoff_ms, int64_t now_ms) {
  cutoff_s_ = ToSeconds(cutoff_ms);
  if (last_expire_ms_ == 0) {
    last_expire_ms_ = now_ms;
    return;
  }
  const int64_t elapsed = std::max<int64_t>(0, now_ms - last_expire_ms_);
  last_expire_ms_ = now_ms;
  if (elapsed >= kSweepPeriodMs) {
    due_ = 0;
    Sweep(capacity());
    Shrink();
    return;
  }
  due_ += static_cast<double>(elapsed) / kSweepPeriodMs * static_cast<double>(capacity());
  const size_t n = static_cast<size_t>(due_);
  due_ -= static_cast<double>(n);
  const size_t before = cursor_;
  Sweep(n);
  if (n >= capacity() || cursor_ < before) Shrink();  // a lap of the sweep ended
}

void DedupTable::Shrink() {
  // Under 1/8 full after a lap: half the size, still at most 1/4 full, so that it is not grown
  // back at once (growth comes at 3/4).
  size_t capacity = this->capacity();
  while (capacity > kMinCapacity && size_ * 8 < capacity) capacity /= 2;
  if (capacity < this->capacity()) Rehash(capacity);
}

void DedupTable::Rehash(size_t new_capacity) {
  const size_t old_capacity = capacity();
  std::unique_ptr<Slot[]> old = std::move(slots_);
  slots_.reset(new Slot[new_capacity]());
  mask_ = new_capacity - 1;
  shift_ = 64 - std::countr_zero(new_capacity);
  size_ = 0;
  cursor_ = 0;
  for (size_t i = 0; i < old_capacity; ++i) {
    const Slot& s = old[i];
    if (s.key == 0 || Expired(s, cutoff_s_)) continue;
    slots_[Probe(s.key)] = s;
    ++size_;
  }
}

}  // namespace vigil::log
