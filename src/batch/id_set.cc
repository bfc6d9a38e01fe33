// IdSet::Settle: the exact answer for the ids the fingerprint filter could not prove new (see
// id_set.h).
#include "batch/id_set.h"

#include <bit>

namespace vigil::batch {

std::vector<uint8_t> IdSet::Settle() const {
  std::vector<uint8_t> repeated(maybes_.size(), 0);
  if (maybes_.empty()) return repeated;
  // The maybes' distinct hashes, each with the first log position it appears at: an
  // open-addressing table of indexes into `entries`, at most half full.
  struct Entry {
    Key key;
    uint64_t first;
  };
  std::vector<Entry> entries;
  entries.reserve(maybes_.size());
  const size_t capacity = std::bit_ceil(maybes_.size() * 2);
  const size_t mask = capacity - 1;
  std::vector<uint32_t> slots(capacity, UINT32_MAX);
  auto find = [&](const Key& k, bool insert) -> Entry* {
    for (size_t i = k.low & mask;; i = (i + 1) & mask) {
      if (slots[i] == UINT32_MAX) {
        if (!insert) return nullptr;
        slots[i] = static_cast<uint32_t>(entries.size());
        entries.push_back(Entry{k, UINT64_MAX});
        return &entries.back();
      }
      if (entries[slots[i]].key == k) return &entries[slots[i]];
    }
  };
  // A bitmap of the hashes' high bits turns away almost every log entry before the table.
  constexpr int kBitmapBits = 20;
  std::vector<uint64_t> bitmap(size_t{1} << (kBitmapBits - 6), 0);
  auto bit = [](const Key& k) { return k.high >> (64 - kBitmapBits); };
  for (uint64_t pos : maybes_) {
    const Key& k = log_[pos];
    (void)find(k, true);
    bitmap[bit(k) >> 6] |= uint64_t{1} << (bit(k) & 63);
  }
  // One pass over the log up to the last maybe: each hash's first position.
  const uint64_t end = maybes_.back() + 1;
  for (uint64_t pos = 0; pos < end; ++pos) {
    const Key& k = log_[pos];
    if ((bitmap[bit(k) >> 6] >> (bit(k) & 63) & 1) == 0) continue;
    Entry* e = find(k, false);
    if (e != nullptr && e->first == UINT64_MAX) e->first = pos;
  }
  for (size_t i = 0; i < maybes_.size(); ++i) {
    repeated[i] = find(log_[maybes_[i]], false)->first < maybes_[i] ? 1 : 0;
  }
  return repeated;
}

}  // namespace vigil::batch
