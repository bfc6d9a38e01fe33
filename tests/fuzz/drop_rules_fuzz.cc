// Fuzz target: an app's drop rules (admin input) parse or are refused, never crash; parsed rules
// round-trip through their canonical form, and applying them to a record keeps every event or
// drops it, nothing else. The input's first line is also tried as a glob on the rest.
#include <cstdint>
#include <string>
#include <vector>

#include "common/batch_record.h"
#include "ingest/batch_parser.h"
#include "ingest/drop_rules.h"

namespace {
// The glob rule by dynamic programming, to check GlobMatch's greedy walk against.
bool GlobByTable(std::string_view pattern, std::string_view s) {
  std::vector<std::vector<bool>> m(pattern.size() + 1, std::vector<bool>(s.size() + 1));
  m[0][0] = true;
  for (size_t p = 1; p <= pattern.size(); ++p) {
    for (size_t i = 0; i <= s.size(); ++i) {
      if (pattern[p - 1] == '*') {
        m[p][i] = m[p - 1][i] || (i > 0 && m[p][i - 1]);
      } else {
        m[p][i] = i > 0 && m[p - 1][i - 1] && (pattern[p - 1] == '?' || pattern[p - 1] == s[i - 1]);
      }
    }
  }
  return m[pattern.size()][s.size()];
}

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
    const std::string_view pattern = in.substr(0, newline), text = in.substr(newline + 1);
    if (vigil::ingest::GlobMatch(pattern, text) != GlobByTable(pattern, text)) __builtin_trap();
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
