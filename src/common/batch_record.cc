// Batch record encoding and bounds-checked decoding.
#include "common/batch_record.h"

#include <cstring>

#include "common/coding.h"

namespace vigil {

namespace {
constexpr char kMagic[2] = {'V', 'B'};

void PutValueOrNull(std::string* out, const BinaryValue& v) {
  if (v.present()) {
    out->append(v.bytes());
  } else {
    out->push_back(static_cast<char>(ValueTag::kNull));
  }
}

bool GetValue(const char*& p, const char* end, BinaryValue* v, ValueCheck check) {
  size_t n = 0;
  const std::string_view bytes(p, end - p);
  if (!(check == ValueCheck::kFull ? BinaryValue::Parse(bytes, v, &n)
                                   : BinaryValue::ParseShallow(bytes, v, &n))) {
    return false;
  }
  p += n;
  if (v->tag() == ValueTag::kNull) *v = BinaryValue();
  return true;
}
}  // namespace

void BatchRecordBuilder::Begin(const BatchHeader& h, std::string* out) {
  out_ = out;
  out_->clear();
  out_->append(kMagic, 2);
  out_->push_back(static_cast<char>(kBatchRecordVersion));
  out_->push_back(static_cast<char>(h.skew_corrected ? 1 : 0));
  PutLengthPrefixed(out_, h.batch_id);
  PutVarsint64(out_, h.sent_at_ms);
  PutVarsint64(out_, h.received_ms);
  PutVarsint64(out_, h.skew_ms);
  PutValueOrNull(out_, h.device);
  PutValueOrNull(out_, h.app);
  PutValueOrNull(out_, h.user);
  PutValueOrNull(out_, h.extra);
  count_pos_ = out_->size();
  PutFixed32(out_, 0);
  count_ = 0;
}

void BatchRecordBuilder::AddEvent(std::string_view id, EventType type, int64_t ts_ms,
                                  std::string_view fields) {
  PutLengthPrefixed(out_, id);
  out_->push_back(static_cast<char>(type));
  PutVarsint64(out_, ts_ms);
  out_->append(fields);
  ++count_;
}

void BatchRecordBuilder::Finish() { std::memcpy(out_->data() + count_pos_, &count_, 4); }

Status DecodeBatchRecord(std::string_view payload, BatchRecord* record, ValueCheck check) {
  const char* p = payload.data();
  const char* end = p + payload.size();
  auto corrupt = [](const char* what) {
    return Status::Corruption(std::string("batch record: ") + what);
  };
  if (end - p < 4 || std::memcmp(p, kMagic, 2) != 0) return corrupt("bad magic");
  if (static_cast<uint8_t>(p[2]) != kBatchRecordVersion) return corrupt("unknown version");
  BatchHeader& h = record->header;
  h.skew_corrected = (p[3] & 1) != 0;
  p += 4;
  if (!GetLengthPrefixed(p, end, &h.batch_id)) return corrupt("truncated batch_id");
  if (!GetVarsint64(p, end, &h.sent_at_ms) || !GetVarsint64(p, end, &h.received_ms) ||
      !GetVarsint64(p, end, &h.skew_ms)) {
    return corrupt("truncated times");
  }
  if (!GetValue(p, end, &h.device, check) || !GetValue(p, end, &h.app, check) ||
      !GetValue(p, end, &h.user, check) || !GetValue(p, end, &h.extra, check)) {
    return corrupt("bad context value");
  }
  uint32_t count;
  if (!GetFixed32(p, end, &count)) return corrupt("truncated event count");
  // Each event takes at least 4 bytes; a larger count is corrupt, not a reason to allocate.
  if (count > static_cast<uint64_t>(end - p) / 4) return corrupt("event count too large");
  record->events.clear();
  record->events.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    EventView e;
    if (!GetLengthPrefixed(p, end, &e.id) || p >= end) return corrupt("truncated event");
    uint8_t type = static_cast<uint8_t>(*p++);
    if (type < 1 || type > kEventTypeCount) return corrupt("unknown event type");
    e.type = static_cast<EventType>(type);
    if (!GetVarsint64(p, end, &e.ts_ms)) return corrupt("truncated event ts");
    if (!GetValue(p, end, &e.fields, check)) return corrupt("bad event fields");
    record->events.push_back(e);
  }
  if (p != end) return corrupt("trailing bytes");
  return Status::Ok();
}

}  // namespace vigil
