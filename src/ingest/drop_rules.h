// DropRules: an app's rules for the events it does not want stored — a debug build's traffic, a
// noisy handled exception, an analytics beacon's network calls — set by an admin
// (POST /v1/admin/apps/{id}/rules) and applied by ingest after validation, before the quota and
// the log. Dropped events are neither stored nor errors: the 202 counts them as "filtered".
//
// JSON form (docs/protocol.md, "Rules"):
//   {"drop": [{"app_version": "*-debug"}, {"type": "custom", "name": "debug_*"}, ...]}
// A rule is an object of conditions that must all hold; an event is dropped when any rule
// holds. Conditions: "app_version" and "os" (the batch's app.version and device.os), "type"
// (one of the six event types), and the event's own "name" (custom events have one),
// error.type as "error_type" (crashes and handled exceptions, as sent) and network.url as
// "url". Values are
// glob patterns: '*' matches any run of bytes, '?' one byte, anything else itself. An event
// without the field a condition names does not match it.
//
// Immutable once parsed; safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/batch_record.h"
#include "common/status.h"

namespace vigil::ingest {

// Whether `s` matches the glob `pattern` ('*' any run, '?' one byte). O(|pattern| * |s|).
bool GlobMatch(std::string_view pattern, std::string_view s);

class DropRules {
 public:
  static constexpr size_t kMaxRules = 100;
  static constexpr size_t kMaxPatternBytes = 256;
  static constexpr size_t kMaxJsonBytes = 64 << 10;

  // Parses the JSON form. InvalidArgument saying what is wrong and what is expected.
  static Result<std::shared_ptr<const DropRules>> Parse(std::string_view json);

  // The canonical JSON form ({"drop": [...]}, conditions in a fixed order).
  std::string ToJson() const;
  bool empty() const { return rules_.empty(); }
  size_t size() const { return rules_.size(); }

  // Whether an event of a batch with this app version and OS (nullopt: the batch has none) is
  // dropped.
  bool Drops(std::optional<std::string_view> app_version, std::optional<std::string_view> os,
             const EventView& event) const;

  // Removes from `record` (a batch record, as BatchParser made it) the events these rules drop,
  // rewriting it only if any are; empty if all are. Returns how many were dropped; Corruption
  // if `record` is not a well-formed batch record.
  Result<uint32_t> Apply(std::string* record) const;

 private:
  enum Field { kAppVersion, kOs, kType, kName, kErrorType, kUrl, kFieldCount };
  struct Condition {
    Field field;
    std::string pattern;
  };
  struct Rule {
    std::vector<Condition> conditions;  // in Field order
  };
  static const char* FieldName(Field f);

  std::vector<Rule> rules_;
};

}  // namespace vigil::ingest
