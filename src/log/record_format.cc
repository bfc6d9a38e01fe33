// Encoding and checking of segment headers and records.
#include "log/record_format.h"

#include <libdeflate.h>

#include <cstring>

#include "common/coding.h"

namespace vigil::log {

void EncodeSegmentHeader(const SegmentHeader& h, std::string* out) {
  out->append(kSegmentMagic, 8);
  PutFixed32(out, kSegmentVersion);
  PutFixed32(out, kSegmentHeaderSize);
  PutFixed64(out, h.base_offset);
  PutFixed64(out, static_cast<uint64_t>(h.created_ms));
}

bool DecodeSegmentHeader(std::string_view bytes, SegmentHeader* h) {
  if (bytes.size() < kSegmentHeaderSize) return false;
  if (std::memcmp(bytes.data(), kSegmentMagic, 8) != 0) return false;
  if (DecodeFixed32(bytes.data() + 8) != kSegmentVersion) return false;
  if (DecodeFixed32(bytes.data() + 12) != kSegmentHeaderSize) return false;
  h->base_offset = DecodeFixed64(bytes.data() + 16);
  h->created_ms = static_cast<int64_t>(DecodeFixed64(bytes.data() + 24));
  return true;
}

void EncodeRecord(uint64_t offset, int64_t append_time_ms, uint64_t dedup_key, uint32_t item_count,
                  std::string_view payload, std::string* out) {
  size_t start = out->size();
  PutFixed32(out, static_cast<uint32_t>(payload.size()));
  PutFixed32(out, 0);  // crc, patched below
  PutFixed64(out, offset);
  PutFixed64(out, static_cast<uint64_t>(append_time_ms));
  PutFixed64(out, dedup_key);
  PutFixed32(out, item_count);
  PutFixed32(out, 0);
  out->append(payload);
  uint32_t crc = libdeflate_crc32(0, out->data() + start + 8, out->size() - start - 8);
  std::memcpy(out->data() + start + 4, &crc, 4);
}

RecordCheck DecodeRecordHeader(std::string_view bytes, RecordHeader* h) {
  if (bytes.size() < kRecordHeaderSize) return RecordCheck::kTruncated;
  const char* p = bytes.data();
  h->payload_size = DecodeFixed32(p);
  h->crc = DecodeFixed32(p + 4);
  h->offset = DecodeFixed64(p + 8);
  h->append_time_ms = static_cast<int64_t>(DecodeFixed64(p + 16));
  h->dedup_key = DecodeFixed64(p + 24);
  h->item_count = DecodeFixed32(p + 32);
  if (DecodeFixed32(p + 36) != 0 || h->payload_size > kMaxRecordPayload)
    return RecordCheck::kCorrupt;
  return RecordCheck::kOk;
}

bool RecordCrcMatches(const RecordHeader& h, std::string_view record) {
  if (record.size() != kRecordHeaderSize + h.payload_size) return false;
  return libdeflate_crc32(0, record.data() + 8, record.size() - 8) == h.crc;
}

}  // namespace vigil::log
