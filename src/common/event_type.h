// The six event types of the ingest contract (docs/protocol.md) and their wire names.
#pragma once

#include <cstdint>
#include <string_view>

namespace vigil {

enum class EventType : uint8_t {
  kSessionStart = 1,
  kCrash = 2,
  kHandledException = 3,
  kNetwork = 4,
  kUserFlow = 5,
  kCustom = 6,
};

inline constexpr int kEventTypeCount = 6;

inline std::string_view EventTypeName(EventType t) {
  switch (t) {
    case EventType::kSessionStart:
      return "session_start";
    case EventType::kCrash:
      return "crash";
    case EventType::kHandledException:
      return "handled_exception";
    case EventType::kNetwork:
      return "network";
    case EventType::kUserFlow:
      return "user_flow";
    case EventType::kCustom:
      return "custom";
  }
  return "unknown";
}

// Crashes and handled exceptions: the events the processing stage symbolicates and groups.
inline bool IsCrashEvent(EventType t) {
  return t == EventType::kCrash || t == EventType::kHandledException;
}

// False if `name` is not one of the six.
inline bool ParseEventType(std::string_view name, EventType* t) {
  for (int i = 1; i <= kEventTypeCount; ++i) {
    auto candidate = static_cast<EventType>(i);
    if (EventTypeName(candidate) == name) {
      *t = candidate;
      return true;
    }
  }
  return false;
}

}  // namespace vigil
