// Derived columns: what the batch layer needs of an archived event's body — its aggregation
// facts — computed once from the event's type and fields when a part is written (and when a
// version 1 part, which lacks them, is read), so that batch scans never parse event bodies
// (part_file.h). Ids and users are not derived: hashing them on read costs a few nanoseconds,
// storing hashes would cost 24 incompressible bytes per event.
#pragma once

#include <cstdint>
#include <string_view>

#include "aggregate/event_facts.h"
#include "archive/part_file.h"

namespace vigil::archive {

struct DerivedRow {
  uint8_t flags = 0;  // kFlag*
  uint64_t bytes = 0;
  double latency = 0;  // meaningful with kFlagHasLatency
};

// The derived values of one row; `facts` is scratch, and holds the row's subject on return.
DerivedRow DeriveRow(EventType type, std::string_view fields, aggregate::EventFacts* facts);

}  // namespace vigil::archive
