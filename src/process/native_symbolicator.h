// NativeSymbolicator: resolves a CrashReport's crashing stack with the app's symbol files.
//
// For each frame: find its image (the report's image index, else by address range; tombstone
// frames are already module-relative), take the module-relative address — frame 0 as is, caller
// frames at address - 1 (docs/symbols.md), tombstone pcs as given — and look it up in the image's
// symcache, found by debug id (Mach-O UUID) or code id (ELF build-id). Inline frames expand into
// several. An image without uploaded symbols keeps whatever name the report printed and is
// reported missing by id, so the crash can go to its sentinel group and users see which file to
// upload.
//
// Thread-safety: Symbolicate is const and may run on many threads if the SymbolSource allows it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "process/crash_report.h"
#include "symbols/debug_id.h"
#include "symbols/symcache.h"

namespace vigil::process {

// Where symcaches come from: the SymbolStore in production, a map in tests.
class SymbolSource {
 public:
  virtual ~SymbolSource() = default;
  virtual std::shared_ptr<const symbols::SymCache> FindByDebugId(const symbols::DebugId& id) = 0;
  virtual std::shared_ptr<const symbols::SymCache> FindByCodeId(std::string_view code_id) = 0;
};

struct SymbolicatedFrame {
  uint64_t instruction_addr = 0;  // as reported (absolute, or relative for tombstones)
  uint64_t module_addr = 0;       // module-relative address looked up
  std::string module;             // image name
  std::string function;           // "" when unknown
  std::string file;
  uint32_t line = 0;
  bool inlined = false;  // an inlined call inside the next frame
  bool in_app = false;
  bool symbolicated = false;     // function/file/line came from Vigil's symbols
  bool symbols_missing = false;  // the image's symbols were not uploaded
};

struct SymbolicatedStack {
  std::vector<SymbolicatedFrame> frames;  // innermost first, inline frames expanded
  // Ids of the app's symbol files needed and not found ("debug_id:<id>" or "code_id:<hex>"),
  // each once; OS images are never named.
  std::vector<std::string> missing;
  bool complete = false;  // every in-app frame was symbolicated
};

// The thread that crashed: crashed_thread, else the first marked crashed, else the first.
const CrashThread* CrashedThread(const CrashReport& report);

// Whether an image belongs to the app rather than the OS: the report's hint, else its path.
bool IsAppImage(const CrashImage& image);

SymbolicatedStack SymbolicateCrashedThread(const CrashReport& report, SymbolSource* symbols);

}  // namespace vigil::process
