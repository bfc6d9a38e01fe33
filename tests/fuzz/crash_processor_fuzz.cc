// Fuzz target: a POST /v1/events body all the way through processing. Whatever the batch parser
// accepts, ProcessCrash must turn every crash and handled exception in it into a processed crash
// (never fail, crash or hang), whichever `error` form (native, apple, java, tombstone, minimal)
// and however its fields are bent; and the result must encode. No symbols are stored, so every
// path that names missing files runs.
#include <simdjson.h>

#include <cstdint>
#include <string>

#include "common/batch_record.h"
#include "common/binary_value.h"
#include "common/event_type.h"
#include "ingest/batch_parser.h"
#include "process/crash_processor.h"

namespace {

class NoSymbols : public vigil::process::CrashSymbols {
 public:
  std::shared_ptr<const vigil::symbols::SymCache> FindByDebugId(
      const vigil::symbols::DebugId&) override {
    return nullptr;
  }
  std::shared_ptr<const vigil::symbols::SymCache> FindByCodeId(std::string_view) override {
    return nullptr;
  }
  std::shared_ptr<const vigil::symbols::ProguardMapping> FindMapping(std::string_view) override {
    return nullptr;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static vigil::ingest::BatchParser parser;
  std::string body(reinterpret_cast<const char*>(data), size);
  body.reserve(size + simdjson::SIMDJSON_PADDING);
  vigil::ingest::ParsedBatch out;
  vigil::Status st = parser.Parse(body.data(), size, body.capacity(), 1700000000000, &out);
  if (!st.ok() || out.record.empty()) return 0;
  vigil::BatchRecord rec;
  if (!vigil::DecodeBatchRecord(out.record, &rec).ok()) __builtin_trap();
  NoSymbols symbols;
  const std::string_view version = rec.header.app.Get("version").AsString();
  for (const vigil::EventView& e : rec.events) {
    if (!vigil::IsCrashEvent(e.type)) continue;
    vigil::process::ProcessedCrash crash =
        vigil::process::ProcessCrash(e.fields.Get("error"), version, &symbols);
    if (crash.group.group_id.empty()) __builtin_trap();  // every crash lands in a group
    std::string encoded;
    vigil::BinaryValueWriter w(&encoded);
    crash.WriteTo(&w);
    (void)crash.ToJson();
  }
  return 0;
}
