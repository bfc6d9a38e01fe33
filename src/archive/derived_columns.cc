// Derived columns: the archive's side of aggregate::FactsOf.
#include "archive/derived_columns.h"

#include "common/binary_value.h"

namespace vigil::archive {

DerivedRow DeriveRow(EventType type, std::string_view fields, aggregate::EventFacts* facts) {
  DerivedRow d;
  EventView event;
  event.type = type;
  event.fields = BinaryValue(fields);
  aggregate::FactsOf(event, facts);
  if (facts->error) d.flags |= kFlagError;
  if (facts->has_latency) {
    d.flags |= kFlagHasLatency;
    d.latency = facts->latency;
  }
  d.bytes = facts->bytes;
  if (d.bytes != 0) d.flags |= kFlagHasBytes;
  return d;
}

}  // namespace vigil::archive
