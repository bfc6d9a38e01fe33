// ProcessCrash: one crash or handled-exception event's `error` in, a processed crash out — the
// report parsed from whichever form the SDK sent (docs/protocol.md), its crashing stack
// symbolicated (native) or retraced (Java), and its crash group.
//
// Never fails: a report that does not parse still counts, grouped by its type alone, with the
// parse error kept in ProcessedCrash::error for the user to see. Thread-safety: as thread-safe
// as the CrashSymbols passed in.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/binary_value.h"
#include "process/grouping.h"
#include "process/native_symbolicator.h"
#include "symbols/proguard_mapping.h"

namespace vigil::process {

// The symbols of one app: native symcaches and ProGuard mappings.
class CrashSymbols : public SymbolSource {
 public:
  virtual std::shared_ptr<const symbols::ProguardMapping> FindMapping(std::string_view id) = 0;
  // The mapping uploaded for an app version, for Java crashes that name no mapping_id.
  virtual std::shared_ptr<const symbols::ProguardMapping> FindMappingForVersion(
      std::string_view /*app_version*/) {
    return nullptr;
  }
};

struct ProcessedFrame {
  std::string function;  // "" when unknown
  std::string file;
  uint32_t line = 0;
  std::string module;  // image name (native) or class (Java)
  uint64_t address = 0;
  bool in_app = false;
  bool inlined = false;
  bool symbolicated = false;
};

struct ProcessedCrash {
  std::string format;  // "native", "apple", "tombstone", "java" or "minimal"
  std::string exception_type;
  std::string reason;
  Grouping group;
  bool symbolicated = false;           // every in-app frame resolved
  std::vector<std::string> missing;    // "debug_id:<id>", "code_id:<hex>", "mapping_id:<id>"
  std::vector<ProcessedFrame> frames;  // crashing thread / root cause, innermost first
  std::string error;                   // why the report could not be read, if it could not

  // {"format","type","reason","group_id","title","culprit","sentinel","symbolicated","missing",
  //  "frames":[{"function","file","line","module","address","in_app","inlined","symbolicated"}],
  //  "error"?} — the object the processed log stores under an event's "processed" field.
  void WriteTo(BinaryValueWriter* w) const;
  std::string ToJson() const;
};

ProcessedCrash ProcessCrash(const BinaryValue& error, std::string_view app_version,
                            CrashSymbols* symbols);

// Whether a Java class belongs to the platform (java.*, android.*, kotlin.*, ...) rather than the
// app.
bool IsPlatformJavaClass(std::string_view class_name);

}  // namespace vigil::process
