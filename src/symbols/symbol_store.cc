// Symbol files on disk per app, their index, and cached open symcaches and mappings.
#include "symbols/symbol_store.h"

#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "common/file_util.h"
#include "common/json_writer.h"
#include "common/line_reader.h"
#include "symbols/symbol_file.h"

namespace vigil::symbols {

namespace {

// App ids and symbol ids become folder names: only these characters, never "." or "..".
bool SafeName(std::string_view s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const char* SourceKindName(symcache::SourceKind k) {
  switch (k) {
    case symcache::SourceKind::kBreakpad:
      return "breakpad";
    case symcache::SourceKind::kElf:
      return "elf";
    case symcache::SourceKind::kMachO:
      return "macho";
  }
  return "unknown";
}

constexpr const char* kSymCacheFile = "symcache";
constexpr const char* kMappingCacheFile = "mapcache";

// The mapping cache in `folder`; rebuilt from the original when it is missing (stored by an
// older Vigil), of another format version, or damaged.
Result<ProguardMapping> OpenOrRebuildMappingCache(const std::string& folder) {
  const std::string path = folder + "/" + kMappingCacheFile;
  if (FileExists(path)) {
    Result<ProguardMapping> cached = ProguardMapping::OpenCache(path);
    if (cached.ok()) return cached;
    std::fprintf(stderr, "vigil: rebuilding the mapping cache: %s\n",
                 cached.status().ToString().c_str());
  }
  Result<std::string> data = ReadFile(folder + "/original");
  if (!data.ok()) return data.status();
  Result<ProguardMapping> parsed = ProguardMapping::Parse(*data);
  if (!parsed.ok()) return parsed.status();
  VIGIL_RETURN_IF_ERROR(WriteFileAtomically(path, parsed->WriteCache()));
  return ProguardMapping::OpenCache(path);
}

}  // namespace

std::string StoredSymbolFile::ToJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("id").String(id).Key("kind").String(kind);
  if (kind == "proguard") {
    w.Key("mapping_id").String(mapping_id);
    if (!app_version.empty()) w.Key("version").String(app_version);
  } else {
    w.Key("debug_id").String(debug_id).Key("code_id").String(code_id).Key("arch").String(arch);
  }
  w.Key("name").String(name).Key("functions").Uint(functions).Key("bytes").Uint(bytes);
  w.Key("uploaded_ms").Int(uploaded_ms).EndObject();
  return out;
}

bool LooksLikeProguardMapping(std::string_view data) {
  LineReader lines(data);
  std::string_view line;
  while (lines.Next(&line)) {
    while (!line.empty() && line.back() == ' ') line.remove_suffix(1);
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    return first == 0 && line.find(" -> ") != std::string_view::npos && line.back() == ':';
  }
  return false;
}

Result<std::unique_ptr<SymbolStore>> SymbolStore::Open(std::string dir) {
  VIGIL_RETURN_IF_ERROR(MakeDirs(dir));
  std::unique_ptr<SymbolStore> store(new SymbolStore(std::move(dir)));
  VIGIL_RETURN_IF_ERROR(store->Load());
  return store;
}

std::string SymbolStore::Folder(std::string_view app, std::string_view id) const {
  return dir_ + "/" + std::string(app) + "/" + std::string(id);
}

Status SymbolStore::Load() {
  Result<std::vector<std::string>> apps = ListDir(dir_);
  if (!apps.ok()) return apps.status();
  simdjson::dom::parser parser;
  for (const std::string& app : *apps) {
    if (!SafeName(app)) continue;
    Result<std::vector<std::string>> ids = ListDir(dir_ + "/" + app);
    if (!ids.ok()) continue;
    for (const std::string& id : *ids) {
      Result<std::string> meta = ReadFile(Folder(app, id) + "/meta.json");
      if (!meta.ok()) continue;  // an upload that did not finish
      simdjson::dom::element doc;
      if (parser.parse(*meta).get(doc) != simdjson::SUCCESS) {
        std::fprintf(stderr, "vigil: ignoring %s/meta.json: not valid JSON\n",
                     Folder(app, id).c_str());
        continue;
      }
      StoredSymbolFile f;
      auto str = [&](const char* key) {
        std::string_view v;
        return doc[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
      };
      auto num = [&](const char* key) {
        int64_t v = 0;
        return doc[key].get(v) == simdjson::SUCCESS ? v : 0;
      };
      f.id = str("id");
      f.kind = str("kind");
      f.debug_id = str("debug_id");
      f.mapping_id = str("mapping_id");
      f.app_version = str("version");
      f.code_id = str("code_id");
      f.arch = str("arch");
      f.name = str("name");
      f.functions = static_cast<uint64_t>(num("functions"));
      f.bytes = static_cast<uint64_t>(num("bytes"));
      f.uploaded_ms = num("uploaded_ms");
      if (f.id != id) continue;
      IndexLocked(app, std::move(f));
    }
  }
  return Status::Ok();
}

Status SymbolStore::Write(std::string_view app, const StoredSymbolFile& meta,
                          std::string_view original, const char* cache_name,
                          std::string_view cache) {
  const std::string folder = Folder(app, meta.id);
  // Replacing: drop meta.json first so a crash midway leaves an ignored folder, never a mix.
  ::unlink((folder + "/meta.json").c_str());
  VIGIL_RETURN_IF_ERROR(MakeDirs(folder));
  VIGIL_RETURN_IF_ERROR(WriteFileAtomically(folder + "/original", original));
  VIGIL_RETURN_IF_ERROR(WriteFileAtomically(folder + "/" + cache_name, cache));
  VIGIL_RETURN_IF_ERROR(WriteFileAtomically(folder + "/meta.json", meta.ToJson()));
  return SyncDir(dir_ + "/" + std::string(app));
}

void SymbolStore::IndexLocked(const std::string& app, StoredSymbolFile f) {
  if (!f.code_id.empty()) code_ids_[app][f.code_id] = f.id;
  std::string id = f.id;
  std::string version = f.kind == "proguard" ? f.app_version : std::string();
  entries_[app][id] = std::move(f);
  if (!version.empty()) IndexVersionMappingLocked(app, version);
}

Result<std::vector<StoredSymbolFile>> SymbolStore::Add(std::string_view app, std::string_view data,
                                                       std::string_view name, int64_t now_ms,
                                                       std::string_view app_version) {
  if (!SafeName(app)) return Status::InvalidArgument("bad app id");
  if (data.size() > kMaxSymbolFileBytes) {
    return Status::TooLarge("symbol file is over " + std::to_string(kMaxSymbolFileBytes >> 20) +
                            " MiB; strip what symbolication does not need (keep .debug_* and "
                            ".symtab) or split the upload per architecture");
  }
  if (data.empty()) return Status::InvalidArgument("symbol file is empty");
  std::vector<StoredSymbolFile> stored;
  if (DetectSymbolFileKind(data) == SymbolFileKind::kUnknown && LooksLikeProguardMapping(data)) {
    Result<ProguardMapping> mapping = ProguardMapping::Parse(data);
    if (!mapping.ok()) return mapping.status();
    StoredSymbolFile f;
    f.mapping_id = Lower(mapping->mapping_id());
    f.id = f.mapping_id;
    if (!SafeName(f.id)) {
      return Status::InvalidArgument("mapping id '" + f.id +
                                     "' has characters other than letters, digits, - and _");
    }
    f.kind = "proguard";
    f.app_version = std::string(app_version);
    f.name = std::string(name.empty() ? std::string_view("mapping.txt") : name);
    f.functions = mapping->summary().method_count;
    f.bytes = data.size();
    f.uploaded_ms = now_ms;
    VIGIL_RETURN_IF_ERROR(Write(app, f, data, kMappingCacheFile, mapping->WriteCache()));
    std::lock_guard<std::mutex> lock(mu_);
    open_mappings_.erase(std::string(app) + "/" + f.id);
    IndexLocked(std::string(app), f);
    stored.push_back(std::move(f));
  } else {
    Result<std::vector<BuiltSymCache>> built =
        object_converter_ && DetectSymbolFileKind(data) == SymbolFileKind::kObject
            ? object_converter_(data, name)
            : BuildSymCaches(data, name);
    if (!built.ok()) return built.status();
    for (BuiltSymCache& b : *built) {
      Result<SymCache> cache = SymCache::FromBytes(b.bytes);
      if (!cache.ok()) return Status::Internal("built symcache does not validate");
      StoredSymbolFile f;
      f.debug_id = b.debug_id.ToString();
      f.id = f.debug_id;
      f.kind = SourceKindName(b.source);
      f.code_id = Lower(b.code_id);
      f.arch = b.arch;
      f.name = std::string(cache->name());
      f.functions = cache->num_source_functions();
      f.bytes = data.size();
      f.uploaded_ms = now_ms;
      VIGIL_RETURN_IF_ERROR(Write(app, f, data, kSymCacheFile, b.bytes));
      std::lock_guard<std::mutex> lock(mu_);
      open_caches_.erase(std::string(app) + "/" + f.id);
      IndexLocked(std::string(app), f);
      stored.push_back(std::move(f));
    }
  }
  if (on_added_) {
    for (const StoredSymbolFile& f : stored) on_added_(std::string(app), f);
  }
  return stored;
}

std::vector<StoredSymbolFile> SymbolStore::List(std::string_view app) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StoredSymbolFile> out;
  auto it = entries_.find(app);
  if (it == entries_.end()) return out;
  for (const auto& [id, f] : it->second) out.push_back(f);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.uploaded_ms != b.uploaded_ms ? a.uploaded_ms > b.uploaded_ms : a.id < b.id;
  });
  return out;
}

Status SymbolStore::Remove(std::string_view app, std::string_view id) {
  std::string lower = Lower(id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(app);
    const Status not_found =
        Status::NotFound("no symbol file with id " + std::string(id) + " for this app");
    if (it == entries_.end()) return not_found;
    auto entry = it->second.find(lower);
    if (entry == it->second.end()) return not_found;
    if (!entry->second.code_id.empty()) code_ids_[std::string(app)].erase(entry->second.code_id);
    std::string version = entry->second.kind == "proguard" ? entry->second.app_version : "";
    it->second.erase(entry);
    if (!version.empty()) IndexVersionMappingLocked(std::string(app), version);
    open_caches_.erase(std::string(app) + "/" + lower);
    open_mappings_.erase(std::string(app) + "/" + lower);
  }
  const std::string folder = Folder(app, lower);
  ::unlink((folder + "/meta.json").c_str());  // first: the entry is gone even if the rest fails
  return RemoveTree(folder);
}

std::shared_ptr<const SymCache> SymbolStore::FindNative(std::string_view app, const DebugId& id) {
  const std::string key = std::string(app) + "/" + id.ToString();
  std::lock_guard<std::mutex> lock(mu_);
  auto open = open_caches_.find(key);
  if (open != open_caches_.end()) return open->second;
  auto a = entries_.find(app);
  if (a == entries_.end() || a->second.count(id.ToString()) == 0) return nullptr;
  Result<SymCache> cache = SymCache::Open(Folder(app, id.ToString()) + "/" + kSymCacheFile);
  if (!cache.ok()) {
    std::fprintf(stderr, "vigil: symcache %s: %s\n", key.c_str(),
                 cache.status().ToString().c_str());
    return nullptr;
  }
  auto shared = std::make_shared<const SymCache>(std::move(*cache));
  open_caches_.emplace(key, shared);
  return shared;
}

std::shared_ptr<const SymCache> SymbolStore::FindNativeByCodeId(std::string_view app,
                                                                std::string_view code_id) {
  std::string id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto a = code_ids_.find(app);
    if (a == code_ids_.end()) return nullptr;
    auto it = a->second.find(Lower(code_id));
    if (it != a->second.end()) id = it->second;
  }
  if (id.empty()) return nullptr;
  Result<DebugId> debug_id = DebugId::Parse(id);
  return debug_id.ok() ? FindNative(app, *debug_id) : nullptr;
}

std::shared_ptr<const ProguardMapping> SymbolStore::FindMappingForVersion(
    std::string_view app, std::string_view app_version) {
  std::string id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto a = version_mappings_.find(app);
    if (a == version_mappings_.end()) return nullptr;
    auto v = a->second.find(app_version);
    if (v == a->second.end()) return nullptr;
    id = v->second;
  }
  return FindMapping(app, id);
}

void SymbolStore::IndexVersionMappingLocked(const std::string& app, const std::string& version) {
  std::string id;
  int64_t newest = 0;
  for (const auto& [entry_id, f] : entries_[app]) {
    if (f.kind == "proguard" && f.app_version == version &&
        (id.empty() || f.uploaded_ms > newest)) {
      id = entry_id;
      newest = f.uploaded_ms;
    }
  }
  if (id.empty()) {
    version_mappings_[app].erase(version);
  } else {
    version_mappings_[app][version] = id;
  }
}

bool SymbolStore::Provides(std::string_view app, std::string_view missing_id) const {
  size_t colon = missing_id.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view kind = missing_id.substr(0, colon);
  std::string id = Lower(missing_id.substr(colon + 1));
  std::lock_guard<std::mutex> lock(mu_);
  if (kind == "code_id") {
    auto a = code_ids_.find(app);
    return a != code_ids_.end() && a->second.count(id) != 0;
  }
  if (kind == "debug_id") {
    Result<DebugId> debug_id = DebugId::Parse(id);
    if (!debug_id.ok()) return false;
    id = debug_id->ToString();
  } else if (kind != "mapping_id") {
    return false;
  }
  auto a = entries_.find(app);
  return a != entries_.end() && a->second.count(id) != 0;
}

std::shared_ptr<const ProguardMapping> SymbolStore::FindMapping(std::string_view app,
                                                                std::string_view mapping_id) {
  const std::string id = Lower(mapping_id);
  const std::string key = std::string(app) + "/" + id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto open = open_mappings_.find(key);
    if (open != open_mappings_.end()) return open->second;
    auto a = entries_.find(app);
    if (a == entries_.end() || a->second.count(id) == 0) return nullptr;
  }
  // Not under the lock: rebuilding a cache parses the whole mapping.
  Result<ProguardMapping> mapping = OpenOrRebuildMappingCache(Folder(app, id));
  if (!mapping.ok()) {
    std::fprintf(stderr, "vigil: mapping %s: %s\n", key.c_str(),
                 mapping.status().ToString().c_str());
    return nullptr;
  }
  auto shared = std::make_shared<const ProguardMapping>(std::move(*mapping));
  std::lock_guard<std::mutex> lock(mu_);
  open_mappings_.emplace(key, shared);
  return shared;
}

}  // namespace vigil::symbols
