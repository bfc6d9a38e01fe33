// BatchParser: turns the JSON body of POST /v1/events into a batch record for the log, validating
// every event as docs/protocol.md specifies.
//
// Parsing uses simdjson on-demand (compiled for this CPU; see CMakeLists.txt). Each field is
// visited once and re-encoded as a binary value, so unknown fields are kept without a second
// pass. A body that is not usable as a whole (not JSON, not UTF-8, `events` not an array, no
// batch_id, ...) is an InvalidArgument for a 400; a bad event only rejects that event, with its
// index, a DropReason and a message saying what to fix.
//
// Clock skew: when `sent_at` differs from the receive time by more than `skew_threshold_ms`, the
// difference is added to every event's ts and the record notes the correction.
//
// Not thread-safe: one parser per thread (it reuses its buffers).
//
// simdjson stays out of this header: batch_parser.cc alone is compiled for this CPU, and
// simdjson's types differ with the target (simdjson::ondemand names another implementation's
// parser in each), so a simdjson member here would give BatchParser one layout in that file and
// another in every file that includes this one. The parser lives behind a pointer instead.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/event_type.h"
#include "common/status.h"
#include "ingest/drop_reason.h"

namespace vigil::ingest {

struct BatchLimits {
  size_t max_events = 10000;
  size_t max_batch_id_bytes = 128;
  int64_t skew_threshold_ms = 60 * 1000;
};

struct EventError {
  uint32_t index;
  DropReason reason;
  std::string message;
};

struct ParsedBatch {
  std::string record;  // the batch record (accepted events only); empty if none accepted
  std::string batch_id;
  uint32_t accepted = 0;
  uint32_t rejected = 0;
  std::vector<EventError> errors;
  bool skew_corrected = false;
  int64_t skew_ms = 0;
  uint32_t filtered = 0;  // valid events the app's drop rules took out (set by EventsHandler)
};

// The log's dedup key for a batch id (never 0, which means "no key").
uint64_t BatchDedupKey(std::string_view batch_id);

// Readable bytes that Parse needs after the JSON (simdjson's padding; checked in the .cc).
inline constexpr size_t kJsonPadding = 64;

class BatchParser {
 public:
  explicit BatchParser(BatchLimits limits = {});
  ~BatchParser();
  BatchParser(const BatchParser&) = delete;
  BatchParser& operator=(const BatchParser&) = delete;

  // `json` must be followed by at least kJsonPadding readable bytes (its capacity).
  // `received_ms` is the server's receive time.
  Status Parse(const char* json, size_t size, size_t capacity, int64_t received_ms,
               ParsedBatch* out);

 private:
  struct ScratchEvent {
    std::string_view id;  // in the parser's string buffer, valid until the next Parse
    EventType type;
    int64_t ts_ms;
    size_t fields_begin, fields_end;  // in fields_
  };

  struct Json;  // simdjson's parser, in batch_parser.cc

  BatchLimits limits_;
  std::unique_ptr<Json> json_;
  std::string device_, app_, user_, extra_, fields_;
  std::vector<ScratchEvent> events_;
};

}  // namespace vigil::ingest
