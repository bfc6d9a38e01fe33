// SymbolStore: the symbol files uploaded for each app, converted once at upload, and the lookup
// side the processing stage uses to find the symcache (or ProGuard mapping) a crash needs.
//
// Layout under the store's directory, one folder per stored file:
//   <app>/<id>/original   the bytes as uploaded (symcaches are rebuilt from it when their format
//                         version changes)
//   <app>/<id>/symcache   native files: the symcache (src/symbols/symcache_format.h)
//   <app>/<id>/mapcache   ProGuard mappings: the mapping cache (proguard_cache_format.h), mapped
//                         on first use; rebuilt from the original when missing or outdated
//   <app>/<id>/meta.json  what the upload answered; written last, so a folder without it is an
//                         upload that did not finish and is ignored
// <id> is the debug id (dashed, lower-case) for native files and the mapping id for ProGuard.
// Uploading the same id again replaces it.
//
// Thread-safety: every method may be called from any thread. Add does the conversion (seconds for
// a large binary) on the caller's thread: call it from a worker, not an event loop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "symbols/debug_id.h"
#include "symbols/proguard_mapping.h"
#include "symbols/symcache.h"
#include "symbols/symcache_builder.h"

namespace vigil::symbols {

// Largest symbol file accepted (TooLarge above).
inline constexpr size_t kMaxSymbolFileBytes = size_t{512} << 20;

struct StoredSymbolFile {
  std::string id;           // debug id or mapping id
  std::string kind;         // "breakpad", "elf", "macho", "proguard"
  std::string debug_id;     // native: dashed debug id
  std::string mapping_id;   // proguard
  std::string app_version;  // proguard: the app version it was uploaded for ("" if none)
  std::string code_id;
  std::string arch;
  std::string name;
  uint64_t functions = 0;  // native: functions and symbols; proguard: methods
  uint64_t bytes = 0;      // size of the original
  int64_t uploaded_ms = 0;

  std::string ToJson() const;
};

class SymbolStore {
 public:
  // Opens (creating) `dir` and indexes what it holds.
  static Result<std::unique_ptr<SymbolStore>> Open(std::string dir);

  // The directory the store keeps its files in.
  const std::string& dir() const { return dir_; }
  // Converts and stores `data` for `app`. `name` is the module name to record for object files
  // (Breakpad and ProGuard files carry their own). InvalidArgument for an unknown or broken file,
  // TooLarge over kMaxSymbolFileBytes. Several entries for a universal Mach-O.
  // `app_version` ties a ProGuard mapping to an app version, for crashes that do not name a
  // mapping_id (ignored for native files).
  Result<std::vector<StoredSymbolFile>> Add(std::string_view app, std::string_view data,
                                            std::string_view name, int64_t now_ms,
                                            std::string_view app_version = {});
  std::vector<StoredSymbolFile> List(std::string_view app) const;
  // NotFound for an unknown id.
  Status Remove(std::string_view app, std::string_view id);

  // The symcache for a native debug id, or null. Cached: cheap after the first call.
  std::shared_ptr<const SymCache> FindNative(std::string_view app, const DebugId& id);
  // The same by code id (ELF build-id hex, as tombstones give it).
  std::shared_ptr<const SymCache> FindNativeByCodeId(std::string_view app,
                                                     std::string_view code_id);
  // The mapping for a mapping id (its cache, mapped), or null. Cached: cheap after the first call.
  std::shared_ptr<const ProguardMapping> FindMapping(std::string_view app,
                                                     std::string_view mapping_id);

  // The mapping uploaded last for `app_version` of `app`, or null.
  std::shared_ptr<const ProguardMapping> FindMappingForVersion(std::string_view app,
                                                               std::string_view app_version);

  // Whether a file named in a processed crash's `missing` list ("debug_id:<id>", "code_id:<hex>"
  // or "mapping_id:<id>") is now stored for `app`. Cheap: index lookups only.
  bool Provides(std::string_view app, std::string_view missing_id) const;

  // Converts object files (ELF, Mach-O) for Add. Default: in this process (BuildSymCaches);
  // a server sets ChildConverter::Convert so a file that crashes LLVM costs only a child
  // process. Breakpad files are always converted here: their reader is Vigil's own, fuzzed.
  // Set once, before use.
  using ObjectConverter = std::function<Result<std::vector<BuiltSymCache>>(std::string_view data,
                                                                           std::string_view name)>;
  void SetObjectConverter(ObjectConverter f) { object_converter_ = std::move(f); }

  // Called after every successful Add with the app and what was stored (e.g. to reprocess the
  // crashes that waited for these symbols). Set once, before use.
  void SetOnAdded(std::function<void(const std::string& app, const StoredSymbolFile&)> f) {
    on_added_ = std::move(f);
  }

 private:
  explicit SymbolStore(std::string dir) : dir_(std::move(dir)) {}
  Status Load();
  std::string Folder(std::string_view app, std::string_view id) const;
  Status Write(std::string_view app, const StoredSymbolFile& meta, std::string_view original,
               const char* cache_name, std::string_view cache);
  // Records `f` for `app` in both indexes. Requires mu_.
  void IndexLocked(const std::string& app, StoredSymbolFile f);
  // Points version_mappings_[app][version] at the newest mapping of that version. Requires mu_.
  void IndexVersionMappingLocked(const std::string& app, const std::string& version);

  const std::string dir_;
  mutable std::mutex mu_;
  // app -> id -> entry
  std::map<std::string, std::map<std::string, StoredSymbolFile>, std::less<>> entries_;
  // app -> code id -> id, for tombstone frames that name only a build id.
  std::map<std::string, std::map<std::string, std::string, std::less<>>, std::less<>> code_ids_;
  // app -> app version -> id of the mapping uploaded last for it.
  std::map<std::string, std::map<std::string, std::string, std::less<>>, std::less<>>
      version_mappings_;
  std::map<std::string, std::shared_ptr<const SymCache>, std::less<>> open_caches_;  // app/id
  std::map<std::string, std::shared_ptr<const ProguardMapping>, std::less<>> open_mappings_;
  std::function<void(const std::string&, const StoredSymbolFile&)> on_added_;
  ObjectConverter object_converter_;
};

// True when `data` looks like a ProGuard / R8 mapping (its first non-comment line is a class line).
bool LooksLikeProguardMapping(std::string_view data);

}  // namespace vigil::symbols
