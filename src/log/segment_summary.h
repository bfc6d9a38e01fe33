// SegmentSummary: what recovery learns by reading a sealed segment, saved next to it when the
// segment is sealed (<base>.summary), so that a restart reads a few KiB per segment instead of
// every record header in the log.
//
// Without it, recovery read all retained segments: about 1 s per GB from a cold cache, so a
// week of a busy app's log meant minutes before the server could listen. A summary holds the
// segment's sparse index, its record and event counts and the dedup keys of its records; the
// keys section is read only when the segment is young enough to matter to the dedup window.
//
// A summary is a cache of the segment, never the truth: it is written without fsync (a crash
// leaves it missing or torn, and its CRCs then fail), it names the segment file size it
// describes, and any mismatch makes recovery read the segment as before (and write a new
// summary). Byte layout in docs/log_format.md.
//
// Threads: free functions, no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace vigil::log {

struct SegmentSummary {
  uint64_t base_offset = 0;
  int64_t created_ms = 0;
  uint64_t file_size = 0;      // of the segment file when summarized
  uint64_t bytes = 0;          // where its records end (file_size, or less after damage)
  uint64_t end_offset = 0;     // one past its last readable record
  uint64_t items = 0;          // sum of its records' item counts
  int64_t last_append_ms = 0;  // the newest append time among its records (0: none)
  // (offset, file position) of records at ~1 MiB steps, for seeking (Partition's sparse index).
  std::vector<std::pair<uint64_t, uint64_t>> index;
  struct Key {
    uint64_t key;
    uint64_t offset;
    int64_t time_ms;
  };
  // The non-zero dedup keys of its records, in offset order (empty if not read).
  std::vector<Key> keys;
};

// The keys section of a summary, built a key at a time as records are committed: kept encoded
// (about 11 bytes a key) because the active segment of every partition holds one.
class SummaryKeys {
 public:
  SummaryKeys(uint64_t base_offset, int64_t created_ms)
      : prev_offset_(base_offset), prev_time_ms_(created_ms) {}
  // Keys go in offset order.
  void Add(uint64_t key, uint64_t offset, int64_t time_ms);
  uint32_t count() const { return count_; }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
  uint32_t count_ = 0;
  uint64_t prev_offset_;
  int64_t prev_time_ms_;
};

// "<segment path without .seg>.summary".
std::string SummaryPath(const std::string& segment_path);

// `keys` stands for s.keys (which is then ignored); without it, s.keys is encoded.
std::string EncodeSegmentSummary(const SegmentSummary& s, const SummaryKeys& keys);
std::string EncodeSegmentSummary(const SegmentSummary& s);

// Decodes `bytes`, a whole summary file, or (with `with_keys` false) at least its head, the
// part before the keys. Corruption on any inconsistency: sizes that disagree, a CRC, counts
// that the segment's size cannot hold. Allocates no more than `bytes` justifies.
Status DecodeSegmentSummary(std::string_view bytes, bool with_keys, SegmentSummary* out);

// The most a summary of a segment retention deleted (kept for its dedup keys) may take.
inline constexpr uint64_t kMaxGoneSummaryBytes = uint64_t{1} << 30;

// Reads the summary at `path` if it describes the segment with base offset `base` whose file is
// now `file_size` bytes (nullopt: the segment is gone, the summary kept for its keys; any size
// it names is taken, and it may take up to kMaxGoneSummaryBytes). NotFound if there is none;
// Corruption if it is damaged or describes another state of the file. The keys are read only
// if the segment's newest record was appended at or after `keys_since_ms`; otherwise out->keys
// stays empty.
Status ReadSegmentSummary(const std::string& path, uint64_t base, std::optional<uint64_t> file_size,
                          int64_t keys_since_ms, SegmentSummary* out);

// Writes the summary `s` with `keys` to `path` through a temporary file renamed into place. Not
// durable (see above).
Status WriteSegmentSummary(const std::string& path, const SegmentSummary& s,
                           const SummaryKeys& keys);

}  // namespace vigil::log
