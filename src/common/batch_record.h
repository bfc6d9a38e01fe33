// Batch records: the compact binary form of one validated batch, as stored in the raw log.
//
// Ingest turns a JSON batch into one record; processing, archive and `vigil log dump` read it
// back. The batch context (device, app, user, unknown batch fields) is stored once, then each
// accepted event with its id, type, occurred time (already corrected for clock skew) and its
// other fields as a binary-value object. Byte layout: docs/log_format.md ("Batch record").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/binary_value.h"
#include "common/event_type.h"
#include "common/status.h"

namespace vigil {

inline constexpr uint8_t kBatchRecordVersion = 1;

struct BatchHeader {
  std::string_view batch_id;
  int64_t sent_at_ms = 0;   // the SDK's clock when it sent the batch (0 if absent)
  int64_t received_ms = 0;  // the server's clock when the batch arrived
  int64_t skew_ms = 0;      // added to every event's ts; non-zero only when corrected
  bool skew_corrected = false;
  BinaryValue device;  // objects as sent (absent if the batch had none)
  BinaryValue app;
  BinaryValue user;
  BinaryValue extra;  // object of the batch's unknown top-level fields (or absent)
};

struct EventView {
  std::string_view id;
  EventType type = EventType::kCustom;
  int64_t ts_ms = 0;   // occurred time, corrected
  BinaryValue fields;  // object: every field other than id, type and ts
};

// Builds one record. Usage: Begin(header); AddEvent()...; Finish().
class BatchRecordBuilder {
 public:
  // Clears `out` and writes the header into it. `out` must outlive the builder.
  void Begin(const BatchHeader& header, std::string* out);
  // `fields` is an encoded binary-value object.
  void AddEvent(std::string_view id, EventType type, int64_t ts_ms, std::string_view fields);
  void Finish();
  uint32_t event_count() const { return count_; }

 private:
  std::string* out_ = nullptr;
  size_t count_pos_ = 0;
  uint32_t count_ = 0;
};

// A decoded record; views point into the payload, which must outlive it.
struct BatchRecord {
  BatchHeader header;
  std::vector<EventView> events;
};

// How much of a record's binary values DecodeBatchRecord checks.
enum class ValueCheck {
  // Every value, recursively (BinaryValue::Parse): records of the raw log, which processing
  // and `vigil log dump` read.
  kFull,
  // Each value's tag and size only; a container is passed over by its byte size. For records
  // of the processed log: processing wrote them from fully checked values, and the stages after
  // it (speed, archive, crash groups) read every record, where the full check was a tenth of
  // their work. BinaryValue's accessors stay within the bytes either way.
  kShallow,
};

// Corruption if `payload` is not a well-formed batch record of a known version.
Status DecodeBatchRecord(std::string_view payload, BatchRecord* record,
                         ValueCheck check = ValueCheck::kFull);

}  // namespace vigil
