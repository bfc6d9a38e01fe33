// Event facts: what aggregation takes from an event's body — its subject (endpoint, crash group,
// flow, custom name), whether it is an error, its bytes and its latency — derived in one place.
//
// The aggregator derives them for every event it adds; the archive derives them once, when it
// writes a part, and stores them as columns next to the raw event (docs/archive_format.md), so
// that a batch scan of thirty days reads a few fixed-width columns instead of parsing every event
// body again. Both go through FactsOf, so speed and batch aggregate exactly the same values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/batch_record.h"

namespace vigil::aggregate {

struct EventFacts {
  // The metric's own dimension (rollup.h): "METHOD endpoint-template" of a network call, the
  // crash group of a crash or handled exception, "name\x1foutcome" of a user flow, the name of a
  // custom event; empty for session starts (and a custom event without a name).
  std::string subject;
  bool error = false;  // network: status ≥ 400, 0 or an error string; flow: outcome ≠ success
  uint64_t bytes = 0;  // network: bytes sent + received (negative values count as 0)
  bool has_latency = false;
  double latency = 0;  // network: duration_ms (0 when absent); flow: duration_ms when a number
};

// Fills `out` (reusing its subject's capacity) from the event's type and fields. Never fails:
// absent or mistyped fields read as empty, 0 or false.
void FactsOf(const EventView& event, EventFacts* out);

}  // namespace vigil::aggregate
