// ELF / Mach-O + DWARF → symcache, through LLVM 14 (the only file that includes LLVM headers).
#include "symbols/object_reader.h"

#include <cxxabi.h>
#include <llvm/DebugInfo/DWARF/DWARFCompileUnit.h>
#include <llvm/DebugInfo/DWARF/DWARFContext.h>
#include <llvm/DebugInfo/DWARF/DWARFDebugLine.h>
#include <llvm/DebugInfo/DWARF/DWARFDie.h>
#include <llvm/Object/Binary.h>
#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Object/MachO.h>
#include <llvm/Object/MachOUniversal.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <tuple>
#include <unordered_map>

#include "symbols/symcache_builder.h"

namespace vigil::symbols {

namespace {

using symcache::kNone;

template <typename T>
bool Take(llvm::Expected<T>& e, T* out) {
  if (!e) {
    llvm::consumeError(e.takeError());
    return false;
  }
  *out = std::move(*e);
  return true;
}

// c++filt-compatible names: Itanium names through libstdc++'s demangler, others as they are.
std::string Demangle(std::string_view name) {
  if (name.size() > 2 && name[0] == '_' && name[1] == 'Z') {
    std::string z(name);
    int status = 0;
    char* d = abi::__cxa_demangle(z.c_str(), nullptr, nullptr, &status);
    if (d != nullptr) {
      std::string out(d);
      std::free(d);
      return out;
    }
  }
  return std::string(name);
}

std::string ArchName(const llvm::object::ObjectFile& obj) {
  switch (obj.getArch()) {
    case llvm::Triple::aarch64:
      return "arm64";
    case llvm::Triple::x86:
      return "x86";
    case llvm::Triple::x86_64:
      return "x86_64";
    case llvm::Triple::arm:
    case llvm::Triple::thumb:
      return "arm";
    case llvm::Triple::mips:
    case llvm::Triple::mipsel:
      return "mips";
    case llvm::Triple::mips64:
    case llvm::Triple::mips64el:
      return "mips64";
    default:
      return std::string(llvm::Triple::getArchTypeName(obj.getArch()));
  }
}

// The NT_GNU_BUILD_ID note's bytes, or empty.
std::string ElfBuildId(const llvm::object::ObjectFile& obj) {
  for (const llvm::object::SectionRef& sec : obj.sections()) {
    llvm::Expected<llvm::StringRef> name_or = sec.getName();
    llvm::StringRef name;
    if (!Take(name_or, &name) || !name.startswith(".note")) continue;
    llvm::Expected<llvm::StringRef> data_or = sec.getContents();
    llvm::StringRef data;
    if (!Take(data_or, &data)) continue;
    size_t pos = 0;
    while (pos + 12 <= data.size()) {
      uint32_t namesz, descsz, type;
      std::memcpy(&namesz, data.data() + pos, 4);
      std::memcpy(&descsz, data.data() + pos + 4, 4);
      std::memcpy(&type, data.data() + pos + 8, 4);
      pos += 12;
      size_t name_end = pos + ((uint64_t{namesz} + 3) & ~uint64_t{3});
      size_t desc_end = name_end + ((uint64_t{descsz} + 3) & ~uint64_t{3});
      if (namesz > data.size() || descsz > data.size() || desc_end > data.size()) break;
      if (type == 3 && namesz == 4 && std::memcmp(data.data() + pos, "GNU", 4) == 0 && descsz > 0) {
        return std::string(data.data() + name_end, descsz);
      }
      pos = desc_end;
    }
  }
  return {};
}

template <typename ELFT>
bool ElfLoadBase(const llvm::object::ObjectFile& obj, uint64_t* base) {
  const auto* elf = llvm::dyn_cast<llvm::object::ELFObjectFile<ELFT>>(&obj);
  if (elf == nullptr) return false;
  auto phdrs_or = elf->getELFFile().program_headers();
  if (!phdrs_or) {
    llvm::consumeError(phdrs_or.takeError());
    return true;
  }
  for (const auto& ph : *phdrs_or) {
    if (ph.p_type == llvm::ELF::PT_LOAD) {
      *base = ph.p_vaddr - ph.p_offset;
      return true;
    }
  }
  return true;
}

uint64_t ImageBase(const llvm::object::ObjectFile& obj) {
  uint64_t base = 0;
  if (obj.isELF()) {
    ElfLoadBase<llvm::object::ELF64LE>(obj, &base) ||
        ElfLoadBase<llvm::object::ELF32LE>(obj, &base) ||
        ElfLoadBase<llvm::object::ELF64BE>(obj, &base) ||
        ElfLoadBase<llvm::object::ELF32BE>(obj, &base);
  } else if (const auto* macho = llvm::dyn_cast<llvm::object::MachOObjectFile>(&obj)) {
    for (const auto& lc : macho->load_commands()) {
      if (lc.C.cmd == llvm::MachO::LC_SEGMENT_64) {
        auto seg = macho->getSegment64LoadCommand(lc);
        if (std::string_view(seg.segname, strnlen(seg.segname, 16)) == "__TEXT") return seg.vmaddr;
      } else if (lc.C.cmd == llvm::MachO::LC_SEGMENT) {
        auto seg = macho->getSegmentLoadCommand(lc);
        if (std::string_view(seg.segname, strnlen(seg.segname, 16)) == "__TEXT") return seg.vmaddr;
      }
    }
  }
  return base;
}

// A file's code and data symbols as llvm-symbolizer reads them (ELF: FUNC, NOTYPE, OBJECT and
// IFUNC symbols in allocated sections, .dynsym only when there is no .symtab; Mach-O: functions
// and data, one leading '_' dropped), demangled and sorted by address; of several at one address
// the largest (then greatest name) stays. A local ELF symbol carries the name of the STT_FILE
// symbol before it: the file llvm-symbolizer shows when the line table has nothing.
struct SymbolTable {
  struct Sym {
    uint64_t addr, size;
    std::string name;
    std::string file;
  };
  std::vector<Sym> syms;

  // The last symbol starting at or before `addr`, if its size (when known) reaches `addr`.
  const Sym* At(uint64_t addr) const {
    auto it = std::upper_bound(syms.begin(), syms.end(), addr,
                               [](uint64_t v, const Sym& s) { return v < s.addr; });
    if (it == syms.begin()) return nullptr;
    --it;
    if (it->size != 0 && it->addr + it->size <= addr) return nullptr;
    return &*it;
  }
};

void ReadElfSymbols(const llvm::object::ELFObjectFileBase& elf,
                    llvm::object::ELFObjectFileBase::elf_symbol_iterator_range range,
                    SymbolTable* table) {
  std::string file;
  // A corrupt section header can claim far more symbols than the file holds (found by fuzzing:
  // minutes of error objects on a 16 KB file); no file holds more than size / 16 (Elf32_Sym).
  const uint64_t max_symbols = elf.getData().size() / 16;
  uint64_t seen = 0;
  for (const llvm::object::ELFSymbolRef& sym : range) {
    if (++seen > max_symbols) break;
    llvm::Expected<llvm::StringRef> name_or = sym.getName();
    llvm::StringRef name;
    if (!Take(name_or, &name)) continue;
    uint8_t type = sym.getELFType();
    if (type == llvm::ELF::STT_FILE) {
      file = name.str();
      continue;
    }
    llvm::Expected<llvm::object::section_iterator> sec_or = sym.getSection();
    llvm::object::section_iterator sec = elf.section_end();
    if (!Take(sec_or, &sec) || sec == elf.section_end()) continue;
    if ((llvm::object::elf_section_iterator(sec)->getFlags() & llvm::ELF::SHF_ALLOC) == 0) continue;
    if (type != llvm::ELF::STT_NOTYPE && type != llvm::ELF::STT_FUNC &&
        type != llvm::ELF::STT_OBJECT && type != llvm::ELF::STT_GNU_IFUNC) {
      continue;
    }
    llvm::Expected<uint32_t> flags_or = sym.getFlags();
    uint32_t flags = 0;
    if (!Take(flags_or, &flags) || (flags & llvm::object::SymbolRef::SF_FormatSpecific)) continue;
    llvm::Expected<uint64_t> addr_or = sym.getAddress();
    uint64_t addr;
    if (!Take(addr_or, &addr)) continue;
    bool local = sym.getBinding() == llvm::ELF::STB_LOCAL;
    table->syms.push_back(
        {addr, sym.getSize(), Demangle({name.data(), name.size()}), local ? file : std::string()});
  }
}

SymbolTable ReadSymbolTable(const llvm::object::ObjectFile& obj) {
  SymbolTable table;
  if (const auto* elf = llvm::dyn_cast<llvm::object::ELFObjectFileBase>(&obj)) {
    ReadElfSymbols(*elf, elf->symbols(), &table);
    if (table.syms.empty()) ReadElfSymbols(*elf, elf->getDynamicSymbolIterators(), &table);
  } else {
    for (const llvm::object::SymbolRef& sym : obj.symbols()) {
      llvm::Expected<llvm::object::SymbolRef::Type> type_or = sym.getType();
      llvm::object::SymbolRef::Type type;
      if (!Take(type_or, &type) || (type != llvm::object::SymbolRef::ST_Function &&
                                    type != llvm::object::SymbolRef::ST_Data)) {
        continue;
      }
      llvm::Expected<uint64_t> addr_or = sym.getAddress();
      uint64_t addr;
      llvm::Expected<llvm::StringRef> name_or = sym.getName();
      llvm::StringRef name;
      if (!Take(addr_or, &addr) || !Take(name_or, &name) || name.empty()) continue;
      std::string_view n(name.data(), name.size());
      if (obj.isMachO() && n[0] == '_') n.remove_prefix(1);
      table.syms.push_back({addr, 0, Demangle(n), {}});
    }
  }
  auto& s = table.syms;
  std::stable_sort(s.begin(), s.end(), [](const auto& a, const auto& b) {
    return std::tie(a.addr, a.size, a.name) < std::tie(b.addr, b.size, b.name);
  });
  size_t j = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i + 1 < s.size() && s[i].addr == s[i + 1].addr) continue;
    if (j != i) s[j] = std::move(s[i]);
    ++j;
  }
  s.resize(j);
  return table;
}

// Walks one file's DWARF into the builder.
class DwarfWalker {
 public:
  DwarfWalker(SymCacheBuilder* b, const SymbolTable* symtab) : b_(b), symtab_(symtab) {}

  // Returns how many function bodies were added.
  size_t Walk(llvm::DWARFContext* ctx) {
    for (const auto& unit : ctx->compile_units()) {
      llvm::DWARFUnit* cu = unit.get();
      cu_ = cu;
      line_table_ = ctx->getLineTableForUnit(cu);
      const char* dir = cu->getCompilationDir();
      comp_dir_ = dir != nullptr ? dir : "";
      file_cache_.clear();
      rows_.clear();
      if (line_table_ != nullptr) CollectRows();
      b_->AddLineRows(rows_);
      llvm::DWARFDie die = cu->getUnitDIE(false);
      if (die.isValid()) WalkDie(die);
    }
    return bodies_;
  }

 private:
  uint32_t File(uint64_t index) {
    if (line_table_ == nullptr) return kNone;
    auto it = file_cache_.find(index);
    if (it != file_cache_.end()) return it->second;
    std::string path;
    uint32_t f = kNone;
    if (line_table_->getFileNameByIndex(
            index, comp_dir_, llvm::DILineInfoSpecifier::FileLineInfoKind::AbsoluteFilePath,
            path)) {
      f = b_->AddFile(path);
    }
    file_cache_.emplace(index, f);
    return f;
  }

  void CollectRows() {
    const auto& rows = line_table_->Rows;
    for (const auto& seq : line_table_->Sequences) {
      if (seq.LastRowIndex > rows.size()) continue;
      for (size_t i = seq.FirstRowIndex; i + 1 < seq.LastRowIndex; ++i) {
        const auto& r = rows[i];
        uint64_t begin = r.Address.Address, end = rows[i + 1].Address.Address;
        if (r.EndSequence || begin >= end) continue;
        rows_.push_back({begin, end, File(r.File), r.Line, r.Discriminator});
      }
    }
    std::sort(rows_.begin(), rows_.end(),
              [](const auto& a, const auto& b) { return a.begin < b.begin; });
  }

  static std::string Name(const llvm::DWARFDie& die) {
    const char* n = die.getName(llvm::DINameKind::LinkageName);
    if (n == nullptr || *n == '\0') return "??";
    return Demangle(n);
  }

  void WalkDie(const llvm::DWARFDie& die) {
    for (llvm::DWARFDie child = die.getFirstChild(); child.isValid() && !child.isNULL();
         child = child.getSibling()) {
      if (child.getTag() == llvm::dwarf::DW_TAG_subprogram) AddSubprogram(child);
      if (child.hasChildren()) WalkDie(child);
    }
  }

  // A function body per address range: a split function's parts (foo, foo.cold) are named
  // after the symbol covering each part, as llvm-symbolizer names the outermost frame.
  void AddSubprogram(const llvm::DWARFDie& die) {
    auto ranges_or = die.getAddressRanges();
    llvm::DWARFAddressRangesVector ranges;
    if (!Take(ranges_or, &ranges) || ranges.empty()) return;
    inlinees_.clear();
    CollectInlinees(die, 0);
    std::string dwarf_name = Name(die);
    for (const auto& range : ranges) {
      if (range.LowPC >= range.HighPC) continue;
      SymCacheBuilder::AddrRange r{range.LowPC, range.HighPC};
      const SymbolTable::Sym* sym = symtab_->At(r.begin);
      uint32_t fn =
          b_->AddFunction(sym != nullptr ? std::string_view(sym->name) : dwarf_name, r.begin);
      uint32_t fallback_file =
          sym != nullptr && !sym->file.empty() ? b_->AddFile(sym->file) : kNone;
      AddBody(fn, r, fallback_file);
    }
  }

  void AddBody(uint32_t fn, SymCacheBuilder::AddrRange r, uint32_t fallback_file) {
    // The line rows inside this range.
    body_rows_.clear();
    {
      auto it = std::upper_bound(rows_.begin(), rows_.end(), r.begin,
                                 [](uint64_t v, const auto& row) { return v < row.begin; });
      if (it != rows_.begin()) --it;
      for (; it != rows_.end() && it->begin < r.end; ++it) {
        if (it->end > r.begin) body_rows_.push_back(*it);
      }
    }
    b_->AddFunctionBody(fn, {&r, 1}, body_rows_, inlinees_, fallback_file);
    ++bodies_;
  }

  void CollectInlinees(const llvm::DWARFDie& die, uint32_t depth) {
    for (llvm::DWARFDie child = die.getFirstChild(); child.isValid() && !child.isNULL();
         child = child.getSibling()) {
      auto tag = child.getTag();
      if (tag == llvm::dwarf::DW_TAG_subprogram) continue;  // a body of its own
      if (tag == llvm::dwarf::DW_TAG_inlined_subroutine) {
        auto ranges_or = child.getAddressRanges();
        llvm::DWARFAddressRangesVector ranges;
        if (Take(ranges_or, &ranges) && !ranges.empty() && depth < 1000) {
          uint32_t call_file = 0, call_line = 0, call_column = 0, discriminator = 0;
          child.getCallerFrame(call_file, call_line, call_column, discriminator);
          uint64_t entry = UINT64_MAX;
          for (const auto& r : ranges) entry = std::min(entry, r.LowPC);
          uint32_t fn = b_->AddFunction(Name(child), entry);
          uint32_t file = File(call_file);
          for (const auto& r : ranges) {
            if (r.LowPC < r.HighPC) {
              inlinees_.push_back(
                  {depth + 1, r.LowPC, r.HighPC, fn, file, call_line, discriminator});
            }
          }
          if (child.hasChildren()) CollectInlinees(child, depth + 1);
        }
        continue;
      }
      if (child.hasChildren()) CollectInlinees(child, depth);
    }
  }

  SymCacheBuilder* b_;
  const SymbolTable* symtab_;
  llvm::DWARFUnit* cu_ = nullptr;
  const llvm::DWARFDebugLine::LineTable* line_table_ = nullptr;
  std::string comp_dir_;
  std::unordered_map<uint64_t, uint32_t> file_cache_;
  std::vector<SymCacheBuilder::LineRow> rows_;
  std::vector<SymCacheBuilder::LineRow> body_rows_;
  std::vector<SymCacheBuilder::Inlinee> inlinees_;
  size_t bodies_ = 0;
};

// Symbols fill what DWARF does not cover; those without a size run to the next symbol.
void AddSymbols(const SymbolTable& table, SymCacheBuilder* b) {
  const auto& syms = table.syms;
  for (size_t i = 0; i < syms.size(); ++i) {
    uint64_t end = syms[i].addr + syms[i].size;
    if (syms[i].size == 0) {
      if (i + 1 == syms.size()) continue;  // no known end
      end = syms[i + 1].addr;
    }
    uint32_t file = syms[i].file.empty() ? kNone : b->AddFile(syms[i].file);
    b->AddSymbol(b->AddFunction(syms[i].name, syms[i].addr), syms[i].addr, end, file);
  }
}

Result<BuiltSymCache> BuildOne(const llvm::object::ObjectFile& obj, std::string_view name) {
  SymCacheBuilder::Info info;
  BuiltSymCache out;
  if (obj.isELF()) {
    info.kind = out.source = symcache::SourceKind::kElf;
    std::string build_id = ElfBuildId(obj);
    std::span<const uint8_t> id(reinterpret_cast<const uint8_t*>(build_id.data()), build_id.size());
    out.code_id = HexEncode(id);
    if (!build_id.empty()) out.debug_id = DebugId::FromElfBuildId(id);
  } else if (const auto* macho = llvm::dyn_cast<llvm::object::MachOObjectFile>(&obj)) {
    info.kind = out.source = symcache::SourceKind::kMachO;
    llvm::ArrayRef<uint8_t> uuid = macho->getUuid();
    if (uuid.size() == 16) {
      std::span<const uint8_t, 16> u(uuid.data(), 16);
      out.debug_id = DebugId::FromUuid(u);
      out.code_id = HexEncode(uuid);
    }
  } else {
    return Status::Unsupported("only ELF and Mach-O object files are supported");
  }
  if (out.debug_id.IsZero()) {
    return Status::InvalidArgument(
        "object file has no build id (ELF NT_GNU_BUILD_ID note) or UUID (Mach-O LC_UUID), so "
        "crashes could never be matched to it; link with -Wl,--build-id");
  }
  out.arch = ArchName(obj);
  info.debug_id = out.debug_id;
  info.code_id = out.code_id;
  info.name = std::string(name);
  info.arch = out.arch;
  info.address_bits = obj.getBytesInAddress() == 4 ? 32 : 64;
  info.image_base = ImageBase(obj);
  SymCacheBuilder builder(std::move(info));

  size_t errors = 0;
  auto on_error = [&errors](llvm::Error e) {
    ++errors;
    llvm::consumeError(std::move(e));
  };
  std::unique_ptr<llvm::DWARFContext> ctx = llvm::DWARFContext::create(
      obj, llvm::DWARFContext::ProcessDebugRelocations::Process, nullptr, "", on_error, on_error);
  SymbolTable symtab = ReadSymbolTable(obj);
  DwarfWalker walker(&builder, &symtab);
  size_t bodies = walker.Walk(ctx.get());
  AddSymbols(symtab, &builder);
  if (bodies == 0 && symtab.syms.empty()) {
    return Status::InvalidArgument(
        "object file has neither DWARF debug info nor function symbols; upload the unstripped "
        "binary or its split debug file (.debug / dSYM)");
  }
  out.has_debug_info = bodies > 0;
  Result<std::string> bytes = builder.Finish();
  if (!bytes.ok()) return bytes.status();
  out.bytes = std::move(*bytes);
  return out;
}

}  // namespace

bool LooksLikeObjectFile(std::string_view data) {
  if (data.size() < 4) return false;
  uint32_t m;
  std::memcpy(&m, data.data(), 4);
  return data.substr(0, 4) ==
             "\x7f"
             "ELF" ||
         m == 0xfeedface || m == 0xfeedfacf || m == 0xcefaedfe || m == 0xcffaedfe ||
         m == 0xbebafeca /* FAT_MAGIC read LE */ || m == 0xcafebabe;
}

Result<std::vector<BuiltSymCache>> BuildSymCachesFromObject(std::string_view data,
                                                            std::string_view name) {
  llvm::MemoryBufferRef ref(llvm::StringRef(data.data(), data.size()), "upload");
  llvm::Expected<std::unique_ptr<llvm::object::Binary>> bin_or = llvm::object::createBinary(ref);
  if (!bin_or) {
    std::string why = llvm::toString(bin_or.takeError());
    return Status::InvalidArgument("not a readable object file: " + why);
  }
  std::unique_ptr<llvm::object::Binary> bin = std::move(*bin_or);
  std::vector<BuiltSymCache> out;
  if (auto* fat = llvm::dyn_cast<llvm::object::MachOUniversalBinary>(bin.get())) {
    for (const auto& slice : fat->objects()) {
      auto obj_or = slice.getAsObjectFile();
      if (!obj_or) {
        std::string why = llvm::toString(obj_or.takeError());
        return Status::InvalidArgument("universal binary slice " + slice.getArchFlagName() +
                                       " is not readable: " + why);
      }
      Result<BuiltSymCache> one = BuildOne(**obj_or, name);
      if (!one.ok()) return one.status();
      out.push_back(std::move(*one));
    }
  } else if (auto* obj = llvm::dyn_cast<llvm::object::ObjectFile>(bin.get())) {
    Result<BuiltSymCache> one = BuildOne(*obj, name);
    if (!one.ok()) return one.status();
    out.push_back(std::move(*one));
  } else {
    return Status::InvalidArgument("not an ELF or Mach-O object file");
  }
  return out;
}

}  // namespace vigil::symbols
