// Record and segment-header byte layout of LocalLog's segment files (docs/log_format.md).
//
//   segment header (32 bytes): "VIGILSEG" | u32 version=1 | u32 header size=32 |
//                              u64 base offset | i64 created ms
//   record header (40 bytes):  u32 payload length | u32 crc | u64 offset | i64 append ms |
//                              u64 dedup key | u32 item count | u32 reserved (0)
//   record payload:            `payload length` bytes
//
// The CRC-32 (gzip polynomial) covers the record header from `offset` on, plus the payload, so a
// torn or overwritten record, a wrong offset or a flipped bit is detected.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vigil::log {

inline constexpr char kSegmentMagic[8] = {'V', 'I', 'G', 'I', 'L', 'S', 'E', 'G'};
inline constexpr uint32_t kSegmentVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 32;
inline constexpr size_t kRecordHeaderSize = 40;
// A record payload larger than this is corrupt by definition (ingest caps batches far below it).
inline constexpr uint32_t kMaxRecordPayload = 64u << 20;

struct SegmentHeader {
  uint64_t base_offset = 0;
  int64_t created_ms = 0;
};

struct RecordHeader {
  uint32_t payload_size = 0;
  uint32_t crc = 0;
  uint64_t offset = 0;
  int64_t append_time_ms = 0;
  uint64_t dedup_key = 0;
  uint32_t item_count = 0;
};

void EncodeSegmentHeader(const SegmentHeader& h, std::string* out);
// False if `bytes` (at least kSegmentHeaderSize) is not a segment header of a known version.
bool DecodeSegmentHeader(std::string_view bytes, SegmentHeader* h);

// Appends header and payload; computes the CRC.
void EncodeRecord(uint64_t offset, int64_t append_time_ms, uint64_t dedup_key, uint32_t item_count,
                  std::string_view payload, std::string* out);

enum class RecordCheck { kOk, kTruncated, kCorrupt };
// Decodes the header at the start of `bytes` (>= kRecordHeaderSize bytes) without checking the CRC.
RecordCheck DecodeRecordHeader(std::string_view bytes, RecordHeader* h);
// Checks the CRC of a record whose header and payload are both in `record`.
bool RecordCrcMatches(const RecordHeader& h, std::string_view record);

}  // namespace vigil::log
