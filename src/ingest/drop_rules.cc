// Parsing, matching and applying an app's drop rules; see drop_rules.h.
#include "ingest/drop_rules.h"

#include <simdjson.h>

#include "common/event_type.h"
#include "common/json_writer.h"

namespace vigil::ingest {

bool GlobMatch(std::string_view pattern, std::string_view s) {
  // Greedy with one backtrack point: the last '*' seen takes one more byte on a mismatch.
  size_t p = 0, i = 0;
  size_t star = std::string_view::npos, star_i = 0;
  while (i < s.size()) {
    if (p < pattern.size() && pattern[p] == '*') {  // first: a '*' in `s` is not a wildcard
      star = p++;
      star_i = i;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == s[i])) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++star_i;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

const char* DropRules::FieldName(Field f) {
  switch (f) {
    case kAppVersion:
      return "app_version";
    case kOs:
      return "os";
    case kType:
      return "type";
    case kName:
      return "name";
    case kErrorType:
      return "error_type";
    case kUrl:
      return "url";
    case kFieldCount:
      break;
  }
  return "";
}

Result<std::shared_ptr<const DropRules>> DropRules::Parse(std::string_view json) {
  const std::string usage =
      "rules must be a JSON object {\"drop\": [rule, ...]}: each rule an object of conditions "
      "that must all hold, from app_version, os, type, name, error_type and url, each a string "
      "pattern ('*' any run of bytes, '?' one byte)";
  if (json.size() > kMaxJsonBytes) {
    return Status::InvalidArgument("rules are over " + std::to_string(kMaxJsonBytes >> 10) +
                                   " KiB; " + usage);
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::array drop;
  // (An empty body may come as a null pointer, which simdjson must not be given.)
  if (json.empty() || parser.parse(json.data(), json.size()).get(root) || !root.is_object() ||
      root["drop"].get_array().get(drop)) {
    return Status::InvalidArgument(usage);
  }
  for (auto field : root.get_object()) {
    if (field.key != "drop") {
      return Status::InvalidArgument("unknown field '" + std::string(field.key) + "'; " + usage);
    }
  }
  if (drop.size() > kMaxRules) {
    return Status::InvalidArgument("at most " + std::to_string(kMaxRules) + " rules");
  }
  auto rules = std::make_shared<DropRules>();
  size_t index = 0;
  for (simdjson::dom::element e : drop) {
    const std::string where = "rule " + std::to_string(index++) + ": ";
    simdjson::dom::object object;
    if (e.get_object().get(object) || object.size() == 0) {
      return Status::InvalidArgument(where + "must be an object of one or more conditions; " +
                                     usage);
    }
    Rule rule;
    for (int f = 0; f < kFieldCount; ++f) {
      const auto field = static_cast<Field>(f);
      simdjson::dom::element value;
      if (object[FieldName(field)].get(value)) continue;  // absent
      std::string_view pattern;
      if (value.get_string().get(pattern) || pattern.empty() || pattern.size() > kMaxPatternBytes) {
        return Status::InvalidArgument(where + FieldName(field) + " must be a string of 1-" +
                                       std::to_string(kMaxPatternBytes) + " bytes");
      }
      EventType type;
      if (field == kType && !ParseEventType(pattern, &type)) {
        return Status::InvalidArgument(where +
                                       "type must be one of session_start, crash, "
                                       "handled_exception, network, user_flow, custom");
      }
      rule.conditions.push_back({field, std::string(pattern)});
    }
    if (rule.conditions.size() != object.size()) {
      for (auto member : object) {
        bool known = false;
        for (int f = 0; f < kFieldCount; ++f) known |= member.key == FieldName(Field(f));
        if (!known) {
          return Status::InvalidArgument(where + "unknown condition '" + std::string(member.key) +
                                         "'; " + usage);
        }
      }
      return Status::InvalidArgument(where + "a condition is given twice");
    }
    rules->rules_.push_back(std::move(rule));
  }
  return std::shared_ptr<const DropRules>(std::move(rules));
}

std::string DropRules::ToJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("drop").BeginArray();
  for (const Rule& r : rules_) {
    w.BeginObject();
    for (const Condition& c : r.conditions) w.Key(FieldName(c.field)).String(c.pattern);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return out;
}

bool DropRules::Drops(std::optional<std::string_view> app_version,
                      std::optional<std::string_view> os, const EventView& event) const {
  for (const Rule& r : rules_) {
    bool holds = true;
    for (const Condition& c : r.conditions) {
      BinaryValue v;
      switch (c.field) {
        case kAppVersion:
          holds = app_version.has_value() && GlobMatch(c.pattern, *app_version);
          break;
        case kOs:
          holds = os.has_value() && GlobMatch(c.pattern, *os);
          break;
        case kType:
          holds = EventTypeName(event.type) == c.pattern;
          break;
        case kName:
          v = event.fields.Get("name");
          holds = v.is_string() && GlobMatch(c.pattern, v.AsString());
          break;
        case kErrorType:
          v = event.fields.Get("error").Get("type");
          holds = v.is_string() && GlobMatch(c.pattern, v.AsString());
          break;
        case kUrl:
          v = event.fields.Get("network").Get("url");
          holds = v.is_string() && GlobMatch(c.pattern, v.AsString());
          break;
        case kFieldCount:
          holds = false;
          break;
      }
      if (!holds) break;
    }
    if (holds) return true;
  }
  return false;
}

Result<uint32_t> DropRules::Apply(std::string* record) const {
  if (rules_.empty() || record->empty()) return 0u;
  BatchRecord batch;
  VIGIL_RETURN_IF_ERROR(DecodeBatchRecord(*record, &batch, ValueCheck::kShallow));
  const BinaryValue version = batch.header.app.Get("version");
  const BinaryValue os = batch.header.device.Get("os");
  // A batch without them matches no pattern on them, not even "*".
  std::optional<std::string_view> app_version, os_name;
  if (version.is_string()) app_version = version.AsString();
  if (os.is_string()) os_name = os.AsString();
  std::vector<bool> dropped(batch.events.size());
  uint32_t count = 0;
  for (size_t i = 0; i < batch.events.size(); ++i) {
    dropped[i] = Drops(app_version, os_name, batch.events[i]);
    count += dropped[i];
  }
  if (count == 0) return 0u;
  std::string kept;
  if (count < batch.events.size()) {
    BatchRecordBuilder builder;
    builder.Begin(batch.header, &kept);
    for (size_t i = 0; i < batch.events.size(); ++i) {
      const EventView& e = batch.events[i];
      if (!dropped[i]) builder.AddEvent(e.id, e.type, e.ts_ms, e.fields.bytes());
    }
    builder.Finish();
  }
  record->swap(kept);  // the header's views pointed into the old bytes: swapped only now
  return count;
}

}  // namespace vigil::ingest
