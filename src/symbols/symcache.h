// SymCache: a read-only view of one symcache file (symcache_format.h) answering "which function,
// file and line, with which inline chain, is at this module-relative address".
//
// Open() mmaps the file and checks every index and offset in it once, so a lookup is two binary
// searches' worth of loads and never fails or reads out of bounds, whatever the file held.
// Immutable after Open: Lookup may be called from any number of threads at once. Move-only; the
// string_views a lookup returns live as long as the SymCache.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "symbols/debug_id.h"
#include "symbols/symcache_format.h"

namespace vigil::symbols {

struct SymbolFrame {
  std::string_view function;   // demangled name; never empty when a frame is returned
  std::string_view file;       // empty when unknown
  uint32_t line = 0;           // 0 when unknown
  uint32_t discriminator = 0;  // DWARF discriminator, 0 when none
  uint64_t function_addr = 0;  // module-relative start of the function
};

class SymCache {
 public:
  // Maps and validates `path`. Corruption when it is not a valid symcache of this version
  // (Unsupported for another version: rebuild it from the original symbol file).
  static Result<SymCache> Open(const std::string& path);
  // Validates and takes `bytes`.
  static Result<SymCache> FromBytes(std::string bytes);

  SymCache(SymCache&& other) noexcept;
  SymCache& operator=(SymCache&& other) noexcept;
  SymCache(const SymCache&) = delete;
  SymCache& operator=(const SymCache&) = delete;
  ~SymCache();

  // Appends the frames at module-relative `addr` to `out`, innermost first; returns how many
  // (0 when no symbol covers the address).
  size_t Lookup(uint64_t addr, std::vector<SymbolFrame>* out) const;

  symcache::SourceKind kind() const {
    return static_cast<symcache::SourceKind>(header_->source_kind);
  }
  DebugId debug_id() const;
  std::string_view name() const { return Str(header_->name_offset, header_->name_length); }
  std::string_view arch() const { return Str(header_->arch_offset, header_->arch_length); }
  std::string_view code_id() const { return Str(header_->code_id_offset, header_->code_id_length); }
  uint32_t address_bits() const { return header_->address_bits; }
  uint64_t image_base() const { return header_->image_base; }
  uint32_t num_ranges() const { return header_->num_ranges; }
  uint32_t num_source_functions() const { return header_->num_source_functions; }
  size_t size_bytes() const { return size_; }

 private:
  SymCache() = default;
  Status Validate();
  // Sets the section pointers from the header's offsets (checked by Validate).
  void Bind();
  std::string_view Str(uint32_t off, uint32_t len) const {
    return std::string_view(strings_ + off, len);
  }

  // Exactly one of these owns the bytes.
  void* mapping_ = nullptr;
  std::string owned_;
  const char* data_ = nullptr;
  size_t size_ = 0;

  const symcache::Header* header_ = nullptr;
  const uint32_t* range_addr_ = nullptr;
  const uint32_t* range_loc_ = nullptr;
  const symcache::Location* locations_ = nullptr;
  const symcache::Function* functions_ = nullptr;
  const symcache::File* files_ = nullptr;
  const char* strings_ = nullptr;
};

}  // namespace vigil::symbols
