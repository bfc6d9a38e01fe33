// Fuzz target: an app's drop rules (admin input) parse or are refused, never crash; parsed rules
// round-trip through their canonical form, and applying them to a record keeps every event or
// drops it, nothing else. The input's first line is also tried as a glob on the rest.
#include <cstdint>
#include <string>

#include "common/batch_record.h"
#include "ingest/batch_parser.h"
#include "ingest/drop_rules.h"

namespace {
// A record of a batch with one event of each kind the rules look at.
const std::string& SampleRecord() {
  static const std::string record = [] {
    std::string json =
        R"({"batch_id":"b","device":{"id":"d","os":"android"},"app":{"version":"2.3.1-debug"},)"
        R"("events":[{"id":"s","type":"session_start","ts":1700000000000},)"
        R"({"id":"c","type":"custom","ts":1700000000000,"name":"debug_tap"},)"
        R"({"id":"h","type":"handled_exception","ts":1700000000000,)"
        R"("error":{"type":"java.io.IOException","reason":"x"}},)"
        R"({"id":"n","type":"network","ts":1700000000000,"network":{"method":"GET",)"
        R"("url":"https://a.example.com/ping","status":200,"duration_ms":1}}]})";
    const size_t size = json.size();
    json.reserve(size + vigil::ingest::kJsonPadding);
    vigil::ingest::BatchParser parser;
    vigil::ingest::ParsedBatch batch;
    if (!parser.Parse(json.data(), size, json.capacity(), 1700000000000, &batch).ok()) {
      __builtin_trap();
    }
    return batch.record;
  }();
  return record;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t newline = in.find('\n');
  if (newline != std::string_view::npos && newline <= 256 && in.size() - newline <= 4096) {
    (void)vigil::ingest::GlobMatch(in.substr(0, newline), in.substr(newline + 1));
  }
  auto rules = vigil::ingest::DropRules::Parse(in);
  if (!rules.ok()) return 0;
  const std::string canonical = (*rules)->ToJson();
  auto again = vigil::ingest::DropRules::Parse(canonical);
  if (!again.ok() || (*again)->ToJson() != canonical) __builtin_trap();
  std::string record = SampleRecord();
  vigil::Result<uint32_t> dropped = (*rules)->Apply(&record);
  if (!dropped.ok() || *dropped > 4) __builtin_trap();
  if (*dropped == 4) {
    if (!record.empty()) __builtin_trap();
    return 0;
  }
  vigil::BatchRecord decoded;
  if (!vigil::DecodeBatchRecord(record, &decoded).ok() || decoded.events.size() != 4 - *dropped) {
    __builtin_trap();
  }
  return 0;
}
