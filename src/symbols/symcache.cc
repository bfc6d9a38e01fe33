// Maps, validates and searches a symcache file.
#include "symbols/symcache.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "common/file_util.h"

namespace vigil::symbols {

static_assert(std::endian::native == std::endian::little, "symcache files are little-endian");

using symcache::kNone;

Result<SymCache> SymCache::Open(const std::string& path) {
  Result<MappedFile> file = MapFileReadOnly(path, symcache::kHeaderSize, "a symcache");
  if (!file.ok()) return file.status();
  SymCache cache;
  cache.mapping_ = file->data;  // unmapped by the destructor, also on error
  cache.size_ = file->size;
  cache.data_ = static_cast<const char*>(file->data);
  Status s = cache.Validate();
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  return cache;
}

Result<SymCache> SymCache::FromBytes(std::string bytes) {
  SymCache cache;
  cache.owned_ = std::move(bytes);
  cache.data_ = cache.owned_.data();
  cache.size_ = cache.owned_.size();
  VIGIL_RETURN_IF_ERROR(cache.Validate());
  return cache;
}

SymCache::SymCache(SymCache&& o) noexcept { *this = std::move(o); }

SymCache& SymCache::operator=(SymCache&& o) noexcept {
  if (this == &o) return *this;
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
  bool owned = o.mapping_ == nullptr;
  mapping_ = o.mapping_;
  owned_ = std::move(o.owned_);
  size_ = o.size_;
  data_ = owned ? owned_.data() : o.data_;
  // Point the sections into our bytes (which moved, when owned); the offsets were validated.
  const bool bound = o.header_ != nullptr;
  header_ = nullptr;
  if (bound) Bind();
  o.mapping_ = nullptr;
  o.data_ = nullptr;
  o.size_ = 0;
  o.header_ = nullptr;
  return *this;
}

SymCache::~SymCache() {
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
}

DebugId SymCache::debug_id() const {
  DebugId id;
  std::memcpy(id.guid.data(), header_->debug_id, 16);
  id.age = header_->debug_age;
  return id;
}

void SymCache::Bind() {
  header_ = reinterpret_cast<const symcache::Header*>(data_);
  const symcache::Header& h = *header_;
  range_addr_ = reinterpret_cast<const uint32_t*>(data_ + h.ranges_offset);
  range_loc_ = range_addr_ + h.num_ranges;
  locations_ = reinterpret_cast<const symcache::Location*>(data_ + h.locations_offset);
  functions_ = reinterpret_cast<const symcache::Function*>(data_ + h.functions_offset);
  files_ = reinterpret_cast<const symcache::File*>(data_ + h.files_offset);
  strings_ = data_ + h.strings_offset;
}

Status SymCache::Validate() {
  if (size_ < symcache::kHeaderSize || reinterpret_cast<uintptr_t>(data_) % 8 != 0) {
    return Status::Corruption("too short to be a symcache");
  }
  header_ = reinterpret_cast<const symcache::Header*>(data_);
  const symcache::Header& h = *header_;
  if (std::memcmp(h.magic, symcache::kMagic, sizeof(h.magic)) != 0) {
    return Status::Corruption("not a symcache (bad magic)");
  }
  if (h.version != symcache::kVersion) {
    return Status::Unsupported(
        "symcache version " + std::to_string(h.version) + " is not the supported version " +
        std::to_string(symcache::kVersion) + "; rebuild it from the original symbol file");
  }
  auto section = [&](uint64_t offset, uint64_t count, uint64_t elem) {
    return offset % 8 == 0 && offset >= symcache::kHeaderSize && offset <= size_ &&
           count <= (size_ - offset) / elem;
  };
  if (!section(h.ranges_offset, uint64_t{h.num_ranges} * 2, 4) ||
      !section(h.locations_offset, h.num_locations, sizeof(symcache::Location)) ||
      !section(h.functions_offset, h.num_functions, sizeof(symcache::Function)) ||
      !section(h.files_offset, h.num_files, sizeof(symcache::File)) ||
      !section(h.strings_offset, h.strings_size, 1) || h.strings_size >= 0xFFFFFFFFull) {
    return Status::Corruption("symcache sections lie outside the file");
  }
  if (h.address_bits != 32 && h.address_bits != 64) {
    return Status::Corruption("symcache address size is neither 32 nor 64 bits");
  }
  Bind();

  auto str_ok = [&](uint32_t off, uint32_t len) { return uint64_t{off} + len <= h.strings_size; };
  if (!str_ok(h.name_offset, h.name_length) || !str_ok(h.arch_offset, h.arch_length) ||
      !str_ok(h.code_id_offset, h.code_id_length)) {
    return Status::Corruption("symcache header names lie outside its string table");
  }
  for (uint32_t i = 0; i < h.num_ranges; ++i) {
    if (i > 0 && range_addr_[i] <= range_addr_[i - 1]) {
      return Status::Corruption("symcache ranges are not sorted");
    }
    if (range_loc_[i] != kNone && range_loc_[i] >= h.num_locations) {
      return Status::Corruption("symcache range points past its locations");
    }
  }
  if (h.num_ranges > 0 && h.end_addr < range_addr_[h.num_ranges - 1]) {
    return Status::Corruption("symcache end address is before its last range");
  }
  for (uint32_t i = 0; i < h.num_locations; ++i) {
    const symcache::Location& l = locations_[i];
    if ((l.file != kNone && l.file >= h.num_files) || l.function >= h.num_functions ||
        (l.inlined_into != kNone && l.inlined_into >= i)) {
      return Status::Corruption("symcache location " + std::to_string(i) + " is invalid");
    }
  }
  for (uint32_t i = 0; i < h.num_functions; ++i) {
    if (!str_ok(functions_[i].name_offset, functions_[i].name_length)) {
      return Status::Corruption("symcache function name lies outside its string table");
    }
  }
  for (uint32_t i = 0; i < h.num_files; ++i) {
    if (!str_ok(files_[i].name_offset, files_[i].name_length)) {
      return Status::Corruption("symcache file name lies outside its string table");
    }
  }
  return Status::Ok();
}

size_t SymCache::Lookup(uint64_t addr, std::vector<SymbolFrame>* out) const {
  const uint32_t n = header_->num_ranges;
  if (n == 0 || addr >= header_->end_addr) return 0;
  if (addr > 0xFFFFFFFFull) return 0;
  const uint32_t a = static_cast<uint32_t>(addr);
  const uint32_t* it = std::upper_bound(range_addr_, range_addr_ + n, a);
  if (it == range_addr_) return 0;
  uint32_t loc = range_loc_[(it - range_addr_) - 1];
  size_t count = 0;
  while (loc != kNone) {
    const symcache::Location& l = locations_[loc];
    const symcache::Function& f = functions_[l.function];
    SymbolFrame frame;
    frame.function = Str(f.name_offset, f.name_length);
    if (l.file != kNone) frame.file = Str(files_[l.file].name_offset, files_[l.file].name_length);
    frame.line = l.line;
    frame.discriminator = l.discriminator;
    frame.function_addr = f.entry_addr;
    out->push_back(frame);
    ++count;
    loc = l.inlined_into;
  }
  return count;
}

}  // namespace vigil::symbols
