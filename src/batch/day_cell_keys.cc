// DayCellKeys: the front-coded list of a batch day's cell keys (see day_cell_keys.h).
#include "batch/day_cell_keys.h"

#include <algorithm>

#include "common/coding.h"

namespace vigil::batch {

namespace {
constexpr char kMagic = 'K';
constexpr char kVersion = 1;
}  // namespace

std::string EncodeDayCellKeys(const std::vector<std::string>& keys) {
  std::string out;
  out.push_back(kMagic);
  out.push_back(kVersion);
  PutVarint64(&out, keys.size());
  std::string_view previous;
  for (const std::string& key : keys) {
    size_t shared = 0;
    const size_t limit = std::min(previous.size(), key.size());
    while (shared < limit && previous[shared] == key[shared]) ++shared;
    PutVarint64(&out, shared);
    PutLengthPrefixed(&out, std::string_view(key).substr(shared));
    previous = key;
  }
  return out;
}

Status DecodeDayCellKeys(std::string_view bytes, std::vector<std::string>* keys) {
  keys->clear();
  auto corrupt = [](const char* what) {
    return Status::Corruption(std::string("damaged batch cell-key list: ") + what);
  };
  if (bytes.size() < 2 || bytes[0] != kMagic) return corrupt("bad magic");
  if (bytes[1] != kVersion) return corrupt("unknown version");
  const char* p = bytes.data() + 2;
  const char* end = bytes.data() + bytes.size();
  uint64_t n;
  if (!GetVarint64(p, end, &n)) return corrupt("truncated count");
  // Every entry takes at least two bytes: a count beyond that is damage, not a size to reserve.
  if (n > static_cast<uint64_t>(end - p) / 2) return corrupt("count larger than the list");
  keys->reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t shared;
    std::string_view rest;
    if (!GetVarint64(p, end, &shared) || !GetLengthPrefixed(p, end, &rest)) {
      return corrupt("truncated key");
    }
    const std::string* previous = keys->empty() ? nullptr : &keys->back();
    if (shared > (previous == nullptr ? 0 : previous->size())) return corrupt("bad shared prefix");
    std::string key = previous == nullptr ? std::string() : previous->substr(0, shared);
    key.append(rest);
    if (previous != nullptr && key <= *previous) return corrupt("keys out of order");
    keys->push_back(std::move(key));
  }
  if (p != end) return corrupt("trailing bytes");
  return Status::Ok();
}

}  // namespace vigil::batch
