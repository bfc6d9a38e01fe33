// Cuts functions into elementary intervals, resolves each to a frame chain, and writes the file.
#include "symbols/symcache_builder.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace vigil::symbols {

using symcache::kNone;

namespace {
size_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

// Spreads the bits of a Mix() chain so the low bits index an open-addressing table well.
size_t Finalize(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

void AlignTo8(std::string* out) { out->resize((out->size() + 7) & ~size_t{7}, '\0'); }

template <typename T>
void AppendArray(std::string* out, const std::vector<T>& v) {
  out->append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}
}  // namespace

size_t SymCacheBuilder::LocKeyHash::operator()(const LocKey& k) const {
  return Finalize(Mix(Mix(Mix(Mix(k.file, k.line), k.function), k.inlined_into), k.discriminator));
}

size_t SymCacheBuilder::FnKeyHash::operator()(const FnKey& k) const { return Mix(k.name, k.entry); }

SymCacheBuilder::SymCacheBuilder(Info info) : info_(std::move(info)) {}

uint32_t SymCacheBuilder::Intern(std::string_view s) {
  auto it = string_index_.find(s);
  if (it != string_index_.end()) return it->second;
  uint32_t offset = static_cast<uint32_t>(strings_.size());
  if (strings_.size() + s.size() >= 0xFFFFFFFFull) {
    address_error_ = true;  // reported by Finish: the string table would overflow 4 GiB
    return 0;
  }
  strings_.append(s);
  string_index_.emplace(std::string(s), offset);
  return offset;
}

uint32_t SymCacheBuilder::AddFile(std::string_view path) {
  uint32_t off = Intern(path);
  auto [it, inserted] = file_index_.try_emplace(off, static_cast<uint32_t>(files_.size()));
  if (inserted) files_.push_back({off, static_cast<uint32_t>(path.size())});
  return it->second;
}

uint32_t SymCacheBuilder::AddFunction(std::string_view name, uint64_t entry_addr) {
  uint32_t off = Intern(name);
  auto [it, inserted] =
      function_index_.try_emplace(FnKey{off, entry_addr}, static_cast<uint32_t>(functions_.size()));
  if (inserted) {
    functions_.push_back({off, static_cast<uint32_t>(name.size()), 0, 0});
    function_entry_.push_back(entry_addr);
  }
  return it->second;
}

uint32_t SymCacheBuilder::AddLocation(const LocKey& key) {
  if (locations_.size() * 2 >= location_slots_.size()) {
    // Grow and re-insert: keeps the table at most half full.
    std::vector<uint32_t> slots(std::max<size_t>(1024, location_slots_.size() * 2), 0);
    const size_t mask = slots.size() - 1;
    for (uint32_t i = 0; i < locations_.size(); ++i) {
      const symcache::Location& l = locations_[i];
      size_t h = LocKeyHash()({l.file, l.line, l.function, l.inlined_into, l.discriminator});
      while (slots[h & mask] != 0) ++h;
      slots[h & mask] = i + 1;
    }
    location_slots_.swap(slots);
  }
  const size_t mask = location_slots_.size() - 1;
  for (size_t h = LocKeyHash()(key);; ++h) {
    uint32_t& slot = location_slots_[h & mask];
    if (slot == 0) {
      slot = static_cast<uint32_t>(locations_.size()) + 1;
      locations_.push_back({key.file, key.line, key.function, key.inlined_into, key.discriminator});
      return slot - 1;
    }
    const symcache::Location& l = locations_[slot - 1];
    if (l.file == key.file && l.line == key.line && l.function == key.function &&
        l.inlined_into == key.inlined_into && l.discriminator == key.discriminator) {
      return slot - 1;
    }
  }
}

void SymCacheBuilder::AddFunctionBody(uint32_t function, std::span<const AddrRange> ranges,
                                      std::span<const LineRow> rows,
                                      std::span<const Inlinee> inlinees, uint32_t fallback_file) {
  ++num_source_functions_;
  // Inlinees by depth, each level sorted by start, for a binary search per point.
  uint32_t max_depth = 0;
  for (const Inlinee& in : inlinees) max_depth = std::max(max_depth, in.depth);
  std::vector<std::vector<const Inlinee*>> levels(max_depth + 1);
  for (const Inlinee& in : inlinees) {
    if (in.depth >= 1 && in.begin < in.end) levels[in.depth].push_back(&in);
  }
  for (auto& level : levels) {
    std::sort(level.begin(), level.end(),
              [](const Inlinee* a, const Inlinee* b) { return a->begin < b->begin; });
  }
  std::vector<const LineRow*> sorted_rows;
  sorted_rows.reserve(rows.size());
  for (const LineRow& r : rows) {
    if (r.begin < r.end) sorted_rows.push_back(&r);
  }
  std::sort(sorted_rows.begin(), sorted_rows.end(),
            [](const LineRow* a, const LineRow* b) { return a->begin < b->begin; });

  // Returns the element of a begin-sorted list whose [begin, end) holds x, or null.
  auto find = [](const auto& list, uint64_t x) -> std::decay_t<decltype(list.front())> {
    auto it = std::upper_bound(list.begin(), list.end(), x,
                               [](uint64_t v, const auto* e) { return v < e->begin; });
    if (it == list.begin()) return nullptr;
    --it;
    return x < (*it)->end ? *it : nullptr;
  };

  for (const AddrRange& range : ranges) {
    if (range.begin >= range.end) continue;
    std::vector<uint64_t> points{range.begin, range.end};
    auto add_point = [&](uint64_t p) {
      if (p > range.begin && p < range.end) points.push_back(p);
    };
    for (const LineRow* r : sorted_rows) {
      add_point(r->begin);
      add_point(r->end);
    }
    for (const auto& level : levels) {
      for (const Inlinee* in : level) {
        add_point(in->begin);
        add_point(in->end);
      }
    }
    std::sort(points.begin(), points.end());
    points.erase(std::unique(points.begin(), points.end()), points.end());

    std::vector<const Inlinee*> chain;
    for (size_t i = 0; i + 1 < points.size(); ++i) {
      uint64_t x = points[i];
      chain.clear();
      for (uint32_t d = 1; d <= max_depth; ++d) {
        const Inlinee* in = find(levels[d], x);
        if (in == nullptr) break;
        chain.push_back(in);
      }
      const LineRow* row = find(sorted_rows, x);
      uint32_t row_file = row ? row->file : kNone;
      uint32_t row_line = row ? row->line : 0;
      // Outermost first, so each caller's location exists before its callee's.
      uint32_t parent = kNone;
      for (size_t level = 0; level <= chain.size(); ++level) {
        uint32_t fn = level == 0 ? function : chain[level - 1]->function;
        uint32_t file, line, disc;
        if (level < chain.size()) {
          file = chain[level]->call_file == kNone ? row_file : chain[level]->call_file;
          line = chain[level]->call_line;
          disc = chain[level]->call_discriminator;
        } else {
          file = row_file;
          line = row_line;
          disc = row ? row->discriminator : 0;
        }
        if (level == 0 && file == kNone) file = fallback_file;
        parent = AddLocation({file, line, fn, parent, disc});
      }
      bodies_.push_back({x, points[i + 1], parent, static_cast<uint32_t>(bodies_.size())});
    }
  }
}

void SymCacheBuilder::AddSymbol(uint32_t function, uint64_t begin, uint64_t end, uint32_t file) {
  ++num_source_functions_;
  if (begin >= end) return;
  uint32_t loc = AddLocation({file, 0, function, kNone, 0});
  symbols_.push_back({begin, end, loc, static_cast<uint32_t>(symbols_.size())});
}

void SymCacheBuilder::AddLineRows(std::span<const LineRow> rows) {
  for (const LineRow& r : rows) {
    if (r.begin < r.end) line_rows_.push_back(r);
  }
}

Result<std::string> SymCacheBuilder::Finish() {
  auto by_start = [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.seq < b.seq;
  };
  // Function bodies: the first added wins where two overlap.
  std::sort(bodies_.begin(), bodies_.end(), by_start);
  std::vector<Range> out;
  out.reserve(bodies_.size() + symbols_.size());
  uint64_t covered = 0;
  for (Range r : bodies_) {
    if (!out.empty()) r.begin = std::max(r.begin, covered);
    if (r.begin >= r.end) continue;
    out.push_back(r);
    covered = r.end;
  }
  // Symbols fill the gaps between bodies, and among themselves the earlier start wins.
  std::sort(symbols_.begin(), symbols_.end(), by_start);
  std::vector<Range> fills;
  uint64_t sym_covered = 0;
  bool any_sym = false;
  for (Range r : symbols_) {
    if (any_sym) r.begin = std::max(r.begin, sym_covered);
    if (r.begin >= r.end) continue;
    any_sym = true;
    sym_covered = r.end;
    // Subtract the bodies overlapping [r.begin, r.end).
    auto it = std::upper_bound(out.begin(), out.end(), r.begin,
                               [](uint64_t v, const Range& b) { return v < b.begin; });
    if (it != out.begin() && std::prev(it)->end > r.begin) --it;
    uint64_t cursor = r.begin;
    for (; it != out.end() && it->begin < r.end; ++it) {
      if (it->begin > cursor) fills.push_back({cursor, it->begin, r.loc, 0});
      cursor = std::max(cursor, it->end);
    }
    if (cursor < r.end) fills.push_back({cursor, r.end, r.loc, 0});
  }
  // Where line rows cover a fill, its frame gets their file:line.
  std::sort(line_rows_.begin(), line_rows_.end(),
            [](const LineRow& a, const LineRow& b) { return a.begin < b.begin; });
  for (const Range& f : fills) {
    auto it = std::upper_bound(line_rows_.begin(), line_rows_.end(), f.begin,
                               [](uint64_t v, const LineRow& r) { return v < r.begin; });
    if (it != line_rows_.begin() && std::prev(it)->end > f.begin) --it;
    uint64_t cursor = f.begin;
    const uint32_t fn = locations_[f.loc].function;
    for (; it != line_rows_.end() && it->begin < f.end; ++it) {
      uint64_t b = std::max(it->begin, cursor), e = std::min(it->end, f.end);
      if (b >= e) continue;
      if (b > cursor) out.push_back({cursor, b, f.loc, 0});
      uint32_t file = it->file != kNone ? it->file : locations_[f.loc].file;
      out.push_back({b, e, AddLocation({file, it->line, fn, kNone, it->discriminator}), 0});
      cursor = e;
    }
    if (cursor < f.end) out.push_back({cursor, f.end, f.loc, 0});
  }
  std::sort(out.begin(), out.end(), by_start);

  if (address_error_) {
    return Status::InvalidArgument("symbol file has more than 4 GiB of names; it cannot be cached");
  }
  const uint64_t base = info_.image_base;
  auto rel = [&](uint64_t a, uint32_t* r) {
    if (a < base || a - base > 0xFFFFFFFEull) return false;
    *r = static_cast<uint32_t>(a - base);
    return true;
  };
  std::vector<uint32_t> range_addr, range_loc;
  range_addr.reserve(out.size() * 2);
  range_loc.reserve(out.size() * 2);
  uint32_t end_rel = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t b, e;
    if (!rel(out[i].begin, &b) || !rel(out[i].end, &e)) {
      return Status::InvalidArgument(
          "symbol file has addresses more than 4 GiB from the image base; it cannot be cached");
    }
    if (!range_addr.empty() && end_rel < b) {  // a gap
      range_addr.push_back(end_rel);
      range_loc.push_back(kNone);
    }
    if (!range_loc.empty() && range_loc.back() == out[i].loc && end_rel == b) {
      end_rel = e;  // contiguous with the same frames: extend
      continue;
    }
    range_addr.push_back(b);
    range_loc.push_back(out[i].loc);
    end_rel = e;
  }
  for (size_t i = 0; i < functions_.size(); ++i) {
    uint32_t r = 0;
    functions_[i].entry_addr = rel(function_entry_[i], &r) ? r : 0;
  }

  symcache::Header h;
  std::memset(&h, 0, sizeof(h));
  std::memcpy(h.magic, symcache::kMagic, sizeof(h.magic));
  h.version = symcache::kVersion;
  h.source_kind = static_cast<uint32_t>(info_.kind);
  std::memcpy(h.debug_id, info_.debug_id.guid.data(), 16);
  h.debug_age = info_.debug_id.age;
  h.address_bits = info_.address_bits;
  h.image_base = info_.image_base;
  h.end_addr = end_rel;
  h.num_ranges = static_cast<uint32_t>(range_addr.size());
  h.num_locations = static_cast<uint32_t>(locations_.size());
  h.num_functions = static_cast<uint32_t>(functions_.size());
  h.num_files = static_cast<uint32_t>(files_.size());
  h.num_source_functions = num_source_functions_;
  auto meta = [&](std::string_view s, uint32_t* off, uint32_t* len) {
    *off = Intern(s);
    *len = static_cast<uint32_t>(s.size());
  };
  meta(info_.name, &h.name_offset, &h.name_length);
  meta(info_.arch, &h.arch_offset, &h.arch_length);
  meta(info_.code_id, &h.code_id_offset, &h.code_id_length);
  h.strings_size = strings_.size();

  std::string file(symcache::kHeaderSize, '\0');
  h.ranges_offset = file.size();
  AppendArray(&file, range_addr);
  AppendArray(&file, range_loc);
  AlignTo8(&file);
  h.locations_offset = file.size();
  AppendArray(&file, locations_);
  AlignTo8(&file);
  h.functions_offset = file.size();
  AppendArray(&file, functions_);
  h.files_offset = file.size();
  AppendArray(&file, files_);
  AlignTo8(&file);
  h.strings_offset = file.size();
  file.append(strings_);
  std::memcpy(file.data(), &h, sizeof(h));
  return file;
}

}  // namespace vigil::symbols
