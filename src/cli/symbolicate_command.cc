// `vigil symbolicate`: looks up module-relative addresses in a symbol file and prints them the way
// `addr2line -f -i -C -a` does. A tool for users, and the oracle the tests hold Vigil against.
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "common/file_util.h"
#include "common/flags.h"
#include "symbols/symbol_file.h"
#include "symbols/symcache.h"

namespace vigil::cli {

namespace {

std::optional<uint64_t> ParseAddress(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  uint64_t v;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// Appends addr2line's lines for `addr`: the padded address, then function and file:line per frame.
void Print(const symbols::SymCache& cache, uint64_t addr, std::vector<symbols::SymbolFrame>* frames,
           std::string* out) {
  char buf[32];
  const int width = cache.address_bits() == 32 ? 8 : 16;
  auto hex = std::to_chars(buf, buf + sizeof(buf), addr, 16);
  const int digits = static_cast<int>(hex.ptr - buf);
  out->append("0x");
  if (digits < width) out->append(width - digits, '0');
  out->append(buf, hex.ptr);
  out->push_back('\n');
  frames->clear();
  if (cache.Lookup(addr, frames) == 0) {
    out->append("??\n??:0\n");
    return;
  }
  for (const symbols::SymbolFrame& f : *frames) {
    out->append(f.function);
    out->push_back('\n');
    out->append(f.file.empty() ? std::string_view("??") : f.file);
    out->push_back(':');
    out->append(buf, std::to_chars(buf, buf + sizeof(buf), f.line).ptr);
    if (f.discriminator != 0) {
      out->append(" (discriminator ");
      out->append(buf, std::to_chars(buf, buf + sizeof(buf), f.discriminator).ptr);
      out->push_back(')');
    }
    out->push_back('\n');
  }
}

}  // namespace

int RunSymbolicateCommand(const std::vector<std::string>& args) {
  std::string symbols_path;
  std::string arch;
  std::vector<std::string> addresses;
  FlagSet flags(
      "vigil symbolicate --symbols FILE [--arch ARCH] [ADDR...]",
      "Looks up module-relative addresses (hex, with or without 0x) in FILE: a Breakpad\n"
      ".sym, an ELF or Mach-O file with DWARF, or a symcache. Addresses come from the\n"
      "arguments, else one per line on stdin. Prints like `addr2line -f -i -C -a`: the\n"
      "address, then a function line and a file:line line per frame, innermost inline\n"
      "frame first; ?? and ??:0 when unknown. Addresses are looked up as given (subtract\n"
      "1 from return addresses yourself).");
  flags.String("symbols", &symbols_path, "symbol file (.sym, ELF, Mach-O or symcache)");
  flags.String("arch", &arch, "architecture slice of a universal Mach-O (default: the first)");
  bool stats = false;
  flags.Bool("stats", &stats,
             "print timings to stderr: symcache build, and a pure lookup pass over all addresses");
  flags.Positional(&addresses);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args, "vigil symbolicate")) {
    return *exit_code;
  }
  if (symbols_path.empty()) {
    std::fprintf(stderr, "vigil symbolicate: --symbols FILE is required (see --help)\n");
    return 2;
  }
  Result<std::string> read = ReadFile(symbols_path);
  if (!read.ok()) {
    std::fprintf(stderr, "vigil symbolicate: %s\n", read.status().ToString().c_str());
    return 1;
  }
  std::string data = std::move(*read);
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  const size_t input_bytes = data.size();
  std::optional<symbols::SymCache> cache;
  if (symbols::DetectSymbolFileKind(data) == symbols::SymbolFileKind::kSymCache) {
    Result<symbols::SymCache> c = symbols::SymCache::FromBytes(std::move(data));
    if (!c.ok()) {
      std::fprintf(stderr, "vigil symbolicate: %s: %s\n", symbols_path.c_str(),
                   c.status().message().c_str());
      return 1;
    }
    cache.emplace(std::move(*c));
  } else {
    std::string name = symbols_path.substr(symbols_path.rfind('/') + 1);
    Result<std::vector<symbols::BuiltSymCache>> built = symbols::BuildSymCaches(data, name);
    if (!built.ok()) {
      std::fprintf(stderr, "vigil symbolicate: %s: %s\n", symbols_path.c_str(),
                   built.status().message().c_str());
      return 1;
    }
    size_t pick = 0;
    if (!arch.empty()) {
      pick = built->size();
      for (size_t i = 0; i < built->size(); ++i) {
        if ((*built)[i].arch == arch) pick = i;
      }
      if (pick == built->size()) {
        std::fprintf(stderr, "vigil symbolicate: %s has no %s slice\n", symbols_path.c_str(),
                     arch.c_str());
        return 1;
      }
    }
    Result<symbols::SymCache> c = symbols::SymCache::FromBytes(std::move((*built)[pick].bytes));
    if (!c.ok()) {
      std::fprintf(stderr, "vigil symbolicate: internal error: %s\n", c.status().message().c_str());
      return 1;
    }
    cache.emplace(std::move(*c));
  }

  const double load_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (stats) {
    std::fprintf(stderr, "symcache: %.3f s to load or build, %zu bytes from %zu bytes of input\n",
                 load_s, cache->size_bytes(), input_bytes);
  }

  if (addresses.empty()) {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty()) addresses.push_back(std::move(line));
    }
  }
  std::vector<symbols::SymbolFrame> frames;
  frames.reserve(64);
  if (stats) {
    std::vector<uint64_t> parsed;
    parsed.reserve(addresses.size());
    for (const std::string& a : addresses) {
      if (std::optional<uint64_t> addr = ParseAddress(a)) parsed.push_back(*addr);
    }
    size_t total = 0;
    const Clock::time_point t0 = Clock::now();
    for (uint64_t addr : parsed) {
      frames.clear();
      total += cache->Lookup(addr, &frames);
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::fprintf(stderr,
                 "lookups: %zu addresses, %zu frames in %.3f s: %.0f addresses/s, %.0f frames/s\n",
                 parsed.size(), total, s, parsed.size() / s, total / s);
  }
  std::string out;
  int bad = 0;
  for (const std::string& text : addresses) {
    std::optional<uint64_t> addr = ParseAddress(text);
    if (!addr) {
      std::fprintf(stderr, "vigil symbolicate: '%s' is not a hex address\n", text.c_str());
      ++bad;
      continue;
    }
    Print(*cache, *addr, &frames, &out);
    if (out.size() > (1 << 16)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return bad == 0 ? 0 : 1;
}

}  // namespace vigil::cli
