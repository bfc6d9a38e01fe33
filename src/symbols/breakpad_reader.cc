// Breakpad .sym parsing, record by record, into SymCacheBuilder calls.
#include "symbols/breakpad_reader.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <unordered_map>
#include <vector>

#include "common/line_reader.h"
#include "symbols/symcache_builder.h"

namespace vigil::symbols {

namespace {

using symcache::kNone;

// Splits off up to `n` space-separated tokens; the rest of the line (which may hold spaces)
// lands in *rest. Returns how many tokens were found.
size_t Split(std::string_view line, size_t n, std::string_view* tokens, std::string_view* rest) {
  size_t count = 0;
  while (count < n) {
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) {
      if (!line.empty()) tokens[count++] = line;
      line = {};
      break;
    }
    tokens[count++] = line.substr(0, sp);
    line.remove_prefix(sp + 1);
  }
  if (rest != nullptr) *rest = line;
  return count;
}

std::vector<std::string_view> SplitAll(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) {
      out.push_back(line);
      break;
    }
    if (sp > 0) out.push_back(line.substr(0, sp));
    line.remove_prefix(sp + 1);
  }
  return out;
}

bool ParseHex(std::string_view s, uint64_t* v) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool ParseDec(std::string_view s, int64_t* v) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v, 10);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool IsFileIdToken(std::string_view s) {
  if (s == "-1") return true;
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Removes "dir/../" pairs and "./" segments from a path, lexically (as symbolic does), keeping
// the separator style ('/' or '\\') it uses.
std::string CleanPath(std::string_view path) {
  if (path.find("..") == std::string_view::npos && path.find("./") == std::string_view::npos) {
    return std::string(path);
  }
  char sep = path.find('\\') != std::string_view::npos && path.find('/') == std::string_view::npos
                 ? '\\'
                 : '/';
  std::vector<std::string_view> parts;
  bool absolute = !path.empty() && path[0] == sep;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(sep, start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part == "." || (part.empty() && !parts.empty())) {
      // skip
    } else if (part == ".." && !parts.empty() && parts.back() != ".." && !parts.back().empty()) {
      parts.pop_back();
    } else if (!part.empty() || parts.empty()) {
      parts.push_back(part);
    }
    start = end + 1;
  }
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0 || (absolute && !parts[i].empty())) {
      if (i > 0) out.push_back(sep);
    }
    out.append(parts[i]);
  }
  if (absolute && (out.empty() || out[0] != sep)) out.insert(out.begin(), sep);
  return out;
}

uint32_t AddressBits(std::string_view arch) {
  if (arch == "x86" || arch == "arm" || arch == "mips" || arch == "ppc" || arch == "sparc" ||
      arch == "armv7" || arch == "i386") {
    return 32;
  }
  return 64;
}

struct PendingInline {
  int64_t depth, call_line, call_file, origin;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
};

struct PendingFunc {
  uint64_t addr, size;
  std::string_view name;
  std::vector<std::pair<uint64_t, std::pair<uint64_t, std::pair<int64_t, int64_t>>>> lines;
  std::vector<PendingInline> inlines;
};

Status LineError(size_t number, std::string_view what) {
  return Status::InvalidArgument("Breakpad .sym line " + std::to_string(number) + ": " +
                                 std::string(what));
}

Status ParseModuleLine(std::string_view line, BreakpadModule* m) {
  std::string_view t[4], rest;
  if (line.substr(0, 7) != "MODULE " || Split(line.substr(7), 3, t, &rest) != 3 || rest.empty()) {
    return Status::InvalidArgument(
        "not a Breakpad .sym file: the first line must be 'MODULE <os> <arch> <debug id> <name>'");
  }
  m->os = std::string(t[0]);
  m->arch = std::string(t[1]);
  Result<DebugId> id = DebugId::Parse(t[2]);
  if (!id.ok()) return LineError(1, "MODULE has a bad debug id: " + id.status().message());
  m->debug_id = *id;
  m->name = std::string(rest);
  return Status::Ok();
}

void ParseInfo(std::string_view line, BreakpadModule* m) {
  std::string_view t[2], rest;
  if (Split(line, 2, t, &rest) == 2 && t[0] == "INFO" && t[1] == "CODE_ID") {
    std::string_view t2[1], rest2;
    if (Split(rest, 1, t2, &rest2) == 1) {
      m->code_id = std::string(t2[0]);
      for (char& c : m->code_id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
}

}  // namespace

bool LooksLikeBreakpad(std::string_view data) { return data.substr(0, 7) == "MODULE "; }

Result<BreakpadModule> ReadBreakpadModule(std::string_view data) {
  BreakpadModule m;
  LineReader lines(data);
  std::string_view line;
  if (!lines.Next(&line)) return Status::InvalidArgument("Breakpad .sym file is empty");
  VIGIL_RETURN_IF_ERROR(ParseModuleLine(line, &m));
  while (lines.Next(&line) && line.substr(0, 5) == "INFO ") ParseInfo(line, &m);
  return m;
}

Result<std::string> BuildSymCacheFromBreakpad(std::string_view data, BreakpadModule* module) {
  BreakpadModule m;
  LineReader lines(data);
  std::string_view line;
  if (!lines.Next(&line)) return Status::InvalidArgument("Breakpad .sym file is empty");
  VIGIL_RETURN_IF_ERROR(ParseModuleLine(line, &m));

  std::unordered_map<int64_t, std::string_view> files;
  std::unordered_map<int64_t, std::string_view> origins;
  std::vector<PendingFunc> funcs;
  std::vector<std::pair<uint64_t, std::string_view>> publics;
  std::string_view t[8], rest;

  while (lines.Next(&line)) {
    if (line.empty()) continue;
    const size_t n = lines.line_number();
    if (line.substr(0, 5) == "FILE ") {
      int64_t id;
      if (Split(line.substr(5), 1, t, &rest) != 1 || !ParseDec(t[0], &id)) {
        return LineError(n, "FILE record needs '<id> <name>'");
      }
      files[id] = rest;
    } else if (line.substr(0, 14) == "INLINE_ORIGIN ") {
      int64_t id;
      if (Split(line.substr(14), 1, t, &rest) != 1 || !ParseDec(t[0], &id)) {
        return LineError(n, "INLINE_ORIGIN record needs '<id> <name>'");
      }
      // Legacy form: "<id> <file id> <name>".
      std::string_view t2[1], rest2;
      if (Split(rest, 1, t2, &rest2) == 1 && IsFileIdToken(t2[0]) && !rest2.empty()) rest = rest2;
      origins[id] = rest;
    } else if (line.substr(0, 5) == "FUNC ") {
      std::string_view body = line.substr(5);
      if (body.substr(0, 2) == "m ") body.remove_prefix(2);
      PendingFunc f;
      uint64_t param;
      if (Split(body, 3, t, &rest) != 3 || !ParseHex(t[0], &f.addr) || !ParseHex(t[1], &f.size) ||
          !ParseHex(t[2], &param)) {
        return LineError(n, "FUNC record needs '[m] <addr> <size> <param size> <name>' in hex");
      }
      f.name = rest.empty() ? std::string_view("<name omitted>") : rest;
      funcs.push_back(std::move(f));
    } else if (line.substr(0, 7) == "PUBLIC ") {
      std::string_view body = line.substr(7);
      if (body.substr(0, 2) == "m ") body.remove_prefix(2);
      uint64_t addr, param;
      if (Split(body, 2, t, &rest) != 2 || !ParseHex(t[0], &addr) || !ParseHex(t[1], &param)) {
        return LineError(n, "PUBLIC record needs '[m] <addr> <param size> <name>' in hex");
      }
      publics.emplace_back(addr, rest.empty() ? std::string_view("<name omitted>") : rest);
    } else if (line.substr(0, 7) == "INLINE ") {
      if (funcs.empty()) return LineError(n, "INLINE record before any FUNC");
      std::vector<std::string_view> tok = SplitAll(line.substr(7));
      PendingInline in;
      size_t pos;
      bool ok = tok.size() >= 5;
      if (ok && tok.size() % 2 == 0) {  // depth line file origin (addr size)+
        ok = ParseDec(tok[0], &in.depth) && ParseDec(tok[1], &in.call_line) &&
             ParseDec(tok[2], &in.call_file) && ParseDec(tok[3], &in.origin);
        pos = 4;
      } else if (ok) {  // legacy: depth line origin (addr size)+
        ok = ParseDec(tok[0], &in.depth) && ParseDec(tok[1], &in.call_line) &&
             ParseDec(tok[2], &in.origin);
        in.call_file = -2;
        pos = 3;
      }
      for (; ok && pos + 1 < tok.size(); pos += 2) {
        uint64_t a, s;
        ok = ParseHex(tok[pos], &a) && ParseHex(tok[pos + 1], &s);
        in.ranges.emplace_back(a, s);
      }
      if (!ok || in.depth < 0 || in.depth > 10000) {
        return LineError(n,
                         "INLINE record needs '<depth> <call line> [<call file>] <origin> "
                         "<addr> <size>...' (decimal ids, hex addresses)");
      }
      funcs.back().inlines.push_back(std::move(in));
    } else if (line.substr(0, 6) == "STACK " || line.substr(0, 5) == "INFO ") {
      if (line.substr(0, 5) == "INFO ") ParseInfo(line, &m);
      // STACK CFI / STACK WIN: unwind data; symbolication does not need it.
    } else if (line.substr(0, 7) == "MODULE ") {
      return LineError(n, "a second MODULE record; upload one module per file");
    } else {
      // A line record: addr size line file.
      uint64_t addr, size;
      int64_t lno, file;
      if (Split(line, 4, t, &rest) != 4 || !rest.empty() || !ParseHex(t[0], &addr) ||
          !ParseHex(t[1], &size) || !ParseDec(t[2], &lno) || !ParseDec(t[3], &file)) {
        return LineError(n,
                         "not a known record and not a line record '<addr> <size> <line> "
                         "<file id>': '" +
                             std::string(line.substr(0, 60)) + "'");
      }
      if (funcs.empty()) return LineError(n, "line record before any FUNC");
      funcs.back().lines.push_back({addr, {size, {lno, file}}});
    }
  }

  SymCacheBuilder::Info info;
  info.kind = symcache::SourceKind::kBreakpad;
  info.debug_id = m.debug_id;
  info.code_id = m.code_id;
  info.name = m.name;
  info.arch = m.arch;
  info.address_bits = AddressBits(m.arch);
  SymCacheBuilder b(std::move(info));

  std::unordered_map<int64_t, uint32_t> file_index;
  auto file_of = [&](int64_t id) -> uint32_t {
    auto it = file_index.find(id);
    if (it != file_index.end()) return it->second;
    auto f = files.find(id);
    uint32_t idx = f == files.end() ? kNone : b.AddFile(CleanPath(f->second));
    file_index.emplace(id, idx);
    return idx;
  };

  std::vector<SymCacheBuilder::LineRow> rows;
  std::vector<SymCacheBuilder::Inlinee> inlinees;
  std::vector<uint64_t> starts;
  starts.reserve(funcs.size() + publics.size());
  for (const PendingFunc& f : funcs) {
    starts.push_back(f.addr);
    rows.clear();
    inlinees.clear();
    for (const auto& [addr, rest_] : f.lines) {
      rows.push_back({addr, addr + rest_.first, file_of(rest_.second.second),
                      static_cast<uint32_t>(std::max<int64_t>(0, rest_.second.first))});
    }
    for (const PendingInline& in : f.inlines) {
      auto o = origins.find(in.origin);
      std::string_view oname =
          o == origins.end() ? std::string_view("<unknown inline origin>") : o->second;
      uint64_t entry = in.ranges.empty() ? f.addr : in.ranges.front().first;
      uint32_t fn = b.AddFunction(oname, entry);
      uint32_t call_file = in.call_file == -2 ? kNone : file_of(in.call_file);
      for (const auto& [a, s] : in.ranges) {
        inlinees.push_back({static_cast<uint32_t>(in.depth + 1), a, a + s, fn, call_file,
                            static_cast<uint32_t>(std::max<int64_t>(0, in.call_line))});
      }
    }
    SymCacheBuilder::AddrRange range{f.addr, f.addr + f.size};
    b.AddFunctionBody(b.AddFunction(f.name, f.addr), {&range, 1}, rows, inlinees);
  }
  // A PUBLIC covers up to the next symbol of either kind (or the end of the module).
  for (const auto& p : publics) starts.push_back(p.first);
  std::sort(starts.begin(), starts.end());
  for (const auto& [addr, name] : publics) {
    auto next = std::upper_bound(starts.begin(), starts.end(), addr);
    uint64_t end = next == starts.end() ? uint64_t{0xFFFFFFFE} : *next;
    b.AddSymbol(b.AddFunction(name, addr), addr, end);
  }
  Result<std::string> out = b.Finish();
  if (out.ok() && module != nullptr) *module = std::move(m);
  return out;
}

}  // namespace vigil::symbols
