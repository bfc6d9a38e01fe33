// DropReason: why an event or a request was not accepted. Every rejection gets exactly one, and
// each has a counter (vigil_events_rejected_total{reason}) so data loss shows on a dashboard.
#pragma once

#include <string_view>

namespace vigil::ingest {

enum class DropReason {
  kNotAnObject = 0,  // the event is not a JSON object
  kBadId,            // id missing, not a string, empty or over 64 bytes
  kBadType,          // type missing or not one of the six
  kBadTimestamp,     // ts missing, not an integer, or out of range
  kBadFields,        // the type's own fields are missing or of the wrong type
  kCount,
};

inline std::string_view DropReasonName(DropReason r) {
  switch (r) {
    case DropReason::kNotAnObject:
      return "not_an_object";
    case DropReason::kBadId:
      return "bad_id";
    case DropReason::kBadType:
      return "bad_type";
    case DropReason::kBadTimestamp:
      return "bad_timestamp";
    case DropReason::kBadFields:
      return "bad_fields";
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

}  // namespace vigil::ingest
