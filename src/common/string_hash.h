// Hash maps keyed by std::string that are looked up by std::string_view without building a
// std::string (heterogeneous lookup): a lookup key longer than the small-string buffer would
// otherwise cost an allocation per lookup, e.g. an ingest key per request.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace vigil {

struct TransparentStringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// find(std::string_view) works without a copy.
template <typename V>
using StringMap = std::unordered_map<std::string, V, TransparentStringHash, std::equal_to<>>;

}  // namespace vigil
