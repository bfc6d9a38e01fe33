// Fuzz target: stored aggregates (rollup cells with their HyperLogLog and latency sketches, and
// rollup keys) decoded from arbitrary bytes must return a Status, never crash; whatever decodes
// must merge, estimate and answer quantiles without reading out of bounds, and serialize to
// bytes that decode again.
#include <cstdint>
#include <string>
#include <string_view>

#include "aggregate/rollup.h"

using vigil::aggregate::HyperLogLog;
using vigil::aggregate::LatencySketch;
using vigil::aggregate::RollupCell;
using vigil::aggregate::RollupKey;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  RollupKey key;
  (void)vigil::aggregate::DecodeRollupKey(bytes, &key);
  HyperLogLog hll;
  if (HyperLogLog::Decode(bytes, &hll).ok()) {
    (void)hll.Estimate();
    HyperLogLog copy = hll;
    copy.Merge(hll);
    copy.Add("fuzz");
    HyperLogLog back;
    if (!HyperLogLog::Decode(copy.Serialize(), &back).ok()) __builtin_trap();
  }
  LatencySketch sketch;
  if (LatencySketch::Decode(bytes, &sketch).ok()) {
    (void)sketch.Quantile(0.5);
    (void)sketch.Quantile(0.99);
    LatencySketch copy = sketch;
    copy.Merge(sketch);
    copy.Add(12.5);
    LatencySketch back;
    if (!LatencySketch::Decode(copy.Serialize(), &back).ok()) __builtin_trap();
  }
  RollupCell cell;
  if (RollupCell::Decode(bytes, &cell).ok()) {
    RollupCell copy = cell;
    copy.Merge(cell);
    (void)copy.users.Estimate();
    (void)copy.latency.Quantile(0.95);
    RollupCell back;
    if (!RollupCell::Decode(copy.Serialize(), &back).ok()) __builtin_trap();
  }
  return 0;
}
