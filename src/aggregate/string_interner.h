// StringInterner: small dense ids for the few distinct strings an aggregator sees over and over
// (apps, versions, OS names, endpoints, group ids), so that its cell keys are integers that hash
// and compare in a few instructions instead of five strings hashed and compared per event.
//
// Ids are 0, 1, 2, … in order of first sight and stay valid until Clear(). The string_view
// Get() returns points into storage owned by the interner, stable until Clear().
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/hash.h"

namespace vigil::aggregate {

class StringInterner {
 public:
  uint32_t Intern(std::string_view s) {
    auto it = ids_.find(s);
    if (it != ids_.end()) return it->second;
    const std::string& stored = strings_.emplace_back(s);
    uint32_t id = static_cast<uint32_t>(strings_.size() - 1);
    ids_.emplace(std::string_view(stored), id);
    return id;
  }

  std::optional<uint32_t> Find(std::string_view s) const {
    auto it = ids_.find(s);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }

  std::string_view Get(uint32_t id) const { return strings_[id]; }
  size_t size() const { return strings_.size(); }

  void Clear() {
    ids_.clear();
    strings_.clear();
  }

 private:
  std::deque<std::string> strings_;  // a deque: growing it never moves a stored string
  // XXH3, inlined: for the short strings interned here several times faster than std::hash's
  // out-of-line murmur, and the speed layer looks up a subject per event.
  struct Xxh3 {
    size_t operator()(std::string_view s) const { return Hash64(s); }
  };
  std::unordered_map<std::string_view, uint32_t, Xxh3> ids_;
};

}  // namespace vigil::aggregate
