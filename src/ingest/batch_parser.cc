// JSON batch → validated batch record. See batch_parser.h and docs/protocol.md.
#include "ingest/batch_parser.h"

#include <simdjson.h>
#include <xxhash.h>

#include <charconv>

#include "common/batch_record.h"
#include "common/binary_value.h"
#include "common/coding.h"

namespace vigil::ingest {

namespace od = simdjson::ondemand;
using simdjson::error_code;

namespace {

constexpr int kMaxDepth = 32;
constexpr size_t kMaxIdBytes = 64;
// Plausible occurred times: 2001-09-09 .. 2100-01-01, in ms.
constexpr int64_t kMinTsMs = 1000000000000LL;
constexpr int64_t kMaxTsMs = 4102444800000LL;

error_code EncodeValue(od::value v, BinaryValueWriter& w, int depth) {
  if (depth > kMaxDepth) return simdjson::DEPTH_ERROR;
  od::json_type t;
  if (auto err = v.type().get(t)) return err;
  switch (t) {
    case od::json_type::object: {
      od::object o;
      if (auto err = v.get_object().get(o)) return err;
      w.BeginObject();
      for (auto field_result : o) {
        od::field field;
        if (auto err = std::move(field_result).get(field)) return err;
        std::string_view key;
        if (auto err = field.unescaped_key().get(key)) return err;
        w.Key(key);
        if (auto err = EncodeValue(field.value(), w, depth + 1)) return err;
      }
      w.EndObject();
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array a;
      if (auto err = v.get_array().get(a)) return err;
      w.BeginArray();
      for (auto element : a) {
        od::value ev;
        if (auto err = std::move(element).get(ev)) return err;
        if (auto err = EncodeValue(ev, w, depth + 1)) return err;
      }
      w.EndArray();
      return simdjson::SUCCESS;
    }
    case od::json_type::number: {
      od::number_type nt;
      if (auto err = v.get_number_type().get(nt)) return err;
      if (nt == od::number_type::signed_integer) {
        int64_t i;
        if (v.get_int64().get(i) == simdjson::SUCCESS) {
          w.Int(i);
          return simdjson::SUCCESS;
        }
      } else if (nt == od::number_type::unsigned_integer) {
        uint64_t u;
        if (v.get_uint64().get(u) == simdjson::SUCCESS) {
          w.Uint(u);
          return simdjson::SUCCESS;
        }
      } else {
        double d;
        if (v.get_double().get(d) == simdjson::SUCCESS) {
          w.Double(d);
          return simdjson::SUCCESS;
        }
      }
      // An integer beyond 64 bits (simdjson types it as one but cannot read it): kept as the
      // nearest double, as most JSON readers do.
      std::string_view raw = v.raw_json_token();
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\n' ||
                              raw.back() == '\r')) {
        raw.remove_suffix(1);
      }
      double d;
      auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), d);
      if (ec != std::errc() || end != raw.data() + raw.size()) return simdjson::NUMBER_ERROR;
      w.Double(d);
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view s;
      if (auto err = v.get_string().get(s)) return err;
      w.String(s);
      return simdjson::SUCCESS;
    }
    case od::json_type::boolean: {
      bool b;
      if (auto err = v.get_bool().get(b)) return err;
      w.Bool(b);
      return simdjson::SUCCESS;
    }
    case od::json_type::null: {
      bool is_null;
      if (auto err = v.is_null().get(is_null)) return err;
      if (!is_null) return simdjson::INCORRECT_TYPE;
      w.Null();
      return simdjson::SUCCESS;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

Status JsonError(error_code err) {
  switch (err) {
    case simdjson::UTF8_ERROR:
      return Status::InvalidArgument("body is not valid UTF-8; encode every string as UTF-8");
    case simdjson::DEPTH_ERROR:
      return Status::InvalidArgument("body nests objects or arrays deeper than 32 levels");
    case simdjson::EMPTY:
      return Status::InvalidArgument("body is empty; send a JSON object with batch_id and events");
    default:
      return Status::InvalidArgument(std::string("body is not valid JSON (") +
                                     simdjson::error_message(err) +
                                     "); send one JSON object as docs/protocol.md describes");
  }
}

bool IsNonNegativeNumber(const BinaryValue& v) { return v.is_number() && v.AsDouble() >= 0; }

// The top-level event fields that validation looks into, by the first member with each name.
// The collector notes where each was encoded as it encodes the event, so that validation does not
// walk the event's fields once more to find them (that walk was ~5 % of the parse: 5.5-5.7 to
// 5.4 us per batch in bench/ingest/parse_bench).
enum TopField : uint8_t { kError, kBreadcrumbs, kNetwork, kFlow, kName, kAttrs, kTopFieldCount };

// Which TopField `key` names, or kTopFieldCount.
TopField TopFieldOf(std::string_view key) {
  switch (key.size()) {
    case 4:
      if (key == "flow") return kFlow;
      if (key == "name") return kName;
      break;
    case 5:
      if (key == "error") return kError;
      if (key == "attrs") return kAttrs;
      break;
    case 7:
      if (key == "network") return kNetwork;
      break;
    case 11:
      if (key == "breadcrumbs") return kBreadcrumbs;
      break;
  }
  return kTopFieldCount;
}

// Where each TopField's value lies in the collector's fields buffer (size 0: absent).
struct TopFieldSpans {
  size_t begin[kTopFieldCount];
  size_t size[kTopFieldCount];
  BinaryValue Get(std::string_view fields, TopField f) const {
    return size[f] == 0 ? BinaryValue() : BinaryValue(fields.substr(begin[f], size[f]));
  }
};

// Returns "" if the fields of an event of `type` are valid, else what is wrong. Each object is
// walked once (GetAll): a crash's error object holds whole stacks, too wide for a Get per key.
// `fields` is the buffer that `top` points into.
std::string ValidateFields(EventType type, std::string_view fields, const TopFieldSpans& top) {
  switch (type) {
    case EventType::kSessionStart:
      return "";
    case EventType::kCrash:
    case EventType::kHandledException: {
      BinaryValue error = top.Get(fields, kError), crumbs = top.Get(fields, kBreadcrumbs);
      if (!error.is_object()) {
        return "error must be an object: {\"type\", \"reason\"} and/or a stack (see "
               "docs/protocol.md)";
      }
      BinaryValue etype, reason, text, threads, images, format;
      error.GetAll({{"type", &etype},
                    {"reason", &reason},
                    {"text", &text},
                    {"threads", &threads},
                    {"images", &images},
                    {"format", &format}});
      for (auto [k, v] : {std::pair{"type", &etype}, {"reason", &reason}, {"text", &text}}) {
        if (v->present() && !v->is_string()) return std::string("error.") + k + " must be a string";
      }
      for (auto [k, v] : {std::pair{"threads", &threads}, {"images", &images}}) {
        if (v->present() && !v->is_array()) return std::string("error.") + k + " must be an array";
      }
      bool has_text = text.is_string();
      bool has_threads = threads.is_array();
      if (format.present()) {
        std::string_view f = format.AsString();
        if (f == "native") {
          if (!has_threads && !has_text) {
            return "error.format \"native\" needs threads (with images) or text";
          }
        } else if (f == "apple" || f == "java" || f == "tombstone") {
          if (!has_text) return "error.format \"" + std::string(f) + "\" needs error.text";
        } else {
          return "error.format must be one of native, apple, java, tombstone";
        }
      } else if (!etype.is_string() || etype.AsString().empty()) {
        return "error.type is required when there is no stack (error.format with text or threads)";
      }
      if (crumbs.present()) {
        if (!crumbs.is_array()) return "breadcrumbs must be an array of objects";
        std::string problem;
        crumbs.ForEach([&](std::string_view, const BinaryValue& c) {
          if (!problem.empty()) return;
          if (!c.is_object()) {
            problem = "each breadcrumb must be an object {\"ts\", \"category\", \"message\"}";
            return;
          }
          BinaryValue ts, category, message;
          c.GetAll({{"ts", &ts}, {"category", &category}, {"message", &message}});
          if (ts.present() && !ts.is_integer()) {
            problem = "breadcrumb ts must be an integer (ms since epoch)";
          } else if ((category.present() && !category.is_string()) ||
                     (message.present() && !message.is_string())) {
            problem = "breadcrumb category and message must be strings";
          }
        });
        if (!problem.empty()) return problem;
      }
      return "";
    }
    case EventType::kNetwork: {
      BinaryValue n = top.Get(fields, kNetwork);
      if (!n.is_object()) return "network must be an object {\"method\", \"url\", \"status\", ...}";
      BinaryValue method, url, status, duration, sent, received, err;
      n.GetAll({{"method", &method},
                {"url", &url},
                {"status", &status},
                {"duration_ms", &duration},
                {"bytes_sent", &sent},
                {"bytes_received", &received},
                {"error", &err}});
      if (!method.is_string() || method.AsString().empty()) {
        return "network.method must be a non-empty string";
      }
      if (!url.is_string() || url.AsString().empty()) {
        return "network.url must be a non-empty string";
      }
      if (!status.is_integer() || status.AsInt() < 0 || status.AsInt() > 999) {
        return "network.status must be an integer HTTP status (0 for a failed call)";
      }
      if (!IsNonNegativeNumber(duration)) return "network.duration_ms must be a number >= 0";
      for (auto [k, v] : {std::pair{"bytes_sent", &sent}, {"bytes_received", &received}}) {
        if (v->present() && (!v->is_integer() || v->AsInt() < 0)) {
          return std::string("network.") + k + " must be an integer >= 0";
        }
      }
      if (err.present() && !err.is_string()) return "network.error must be a string";
      if (status.AsInt() == 0 && !err.is_string()) {
        return "network.status 0 (a failed call) needs network.error saying why";
      }
      return "";
    }
    case EventType::kUserFlow: {
      BinaryValue f = top.Get(fields, kFlow);
      if (!f.is_object()) return "flow must be an object {\"name\", \"outcome\", \"duration_ms\"}";
      BinaryValue name, outcome_value, d;
      f.GetAll({{"name", &name}, {"outcome", &outcome_value}, {"duration_ms", &d}});
      if (!name.is_string() || name.AsString().empty()) {
        return "flow.name must be a non-empty string";
      }
      std::string_view outcome = outcome_value.AsString();
      if (outcome != "success" && outcome != "fail" && outcome != "crash") {
        return "flow.outcome must be one of success, fail, crash";
      }
      if (d.present() && !IsNonNegativeNumber(d)) return "flow.duration_ms must be a number >= 0";
      return "";
    }
    case EventType::kCustom: {
      BinaryValue name = top.Get(fields, kName), attrs = top.Get(fields, kAttrs);
      if (!name.is_string() || name.AsString().empty() || name.AsString().size() > 128) {
        return "name must be a string of 1-128 bytes";
      }
      if (attrs.present()) {
        if (!attrs.is_object()) return "attrs must be a flat object of strings and numbers";
        std::string problem;
        attrs.ForEach([&](std::string_view k, const BinaryValue& v) {
          if (problem.empty() && !v.is_string() && !v.is_number()) {
            problem = "attrs." + std::string(k) + " must be a string or a number";
          }
        });
        if (!problem.empty()) return problem;
      }
      return "";
    }
  }
  return "unknown type";
}

}  // namespace

static_assert(kJsonPadding >= simdjson::SIMDJSON_PADDING);

struct BatchParser::Json {
  od::parser parser;
};

BatchParser::BatchParser(BatchLimits limits) : limits_(limits), json_(std::make_unique<Json>()) {}

BatchParser::~BatchParser() = default;

Status BatchParser::Parse(const char* json, size_t size, size_t capacity, int64_t received_ms,
                          ParsedBatch* out) {
  *out = ParsedBatch();
  if (size == 0) {
    return Status::InvalidArgument("body is empty; send a JSON object with batch_id and events");
  }
  device_.clear();
  app_.clear();
  user_.clear();
  extra_.clear();
  fields_.clear();
  events_.clear();

  od::document doc;
  if (auto err = json_->parser.iterate(json, size, capacity).get(doc)) return JsonError(err);
  od::object root;
  if (auto err = doc.get_object().get(root)) {
    if (err == simdjson::INCORRECT_TYPE) {
      return Status::InvalidArgument("body must be a JSON object {\"batch_id\", \"events\", ...}");
    }
    return JsonError(err);
  }

  std::string_view batch_id;
  bool have_batch_id = false, have_events = false;
  int64_t sent_at = 0;
  bool have_sent_at = false;
  BinaryValueWriter extra_writer(&extra_);
  extra_writer.BeginObject();
  uint32_t extra_count = 0;
  uint32_t index = 0;

  for (auto field_result : root) {
    od::field field;
    if (auto err = std::move(field_result).get(field)) return JsonError(err);
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return JsonError(err);
    od::value value = field.value();
    if (key == "batch_id") {
      if (value.get_string().get(batch_id) != simdjson::SUCCESS) {
        return Status::InvalidArgument(
            "batch_id must be a string (unique per batch, reused on "
            "retries)");
      }
      have_batch_id = true;
    } else if (key == "sent_at") {
      if (value.get_int64().get(sent_at) != simdjson::SUCCESS) {
        return Status::InvalidArgument(
            "sent_at must be an integer: the device clock in ms since "
            "the epoch when the batch was sent");
      }
      have_sent_at = true;
    } else if (key == "device" || key == "app" || key == "user") {
      std::string* target = key == "device" ? &device_ : key == "app" ? &app_ : &user_;
      od::json_type t;
      if (auto err = value.type().get(t)) return JsonError(err);
      if (t != od::json_type::object) {
        return Status::InvalidArgument(std::string(key) + " must be an object");
      }
      target->clear();
      BinaryValueWriter w(target);
      if (auto err = EncodeValue(value, w, 1)) return JsonError(err);
    } else if (key == "events") {
      od::array events;
      if (value.get_array().get(events) != simdjson::SUCCESS) {
        return Status::InvalidArgument("events must be an array of event objects");
      }
      have_events = true;
      for (auto element : events) {
        od::value ev;
        if (auto err = std::move(element).get(ev)) return JsonError(err);
        if (index >= limits_.max_events) {
          return Status::TooLarge("a batch holds at most " + std::to_string(limits_.max_events) +
                                  " events; split it into smaller batches");
        }
        const uint32_t this_index = index++;
        od::json_type t;
        if (auto err = ev.type().get(t)) return JsonError(err);
        if (t != od::json_type::object) {
          // Still walk it, so a syntax error inside is caught as one.
          std::string sink;
          BinaryValueWriter w(&sink);
          if (auto err = EncodeValue(ev, w, 2)) return JsonError(err);
          out->errors.push_back({this_index, DropReason::kNotAnObject,
                                 "event must be a JSON object with id, type and ts"});
          continue;
        }
        od::object obj;
        if (auto err = ev.get_object().get(obj)) return JsonError(err);
        ScratchEvent scratch{};
        scratch.fields_begin = fields_.size();
        TopFieldSpans top{};
        BinaryValueWriter w(&fields_);
        w.BeginObject();
        std::string_view id, type_name;
        bool id_ok = false, id_seen = false, type_seen = false, ts_seen = false, ts_ok = false;
        int64_t ts = 0;
        for (auto ef_result : obj) {
          od::field ef;
          if (auto err = std::move(ef_result).get(ef)) return JsonError(err);
          std::string_view ekey;
          if (auto err = ef.unescaped_key().get(ekey)) return JsonError(err);
          od::value fv = ef.value();
          if (ekey == "id" && !id_seen) {
            id_seen = true;
            od::json_type it;
            if (auto err = fv.type().get(it)) return JsonError(err);
            if (it == od::json_type::string) {
              if (auto err = fv.get_string().get(id)) return JsonError(err);
              id_ok = true;
            } else {
              std::string sink;
              BinaryValueWriter sw(&sink);
              if (auto err = EncodeValue(fv, sw, 3)) return JsonError(err);
            }
          } else if (ekey == "type" && !type_seen) {
            type_seen = true;
            od::json_type it;
            if (auto err = fv.type().get(it)) return JsonError(err);
            if (it == od::json_type::string) {
              if (auto err = fv.get_string().get(type_name)) return JsonError(err);
            } else {
              std::string sink;
              BinaryValueWriter sw(&sink);
              if (auto err = EncodeValue(fv, sw, 3)) return JsonError(err);
            }
          } else if (ekey == "ts" && !ts_seen) {
            ts_seen = true;
            od::json_type it;
            if (auto err = fv.type().get(it)) return JsonError(err);
            od::number_type nt{};
            if (it == od::json_type::number && fv.get_number_type().get(nt) == simdjson::SUCCESS &&
                nt == od::number_type::signed_integer &&
                fv.get_int64().get(ts) == simdjson::SUCCESS) {
              ts_ok = true;
            } else {
              std::string sink;
              BinaryValueWriter sw(&sink);
              if (it != od::json_type::number) {
                if (auto err = EncodeValue(fv, sw, 3)) return JsonError(err);
              }
            }
          } else {
            w.Key(ekey);
            const size_t value_begin = fields_.size();
            if (auto err = EncodeValue(fv, w, 3)) return JsonError(err);
            const TopField f = TopFieldOf(ekey);
            if (f != kTopFieldCount && top.size[f] == 0) {  // the first member with that key
              top.begin[f] = value_begin;
              top.size[f] = fields_.size() - value_begin;
            }
          }
        }
        w.EndObject();
        scratch.fields_end = fields_.size();

        auto reject = [&](DropReason reason, std::string message) {
          out->errors.push_back({this_index, reason, std::move(message)});
          fields_.resize(scratch.fields_begin);
        };
        if (!id_ok || id.empty() || id.size() > kMaxIdBytes) {
          reject(DropReason::kBadId, "id must be a non-empty string of at most 64 bytes");
          continue;
        }
        if (!ParseEventType(type_name, &scratch.type)) {
          reject(DropReason::kBadType,
                 "type must be one of session_start, crash, handled_exception, network, "
                 "user_flow, custom");
          continue;
        }
        if (!ts_ok || ts < kMinTsMs || ts > kMaxTsMs) {
          reject(DropReason::kBadTimestamp,
                 "ts must be an integer: the time the event occurred, in ms since the epoch");
          continue;
        }
        std::string problem = ValidateFields(scratch.type, fields_, top);
        if (!problem.empty()) {
          reject(DropReason::kBadFields, std::string(EventTypeName(scratch.type)) + ": " + problem);
          continue;
        }
        scratch.id = id;
        scratch.ts_ms = ts;
        events_.push_back(std::move(scratch));
      }
    } else {
      extra_writer.Key(key);
      if (auto err = EncodeValue(value, extra_writer, 1)) return JsonError(err);
      ++extra_count;
    }
  }
  extra_writer.EndObject();
  if (!have_batch_id || batch_id.empty() || batch_id.size() > limits_.max_batch_id_bytes) {
    return Status::InvalidArgument("batch_id is required: a unique string of at most " +
                                   std::to_string(limits_.max_batch_id_bytes) +
                                   " bytes per batch, reused when the batch is retried");
  }
  if (!have_events) {
    return Status::InvalidArgument("events is required: an array of event objects");
  }

  out->batch_id.assign(batch_id);
  out->rejected = static_cast<uint32_t>(out->errors.size());
  out->accepted = static_cast<uint32_t>(events_.size());
  if (have_sent_at) {
    int64_t skew = received_ms - sent_at;
    if (skew > limits_.skew_threshold_ms || skew < -limits_.skew_threshold_ms) {
      out->skew_corrected = true;
      out->skew_ms = skew;
    }
  }
  if (events_.empty()) return Status::Ok();

  BatchHeader h;
  h.batch_id = batch_id;
  h.sent_at_ms = sent_at;
  h.received_ms = received_ms;
  h.skew_ms = out->skew_ms;
  h.skew_corrected = out->skew_corrected;
  if (!device_.empty()) h.device = BinaryValue(device_);
  if (!app_.empty()) h.app = BinaryValue(app_);
  if (!user_.empty()) h.user = BinaryValue(user_);
  if (extra_count > 0) h.extra = BinaryValue(extra_);
  // The record's exact size is not known before it is written, but a bound is: reserving it
  // saves the doubling growth (and its copies) of a buffer that moves to the log every batch.
  size_t bound = 64 + batch_id.size() + device_.size() + app_.size() + user_.size() +
                 extra_.size() + fields_.size();
  for (const ScratchEvent& e : events_) bound += e.id.size() + 2 * kMaxVarint64Bytes + 1;
  out->record.reserve(bound);
  BatchRecordBuilder builder;
  builder.Begin(h, &out->record);
  for (const ScratchEvent& e : events_) {
    builder.AddEvent(
        e.id, e.type, e.ts_ms + out->skew_ms,
        std::string_view(fields_).substr(e.fields_begin, e.fields_end - e.fields_begin));
  }
  builder.Finish();
  return Status::Ok();
}

uint64_t BatchDedupKey(std::string_view batch_id) {
  uint64_t h = XXH3_64bits(batch_id.data(), batch_id.size());
  return h == 0 ? 1 : h;
}

}  // namespace vigil::ingest
